r"""Which term of the risk estimate makes a calibration bucket? (issue 16)

Runs the calibration probe (``calibration.py``: uniform random modes, the estimate predicting
each offload's P(miss)) and splits every in-range prediction into the outage-onset term and
the rest (capacity paths, RTT and server wait), per predicted-risk bucket, beside the observed
miss frequency; and measures the world's true uplink outage-onset rate per period (periods
with no capacity after one with some), which the onset term estimates.

    python experiments/calibration/decompose.py --preset highway_5g --seeds 300:340 --seconds 180

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

from romanus.vehicle.estimates import OUTAGE_MBPS
from romanus.vehicle.view import VehicleView, drive


def onset_rate(preset: str, seeds: range, seconds: float) -> float:
    on = before = 0
    for seed in seeds:
        sim, frames = simulator_for(preset, seed, seconds, None)
        period = sim.preset.period_ms / 1000.0
        edges = np.array([sim.world.uplink.integral(k * period) for k in range(frames + 1)])
        live = np.diff(edges) / period > OUTAGE_MBPS
        on += int(np.sum(live[:-1] & ~live[1:]))
        before += int(np.sum(live[:-1]))
    return on / before if before else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="highway_5g")
    ap.add_argument("--seeds", default="300:340")
    ap.add_argument("--seconds", type=float, default=180.0)
    args = ap.parse_args()
    a, b = (int(x) for x in args.seeds.split(":"))
    rows: list[tuple[float, float, bool]] = []
    for seed in range(a, b):
        sim, frames = simulator_for(args.preset, seed, args.seconds, None)
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
        rows += [(p, onset.get(f, np.nan), missed[f]) for f, p in probe.predicted.items()]
    r = np.array(rows, dtype=float)
    print("| bucket | frames | predicted | of which onset term | observed | observed / predicted |")
    print("| --- | --- | --- | --- | --- | --- |")
    for lo, hi in itertools.pairwise(EDGES):
        s = (r[:, 0] >= lo) & (r[:, 0] < hi)
        if s.any():
            p, po, mi = r[s, 0].mean(), np.nanmean(r[s, 1]), r[s, 2].mean()
            print(f"| {lo:.1%}-{hi:.1%} | {s.sum()} | {p:.2%} | {po:.2%} | {mi:.2%} | {mi / p:.2f} |")
    print(f"true uplink outage-onset rate per period: {onset_rate(args.preset, range(a, b), args.seconds):.3%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
