r"""The study's learner recipe trained where it is evaluated: on the irish-5g training days.

The study (`romanus reproduce`) trains its agents on the synthetic `DefaultShielded` world and
evaluates them, among other suites, on the held-out drive day, where they are behind the
hedged heuristic (which is calibrated on the drives' training days). This script trains the
same recipe (MaskablePPO, the ``risk`` observation, the 0.2 % shield, the shipped
hyper-parameters) on every 120 s window of the training days' drives (the world of the
study's drive suite: modem connected, deadlines from speed), one seed per process run, and
compares the seeds with ``local-robust``, the hedged greedy and the oracle on the held-out day
(2020-02-14, the latest). Nothing is tuned on the held-out day.

    python experiments/learner/drives.py --out runs/drive-learner --seeds 0:2 --steps 100000

Writes ``OUT/summary.md`` (``romanus compare``'s table) and ``OUT/learners/sN/`` (policies for
``romanus compare``: ``maskable_ppo:OUT/learners/sN``). Resumable: a trained seed is skipped.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

from romanus.compare import compare
from romanus.fileio import atomic_write_bytes
from romanus.scenario import load_suite, record_drive_suite
from romanus.study import DRIVE_WORLD
from romanus.train.suite import train_on_suite

log = logging.getLogger("drive-learner")

#: the study's drive world: modem connected, deadlines from speed
WORLD = {"extends": "default", "name": "StudyDrives", **DRIVE_WORLD}
#: the study's learner recipe on that world (envs/default_shielded.yaml's decision stack)
LEARNER = {
    "extends": "world.yaml",
    "name": "DriveShielded",
    "env": {"observation": "risk", "shield": {"risk_budget": 0.002}},
}
ALGO = "maskable_ppo"
REFERENCES = ("local-robust", "risk-budget-greedy+fallback@0.0005", "risk-budget-greedy+fallback@0.002", "oracle")


def _write(path: Path, doc: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, yaml.safe_dump(doc, sort_keys=False).encode())
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--drives", default="../shared/traces/irish-5g")
    ap.add_argument("--seeds", default="0:2", help="learner seeds A:B (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=100_000, help="steps per seed (default: %(default)s)")
    ap.add_argument("--window-s", type=float, default=120.0)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out: Path = args.out.resolve()
    world = _write(out / "presets" / "world.yaml", WORLD)
    preset = _write(out / "presets" / "learner.yaml", LEARNER)
    suites = out / "suites"
    if not (suites / "test" / "suite.json").is_file():
        log.info("recording the drive windows (training days and the held-out day)")
        record_drive_suite(args.drives, suites, env=str(world), window_s=args.window_s, split="all")
    train = load_suite(suites / "train")
    test = load_suite(suites / "test")
    a, b = (int(x) for x in args.seeds.split(":"))
    agents = []
    for seed in range(a, b):
        run = out / "learners" / f"s{seed}"
        info = train_on_suite(preset, train, run, seed=seed, timesteps=args.steps, algo=ALGO, progress=True)
        log.info("seed %d: %.0f s, %.0f steps/s", seed, info["wall_s"], info["steps_per_s"])
        agents.append(f"{ALGO}:{run}")
    log.info("comparing on the held-out day (%d windows)", len(test))
    compare(test, [*REFERENCES, *agents], out / "compare", workers=args.workers)
    summary = (out / "compare" / "summary.md").read_text()
    atomic_write_bytes(out / "summary.md", summary.encode())
    atomic_write_bytes(out / "learners.json", json.dumps(agents).encode())
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
