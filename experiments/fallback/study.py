"""Hedged offloading (issue 15): the just-in-time local fallback and per-frame deadlines.

Four worlds share one set of exogenous inputs (common random numbers: the same seeds give the
same scenes, links, RTTs and server load in each): the default preset with the radio owned by
offloading (promotion and tail charged to it) or kept connected by other traffic (marginal
transfer energy only), each with the fixed 100 ms deadline or per-scene deadlines
(``deadlines.model: scene``). In each world:

1. **Calibrate on training seeds** (``--train-seeds``): every setting of the two estimate-driven
   heuristic families (``risk-budget-greedy@B``, ``scene-aware-greedy@P``), with and without
   the fallback; per family and variant, keep the least-energy setting whose pooled risky rate
   is within 0.05 points of ``local-robust``'s (else the least risky one).
2. **Report on held-out seeds** (``--test-seeds``): ``local-robust``, ``offload-all``,
   ``offload-all+fallback``, the kept settings and the oracle; energy and risky frames with 95 %
   intervals over scenarios; the saving against ``local-robust`` and the regret share
   (E - E_oracle) / (E_local-robust - E_oracle), both paired over scenarios (BCa bootstrap).
3. **Ablation**: the best hedged and the best unhedged policy of each world, so the four
   worlds separate what the fallback buys from what the per-scene deadlines buy.

Run (about 10 minutes on 2 cores)::

    python experiments/fallback/study.py --out runs/fallback-study --workers 2

It writes ``summary.md`` (the tables) and ``study.json`` (every number) into ``--out``, and
each world's comparison folders (``<world>/train``, ``<world>/test``: ``romanus compare``
outputs).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

from romanus.compare import CompareResult, compare
from romanus.fileio import atomic_write_bytes
from romanus.scenario import record_suite
from romanus.study import calibrate, candidates, cell, mean_energy, policy_rows, pooled_risky

log = logging.getLogger("fallback-study")

WORLDS: dict[str, dict[str, Any]] = {
    "owned-fixed": {},
    "owned-scene": {"deadlines": {"model": "scene"}},
    "connected-fixed": {"radio": {"accounting": "connected"}},
    "connected-scene": {"radio": {"accounting": "connected"}, "deadlines": {"model": "scene"}},
}
FAMILIES: dict[str, tuple[float, ...]] = {
    "risk-budget-greedy": (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05),
    "scene-aware-greedy": (0.0, 0.1, 0.25, 0.5),
}
FIXED = ("local-robust", "offload-all", "offload-all+fallback", "oracle")
#: risky frames allowed above local-robust's, as a rate (0.05 percentage points)


def _seeds(text: str) -> list[int]:
    a, _, b = text.partition(":")
    return list(range(int(a), int(b)))


def _preset_file(folder: Path, world: str) -> Path:
    name = "FallbackStudy" + "".join(part.capitalize() for part in world.split("-"))
    doc = {"extends": "default", "name": name, **WORLDS[world]}
    path = folder / f"{world}.yaml"
    atomic_write_bytes(path, yaml.safe_dump(doc, sort_keys=False).encode())
    return path


def _candidates() -> list[str]:
    return candidates(FAMILIES)


def report(result: CompareResult) -> dict[str, dict[str, Any]]:
    """Per policy: energy, risky rate, saving vs local-robust and regret share, with 95 % intervals."""
    return policy_rows(result, result.policies)


def markdown(world: str, kept: dict[str, str], rows: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"### {world}",
        "",
        "kept on the training seeds: " + ", ".join(f"`{v}`" for v in kept.values()),
        "",
        "| policy | energy/frame (mJ) | risky (%) | fell back (%) | saving vs local-robust (%) | regret share |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for p, r in rows.items():
        lines.append(
            f"| `{p}` | {cell(r['energy_mj'])} | {cell(r['risky_pct'], 2)} | {cell(r['fallback_pct'])} | "
            f"{cell(r['saving_pct'])} | {cell(r['regret_share'], 2)} |"
        )
    return "\n".join(lines) + "\n"


def frontier_markdown(rows: dict[str, dict[str, Any]], names: list[str]) -> str:
    """The held-out frontier of ``risk-budget-greedy@B``, without and with the fallback."""
    lines = [
        "",
        "held-out frontier (every budget B; not selected on these seeds):",
        "",
        "| B | energy/frame (mJ) | risky (%) | regret share | with fallback: energy/frame (mJ) | risky (%) "
        "| regret share | fell back (%) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for b in FAMILIES["risk-budget-greedy"]:
        plain, hedged = rows[f"risk-budget-greedy@{b:g}"], rows[f"risk-budget-greedy+fallback@{b:g}"]
        lines.append(
            f"| {b:g} | {cell(plain['energy_mj'])} | {cell(plain['risky_pct'], 2)} | "
            f"{cell(plain['regret_share'], 2)} | {cell(hedged['energy_mj'])} | {cell(hedged['risky_pct'], 2)} | "
            f"{cell(hedged['regret_share'], 2)} | {cell(hedged['fallback_pct'])} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--train-seeds", default="1000:1005", help="calibration seeds A:B (default: %(default)s)")
    ap.add_argument("--test-seeds", default="2000:2010", help="held-out seeds A:B (default: %(default)s)")
    ap.add_argument("--duration-s", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--worlds", default=",".join(WORLDS))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    study: dict[str, Any] = {"train_seeds": args.train_seeds, "test_seeds": args.test_seeds, "worlds": {}}
    text = ["# Hedged offloading: fallback and per-frame deadlines", ""]
    for world in args.worlds.split(","):
        preset = _preset_file(out, world)
        log.info("%s: recording", world)
        train = record_suite(str(preset), _seeds(args.train_seeds), args.duration_s, out / world / "train-scenarios")
        test = record_suite(str(preset), _seeds(args.test_seeds), args.duration_s, out / world / "test-scenarios")
        log.info("%s: calibrating on %d scenarios", world, len(train))
        cal = compare(train, ["local-robust", *_candidates()], None, workers=args.workers)
        kept = calibrate(cal, tuple(FAMILIES))
        log.info("%s: kept %s; testing on %d scenarios", world, kept, len(test))
        policies = [*FIXED[:3], *kept.values(), "oracle"]
        frontier = [p for p in _candidates() if p.startswith("risk-budget-greedy")]
        res = compare(test, list(dict.fromkeys(policies + frontier)), out / world / "test", workers=args.workers)
        rows = report(res)
        study["worlds"][world] = {
            "kept": kept,
            "train": {p: {"energy_mj": mean_energy(cal, p), "risky": pooled_risky(cal, p)} for p in cal.policies},
            "test": rows,
        }
        text.append(markdown(world, kept, {p: rows[p] for p in dict.fromkeys(policies)}))
        text.append(frontier_markdown(rows, frontier))
    atomic_write_bytes(out / "study.json", json.dumps(study, indent=1).encode())
    atomic_write_bytes(out / "summary.md", "\n".join(text).encode())
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
