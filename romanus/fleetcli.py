"""``romanus fleet ...``: record, compare, train and benchmark fleets (N vehicles, one cell,
one edge server). Registered on the main parser by :func:`add_fleet_commands`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from romanus import cliargs

__all__ = ["add_fleet_commands", "cmd_fleet_bench", "compare_fleet_scenario"]


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--vehicles: {text!r} is not a comma-separated list of integers") from None
    if not sizes or any(n < 1 or n > 1024 for n in sizes):
        raise ValueError(f"--vehicles: {text!r}: every fleet size must be in 1..1024")
    return sizes


def _preset(args: argparse.Namespace) -> Any:
    from romanus.config import load_preset

    overrides: dict[str, Any] = {}
    if args.radio_accounting:
        overrides["radio"] = {"accounting": args.radio_accounting}
    return load_preset(args.env, overrides or None)


def _cell(args: argparse.Namespace) -> Any:
    from romanus.sim.fleet import CellConfig

    return CellConfig(scheduler=args.scheduler, pf_fading=args.pf_fading)


def _cmd_record(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from romanus.fleetscenario import record_fleet_scenario

    preset = _preset(args)
    with tqdm(total=args.vehicles, unit="vehicle", desc="recording", delay=2.0, file=sys.stderr) as bar:
        sc = record_fleet_scenario(preset, args.vehicles, args.seed, args.duration_s, progress=bar.update)
    path = sc.save(args.out)
    print(f"{path}: {preset.name}, {args.vehicles} vehicles, seed {args.seed}, {sc.frames} frames each")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from romanus.fleetcompare import compare_fleet, format_fleet_table, format_paired_table, paired_against
    from romanus.fleetscenario import FleetScenario

    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    if not policies:
        raise ValueError("--policies needs at least one policy")
    scenarios = None
    if args.scenario:
        sc = FleetScenario.load(args.scenario)
        preset, sizes, seeds = sc.preset, [len(sc)], [sc.seed]
        scenarios = {len(sc): [sc]}
        duration = sc.frames * preset.period_ms / 1000.0
    else:
        preset, sizes, seeds = _preset(args), _sizes(args.vehicles), list(cliargs.seed_range(args.seeds))
        duration = args.duration_s
    total = len(sizes) * len(policies) * (1 if scenarios else len(seeds))
    with tqdm(total=total, unit="run", desc="fleet compare", delay=2.0, disable=args.quiet, file=sys.stderr) as bar:
        result = compare_fleet(
            preset, sizes, policies, seeds, duration, cell=_cell(args), scenarios=scenarios, progress=bar.update
        )
    print(format_fleet_table(result))
    paired = paired_against(result, policies[0])
    if paired:
        print(f"\npaired with {policies[0]} on the same seeds (95 % CI):")
        print(format_paired_table(paired))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
        print(f"written to {args.json} (every run, with each vehicle's KPIs)")
    return 0


def compare_fleet_scenario(folder: str, policies: str, out: Path, *, quiet: bool = False) -> int:
    """``romanus compare --scenarios FLEET_DIR``: the fleet comparison of a recorded fleet, its
    runs (every vehicle's KPIs) written to ``OUT/fleet_results.json``."""
    from romanus.sim.fleet import PF_FADING, SCHEDULERS

    names = [p.strip() for p in policies.split(",") if p.strip()]
    if "oracle" in names:  # in the default set; its future depends on the other vehicles' decisions
        print("romanus: the hindsight oracle cannot run in a fleet: left out", file=sys.stderr)
        names.remove("oracle")
    args = argparse.Namespace(
        scenario=folder,
        policies=",".join(names),
        quiet=quiet,
        json=str(out / "fleet_results.json"),
        seeds=None,
        scheduler=SCHEDULERS[0],
        pf_fading=PF_FADING[0],
    )
    out.mkdir(parents=True, exist_ok=True)
    return _cmd_compare(args)


def _cmd_train(args: argparse.Namespace) -> int:
    from romanus.train.fleet import train_fleet

    options: dict[str, Any] = {"scheduler": args.scheduler, "pf_fading": args.pf_fading}
    if args.radio_accounting:
        options["overrides"] = {"radio": {"accounting": args.radio_accounting}}
    run = train_fleet(
        args.env,
        args.vehicles,
        timesteps=args.timesteps,
        seed=args.seed,
        algo=args.algo,
        out=args.out,
        episode_s=args.episode_s,
        env_options=options,
        progress=not args.quiet,
    )
    print(f"{run}: a shared policy for {args.vehicles} vehicles; use it as --policies {args.algo}:{run}")
    return 0


def cmd_fleet_bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from romanus.fleetbench import format_fleet_bench, run_fleet_bench

    decisions = 8_000 if args.quick else 40_000
    memory = 100_000 if args.quick else 1_000_000
    total = 2 * sum(max(20, decisions // n) * n for n in (1, 8, 64)) + memory
    with tqdm(total=total, unit="decision", desc="fleet bench", file=sys.stderr, unit_scale=True) as bar:
        report = run_fleet_bench(decisions=decisions, memory_decisions=memory, progress=bar.update)
    print(format_fleet_bench(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"  written to {args.json}")
    return 0


def add_fleet_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """``romanus fleet record|compare|train|bench``."""
    from romanus.sim.fleet import PF_FADING, SCHEDULERS  # numpy and simpy only (the CLI loads them anyway)

    cell = argparse.ArgumentParser(add_help=False)
    cell.add_argument("--env", default="default", help="the world's preset (default: %(default)s)")
    cell.add_argument("--scheduler", default=SCHEDULERS[0], choices=SCHEDULERS, help="the cell's uplink scheduler")
    cell.add_argument("--pf-fading", default=PF_FADING[0], choices=PF_FADING, help="PF's per-TTI fading (gain)")
    cell.add_argument(
        "--radio-accounting",
        choices=["owned", "connected"],
        help="override the preset's radio accounting (who pays promotion and tail)",
    )
    fleet = sub.add_parser(
        "fleet", parents=[common], help="many vehicles, one cell, one edge server: record, compare, train, bench"
    ).add_subparsers(dest="fleet_command", metavar="FLEET_COMMAND", required=True)

    p = fleet.add_parser("record", parents=[common, cell], help="record a fleet's exogenous inputs (a folder)")
    p.add_argument("--vehicles", type=cliargs.positive_int, required=True)
    p.add_argument("--seed", type=cliargs.non_negative_int, default=0)
    p.add_argument("--duration-s", type=cliargs.duration_s, default=60.0)
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=_cmd_record)

    p = fleet.add_parser(
        "compare", parents=[common, cell], help="policies x fleet sizes x seeds: fleet KPIs with 95 %% CIs"
    )
    p.add_argument("--vehicles", default="1,4,16", help="comma-separated fleet sizes (default: %(default)s)")
    p.add_argument("--seeds", default="0:5", metavar="A:B", help="seeds A..B-1 (default: %(default)s)")
    p.add_argument("--duration-s", type=cliargs.duration_s, default=30.0)
    p.add_argument("--scenario", metavar="DIR", help="a recorded fleet scenario instead of --vehicles and --seeds")
    p.add_argument(
        "--policies",
        default="local-robust,scene-aware-greedy,risk-budget-greedy",
        help="comma-separated policies or trained agents (ppo:RUN_DIR) (default: %(default)s)",
    )
    p.add_argument("--json", metavar="FILE", help="also write every run (with per-vehicle KPIs) as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_compare)

    p = fleet.add_parser("train", parents=[common, cell], help="PPO with one policy shared by every vehicle")
    p.add_argument("--vehicles", type=cliargs.positive_int, default=8)
    p.add_argument("--algo", default="ppo", choices=["ppo", "maskable_ppo"])
    p.add_argument("--timesteps", type=cliargs.timesteps, default=100_000, help="agent transitions")
    p.add_argument("--seed", type=cliargs.non_negative_int, default=0)
    p.add_argument("--episode-s", type=cliargs.duration_s, default=None)
    p.add_argument("--out", default="runs", metavar="DIR")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = fleet.add_parser("bench", parents=[common], help="vehicle-decisions/s at N = 1, 8, 64 and memory")
    p.add_argument("--quick", action="store_true", help="small sizes")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    p.set_defaults(func=cmd_fleet_bench)
