"""The ``romanus`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from romanus import __version__

log = logging.getLogger("romanus")

_KPI_ROWS: tuple[tuple[str, str, str], ...] = (
    ("energy_per_frame_mj", "energy per frame", "mJ"),
    ("compute_energy_per_frame_mj", "  compute", "mJ"),
    ("radio_energy_per_frame_mj", "  radio", "mJ"),
    ("idle_energy_per_frame_mj", "  idle", "mJ"),
    ("risky_rate", "risky-frame rate", ""),
    ("deadline_miss_rate", "deadline-miss rate", ""),
    ("latency_p50_ms", "latency p50", "ms"),
    ("latency_p95_ms", "latency p95", "ms"),
    ("latency_p99_ms", "latency p99", "ms"),
    ("longest_miss_streak", "longest miss streak", "frames"),
    ("offload_fraction", "offload fraction", ""),
    ("uplink_kbytes_per_frame", "uplink per frame", "kB"),
    ("aoi_mean_ms", "age of information, mean", "ms"),
    ("aoi_peak_ms", "age of information, peak", "ms"),
)


def _fail(message: str) -> int:
    print(f"romanus: error: {message}", file=sys.stderr)
    return 2


def _cmd_simulate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from romanus.config import load_preset
    from romanus.policies import make_policy
    from romanus.sim.records import kpis, write_frames_csv
    from romanus.sim.simulator import Simulator

    preset = load_preset(args.env)
    sim = Simulator(preset, seed=args.seed)
    policy = make_policy(args.policy, sim.catalogue, sim.seeds.generator("policy"))
    with tqdm(total=args.frames, unit="frame", delay=2.0, disable=args.quiet, file=sys.stderr) as bar:
        frames_log = sim.run(policy, args.frames, progress=bar.update)
    result = kpis(frames_log)
    if args.frames_csv:
        write_frames_csv(frames_log, args.frames_csv, sim.catalogue.modes, sim.catalogue.scenes)
    meta = {"env": preset.name, "policy": policy.name, "seed": args.seed, "frames": args.frames}
    if args.json:
        print(json.dumps({**meta, **{k: v for k, v in result.items() if k != "frames"}}, sort_keys=False))
        return 0
    seconds = args.frames * preset.period_ms / 1000
    print(f"{preset.name}: {policy.name}, {args.frames} frames ({seconds:.1f} s), seed {args.seed}")
    for key, label, unit in _KPI_ROWS:
        value = result[key]
        text = f"{value:.0f}" if unit == "frames" else (f"{value:.4f}" if not unit else f"{value:.2f}")
        print(f"  {label:<28} {text:>12} {unit}")
    if args.frames_csv:
        print(f"  frames written to {args.frames_csv}")
    return 0


def _cmd_modes(args: argparse.Namespace) -> int:
    from romanus.config import load_preset
    from romanus.sim.simulator import build_catalogue

    preset = load_preset(args.env)
    cat = build_catalogue(preset)
    mask = cat.mask(preset.server.enabled)
    if args.json:
        rows = [
            {
                "index": m.index,
                "name": m.name,
                "tier": m.tier,
                "placement": dict(m.placement),
                "available": bool(mask[m.index]),
                "vehicle_ms": m.vehicle_ms,
                "uplink_bytes": m.uplink_bytes,
                "server_ms": m.server_ms,
                "robustness": dict(zip(cat.scenes, m.robustness, strict=True)),
            }
            for m in cat.modes
        ]
        print(json.dumps(rows))
        return 0
    print(f"{preset.name}: {len(cat)} operating modes, {int(mask.sum())} available")
    print(f"  {'#':>3} {'mode':<48} {'vehicle ms':>10} {'uplink B':>9} {'server ms':>9}  note")
    for m in cat.modes:
        note = "" if mask[m.index] else "masked: no edge server"
        print(f"  {m.index:>3} {m.name:<48} {m.vehicle_ms:>10.2f} {m.uplink_bytes:>9} {m.server_ms:>9.2f}  {note}")
    for where, why in cat.rejected:
        print(f"  not a candidate: {where}: {why}")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    from romanus.config import list_presets, load_preset

    for name in list_presets():
        print(f"{name:<20} {load_preset(name).description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="romanus",
        description="Simulate, learn and compare task offloading for multi-sensor autonomous driving.",
    )
    parser.add_argument("--version", action="version", version=f"romanus {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("simulate", help="run a fixed policy on a preset and print its KPIs")
    p.add_argument("--env", default="default", help="preset name or YAML path (default: %(default)s)")
    p.add_argument("--policy", default="local-robust", help="fixed policy (see 'romanus modes'); default: %(default)s")
    p.add_argument("--frames", type=int, default=6000, help="perception cycles to simulate (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="root seed of every random stream (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the KPIs as one JSON object")
    p.add_argument("--frames-csv", metavar="PATH", help="also write one row per frame to this CSV")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("modes", help="list the operating-mode catalogue of a preset")
    p.add_argument("--env", default="default", help="preset name or YAML path (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    p.set_defaults(func=_cmd_modes)

    p = sub.add_parser("presets", help="list the shipped presets")
    p.set_defaults(func=_cmd_presets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "frames", 1) is not None and getattr(args, "frames", 1) < 1:
        return _fail("--frames must be at least 1")
    from romanus.config import ConfigError

    try:
        return int(args.func(args))
    except ConfigError as exc:
        return _fail(str(exc))
    except ValueError as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 0
    except OSError as exc:
        return _fail(f"{exc.filename or ''}: {exc.strerror or exc}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
