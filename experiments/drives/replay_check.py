"""Record the drives of a folder as scenarios and check that each replays its live run exactly.

For every scenario of a suite recorded by ``romanus scenario suite --drives``: the live world
built from the scenario's own preset (drive section, seed) and the replay of the file, under
each policy, must give frame logs equal column by column. Prints one line per scenario and the
env's steps/s on the suite with the ``vehicle`` and ``place`` observations.

    python experiments/drives/replay_check.py ../shared/traces/irish-5g --out /tmp/drive-suite \\
        [--window-s 120] [--policies offload-all random] [--coverage-map MAP]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from romanus.config import load_preset
from romanus.policies import policy_for
from romanus.scenario import Scenario, record_drive_suite
from romanus.sim.simulator import Simulator
from romanus.vehicle.view import drive


def live_preset(sc: Scenario, drives_dir: Path):  # type: ignore[no-untyped-def]
    d = sc.manifest["drive"]
    cfg = sc.preset.drive
    assert cfg is not None
    return load_preset(
        "default",
        {
            "drive": {"file": str(drives_dir / d["file"]), "start_s": d["start_s"], "uplink_model": cfg.uplink_model},
            "uplink": {"model": "drive", "outage": None},
            "downlink": {"model": "drive", "outage": None},
        },
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("drives", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--window-s", type=float)
    ap.add_argument("--policies", nargs="+", default=["offload-all", "random"])
    ap.add_argument("--coverage-map")
    ap.add_argument("--env-steps", type=int, default=20_000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    files = record_drive_suite(args.drives, args.out, window_s=args.window_s, split="all")
    rec_s = time.perf_counter() - t0
    paths = [p for part in ("train", "test") for p in files[part]]
    print(f"recorded {len(paths)} scenarios ({len(files['train'])} train, {len(files['test'])} test) in {rec_s:.1f} s")
    frames_total = 0
    for p in paths:
        sc = Scenario.load(p)
        preset = live_preset(sc, args.drives)
        ok = []
        for policy in args.policies:
            sim_live = Simulator(preset, sc.seed)
            live = drive(sim_live, policy_for(sim_live, policy), sc.frames).columns
            sim_rep = Simulator(sc.preset, sc.seed, world=sc.world())
            rep = drive(sim_rep, policy_for(sim_rep, policy), sc.frames).columns
            ok.append(live.keys() == rep.keys() and all(np.array_equal(live[k], rep[k]) for k in live))
        frames_total += sc.frames
        m = sc.manifest
        equal = dict(zip(args.policies, ok, strict=True))
        print(f"{p.name}: {m['split']} {m['drive']['day']} {sc.frames} frames, replay equal: {equal}")
        if not all(ok):
            raise SystemExit(f"{p}: replay differs from the live run")
    print(f"all {len(paths)} scenarios ({frames_total} frames) replay their live runs exactly")
    from romanus.env.core import RomanusEnv

    over = {"coverage_map": args.coverage_map} if args.coverage_map else None
    for obs in ("vehicle", "place"):
        env = RomanusEnv("default", scenario=args.out / "test", observation=obs, overrides=over)
        env.reset(seed=0)
        t = time.perf_counter()
        for _ in range(args.env_steps):
            _, _, term, trunc, _ = env.step(0)
            if term or trunc:
                env.reset()
        rate = args.env_steps / (time.perf_counter() - t)
        print(f"env, observation {obs} {env.observation_space.shape}: {rate:.0f} steps/s")


if __name__ == "__main__":
    main()
