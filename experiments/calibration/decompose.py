r"""Which term of the risk estimate makes a calibration bucket? (issue 16)

Runs the calibration probe (``calibration.py``: uniform random modes, the estimate predicting
each offload's P(miss)) and splits every in-range prediction into the outage-onset term and
the rest (capacity paths, RTT and server wait), per predicted-risk bucket, beside the observed
miss frequency; and measures the world's true uplink outage-onset rate per period (periods
with no capacity after one with some), which the onset term estimates.

    python experiments/calibration/decompose.py --preset highway_5g --seeds 300:340 --seconds 180
    python experiments/calibration/decompose.py --suite drives/train   # a drive suite's windows

Each missed frame in range is also checked for a hole in flight: a 10 ms slot without uplink
capacity between its capture and its deadline.

Use tuning seeds (300-339): the held-out ones (700-739) are for reporting.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration import EDGES, Probe, simulator_for

from romanus.scenario import load_suite
from romanus.sim.simulator import Simulator
from romanus.vehicle.estimates import OUTAGE_MBPS
from romanus.vehicle.view import VehicleView, drive


def onset_rate(tasks: list[tuple[str, int, Path | None]], seconds: float) -> float:
    on = before = 0
    for preset, seed, scenario in tasks:
        sim, frames = simulator_for(preset, seed, seconds, scenario)
        period = sim.preset.period_ms / 1000.0
        edges = np.array([sim.world.uplink.integral(k * period) for k in range(frames + 1)])
        live = np.diff(edges) / period > OUTAGE_MBPS
        on += int(np.sum(live[:-1] & ~live[1:]))
        before += int(np.sum(live[:-1]))
    return on / before if before else 0.0


def hole_in_flight(sim: Simulator, t0: float, deadline_ms: float, slot_s: float = 0.01) -> bool:
    """Whether the uplink had a 10 ms slot without capacity between capture and deadline."""
    k = max(1, round(deadline_ms / 1000.0 / slot_s))
    edges = np.array([sim.world.uplink.integral(t0 + i * slot_s) for i in range(k + 1)])
    return bool(np.any(np.diff(edges) / slot_s <= OUTAGE_MBPS))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="highway_5g")
    ap.add_argument("--seeds", default="300:340")
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--suite", type=Path, help="a scenario suite folder instead of a preset's seeds")
    args = ap.parse_args()
    a, b = (int(x) for x in args.seeds.split(":"))
    tasks: list[tuple[str, int, Path | None]] = (
        [("", i, f) for i, f in enumerate(load_suite(args.suite))]
        if args.suite
        else [(args.preset, seed, None) for seed in range(a, b)]
    )
    rows: list[tuple[float, float, bool, bool]] = []
    for preset, seed, scenario in tasks:
        sim, frames = simulator_for(preset, seed, args.seconds, scenario)
        probe = Probe(sim, EDGES[0], EDGES[-1], np.random.default_rng([seed, 7]))
        est = probe.assess.estimator
        onset: dict[int, float] = {}
        act = probe.act

        def decide(view: VehicleView, act=act, onset=onset, est=est, probe=probe) -> int:  # type: ignore[no-untyped-def]
            m = act(view)
            if view.frame in probe.predicted and est._last is not None:
                onset[view.frame] = float(est._last.p_outage)
            return m

        probe.act = decide  # type: ignore[method-assign]
        log = drive(sim, probe, frames)
        missed = {int(f): not bool(x) for f, x in zip(log["frame"], log["deadline_met"], strict=True)}
        capture = dict(zip(log["frame"].tolist(), log["capture_s"].tolist(), strict=True))
        deadline = dict(zip(log["frame"].tolist(), log["deadline_ms"].tolist(), strict=True))
        for f, p in probe.predicted.items():
            hole = missed[f] and hole_in_flight(sim, capture[f], deadline[f])
            rows.append((p, onset.get(f, np.nan), missed[f], hole))
    r = np.array(rows, dtype=float)
    print("| bucket | frames | predicted | onset term | observed | observed / predicted | misses, hole in flight |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for lo, hi in itertools.pairwise(EDGES):
        s = (r[:, 0] >= lo) & (r[:, 0] < hi)
        if s.any():
            p, po, mi = r[s, 0].mean(), np.nanmean(r[s, 1]), r[s, 2].mean()
            holes = f"{int(r[s, 3].sum())} of {int(r[s, 2].sum())}"
            print(f"| {lo:.1%}-{hi:.1%} | {s.sum()} | {p:.2%} | {po:.2%} | {mi:.2%} | {mi / p:.2f} | {holes} |")
    print(f"true uplink outage-onset rate per period: {onset_rate(tasks, args.seconds):.3%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
