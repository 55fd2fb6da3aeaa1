"""How many steps after its decision each frame is credited (docs/env.md, ``env.reward.credit_gamma``).

A policy drives every ``--every``-th scenario of a suite in the learner's env; for each frame that
resolves, the delay is the decided frame of the step that credits it minus its own frame. Prints,
per kind of frame (local, offloaded without falling back, fallen back), the count, the mean delay, the
histogram and E[gamma^delay]: how much cheaper a learner with discount gamma reads that kind.

    PYTHONPATH=. python experiments/learner/credit_delays.py \\
        --preset OUT/presets/learner-risk_place+shield@0.0005.yaml --suite OUT/suites/val/train --every 10

(OUT: a place study's folder, experiments/place.) Measured 2026-12-03 on the training-day windows
(every tenth of 115, the hedged greedy): fallen back 166 frames, mean 1.64 steps, E[0.9^k] 0.843;
offloaded 11,477, 0.33, 0.967; local 2,752, 0.03, 0.997.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from romanus.env.core import RomanusEnv
from romanus.policies import policy_for
from romanus.scenario import load_suite


def delays(preset: Path, scenarios: list[Path], policy_name: str) -> dict[str, np.ndarray]:
    """Per kind of frame, the steps between its decision and the step that credits it."""
    out: dict[str, list[int]] = defaultdict(list)
    env = RomanusEnv(str(preset), scenario=[str(p) for p in scenarios])
    for i in range(len(scenarios)):
        env.reset(options={"scenario": i})
        sim = env.sim
        assert sim is not None
        policy = policy_for(sim, policy_name)
        policy.reset()
        step = sim.step
        resolved: list[Any] = []

        def counted(action: int, step: Any = step, resolved: list[Any] = resolved) -> Any:
            got = step(action)  # what the env credits in this step (the last one's drain aside)
            resolved.extend(got)
            return got

        sim.step = counted  # type: ignore[method-assign]
        truncated = False
        while not truncated:
            decided = env.view.frame
            resolved.clear()
            _, _, _, truncated, _ = env.step(policy.act(env.view))
            for r in resolved:
                kind = "fell back" if r.fell_back else ("offloaded" if r.offloaded else "local")
                out[kind].append(decided - r.frame)
    env.close()
    return {k: np.asarray(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", type=Path, required=True, help="the learner's preset")
    ap.add_argument("--suite", type=Path, required=True, help="a recorded suite folder")
    ap.add_argument("--policy", default="risk-budget-greedy+fallback@0.0005")
    ap.add_argument("--every", type=int, default=10, help="every k-th scenario (default: %(default)s)")
    ap.add_argument("--gamma", type=float, default=0.9, help="the learner's discount (default: %(default)s)")
    args = ap.parse_args(argv)
    files = load_suite(args.suite)[:: args.every]
    for kind, d in sorted(delays(args.preset, files, args.policy).items()):
        hist = np.bincount(d).tolist()
        read = float(np.mean(args.gamma**d))
        print(f"{kind}: {len(d)} frames, mean delay {d.mean():.2f} steps, {hist}, E[gamma^k] {read:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
