r"""A population prior on the uplink capacity path, for drive worlds (issue 16): measured, not shipped.

The risk estimate draws the coming uplink path from the window's own history: the periods that
followed a period whose rate was nearest now (``RiskEstimator._paths``). On the irish-5g drives
a 120 s history holds about 120 one-second capacity transitions of the 1 Hz log and rarely a
collapse, and below 1 % predicted the estimate is about 2x anti-conservative on the training
days' windows (docs/policies.md). Here the path samples are the window's own neighbours plus K
paths from a *library* of other drive windows, chosen by the same nearest-rate rule and scaled
the same way, K such that the library weighs as ``PRIOR_S`` seconds of driving against the
history's usable transitions (K = own samples x prior periods / history transitions, at most
:data:`MAX_POPULATION`); the default 30 s is the weight of the estimate's outage-onset prior,
not a fitted value. The library keeps the transitions with both links up before and after (an
outage onset is the onset term's, not the path's). Everything else in the estimate is unchanged;
the downlink samples are repeated to the same count.

    python experiments/calibration/population.py LIBRARY_SUITE EVAL_SUITE [--prior-s 30 ...]

``LIBRARY_SUITE``: recorded drive windows the library is built from (never the evaluated
ones); ``EVAL_SUITE``: the windows calibrated, probed as ``calibration.py`` probes them (a
uniform random policy; the same frames for every variant, so Brier differences are paired).
Prints the calibration table and the Brier score of the estimate without and with the prior.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration import Probe, Run, brier, paired_brier, simulator_for, table

from romanus.scenario import Scenario, load_suite
from romanus.sim.simulator import Simulator
from romanus.vehicle.estimates import OUTAGE_MBPS, RiskEstimator
from romanus.vehicle.view import drive

#: the most library paths added to one assessment (early in a window the history is short)
MAX_POPULATION = 400

Library = tuple[np.ndarray, np.ndarray, np.ndarray]  # sorted log rates, rates, slot paths


def build_library(files: list[Path], ahead: int, slots: int, period_s: float) -> Library:
    """(sorted log period rates, those rates, the ``ahead`` periods of slot rates after each)
    of every transition with both links up before and after, over the windows ``files``."""
    prevs, paths = [], []
    for f in files:
        sc = Scenario.load(f)
        sim = Simulator(sc.preset, sc.seed, world=sc.world())
        n, dt = sc.frames, period_s / slots
        t = np.arange(n * slots + 1) * dt
        slot = np.diff([sim.uplink.integral(float(x)) for x in t]) / dt
        per = slot.reshape(n, slots).mean(axis=1)
        down = np.diff([sim.downlink.integral(float(x)) for x in t[::slots]]) / period_s
        live = (per > OUTAGE_MBPS) & (down > OUTAGE_MBPS)
        for i in range(n - 1 - ahead):
            if live[i] and live[i + 1]:
                prevs.append(per[i])
                paths.append(slot[(i + 1) * slots : (i + 1 + ahead) * slots])
    rates = np.array(prevs)
    order = np.argsort(rates, kind="stable")
    return np.log(rates[order]), rates[order], np.array(paths)[order]


class PopulationEstimator(RiskEstimator):
    """:class:`RiskEstimator` whose uplink path samples add the library's nearest paths."""

    library: Library | None = None
    prior_periods = 300.0
    _extra = 0

    def _paths(self, now: float, r: np.ndarray, stay: np.ndarray, snr: np.ndarray | None = None) -> np.ndarray:
        own = super()._paths(now, r, stay, snr)
        self._extra = 0
        if self.library is None or len(own) == 0:
            return own
        log_rate, rate, paths = self.library
        k = min(MAX_POPULATION, round(len(own) * self.prior_periods / max(int(stay.sum()), 1)))
        if k == 0:
            return own
        j = int(np.searchsorted(log_rate, np.log(now)))
        cand = np.arange(max(0, j - k), min(len(log_rate), j + k))
        near = cand[np.argsort(np.abs(log_rate[cand] - np.log(now)), kind="stable")[:k]]
        p = paths[near] * (now / rate[near])[:, None]
        cum = np.zeros((len(near), p.shape[1] + 1))
        np.cumsum(p * (self._slot_ms / 1000.0), axis=1, out=cum[:, 1:])
        self._extra = len(near)
        return np.concatenate([own, cum])

    def _predict(self, r: np.ndarray, now: float, stay: np.ndarray, snr: np.ndarray | None = None) -> np.ndarray:
        out = super()._predict(r, now, stay, snr)  # the downlink: the window's own, repeated
        return np.resize(out, len(out) + self._extra) if self._extra and len(out) else out


def runs(files: list[Path], library: Library | None, prior_s: float) -> list[Run]:
    """``calibration.probe`` on every window, with the population prior when ``library``."""
    out = []
    for i, f in enumerate(files):
        sim, frames = simulator_for("", i, 0.0, f)
        pol = Probe(sim, 0.002, 0.2, np.random.default_rng([i, 7]))
        if library is not None:
            est = PopulationEstimator(sim.preset, sim.catalogue)
            est.library, est.prior_periods = library, prior_s / est.period_s
            pol.assess.estimator = est
        log = drive(sim, pol, frames)
        missed = {int(f): not bool(m) for f, m in zip(log["frame"], log["deadline_met"], strict=True)}
        sel, every = sorted(pol.predicted), sorted(pol.offloaded)
        out.append(
            Run(
                np.array([pol.predicted[f] for f in sel]),
                np.array([missed[f] for f in sel], dtype=bool),
                np.array([pol.offloaded[f] for f in every]),
                np.array([missed[f] for f in every], dtype=bool),
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("library", type=Path, help="recorded drive windows the library is built from")
    ap.add_argument("suite", type=Path, help="the drive windows calibrated (none of the library's)")
    ap.add_argument("--prior-s", type=float, nargs="+", default=[30.0], help="the library's weight, s of driving")
    args = ap.parse_args(argv)
    lib_files, files = load_suite(args.library), load_suite(args.suite)
    if {f.name for f in lib_files} & {f.name for f in files}:
        raise SystemExit("the library and the calibrated suite share windows")
    sim, _ = simulator_for("", 0, 0.0, files[0])
    est = RiskEstimator(sim.preset, sim.catalogue)
    library = build_library(lib_files, est._ahead, est._slots, est.period_s)
    print(f"library: {len(library[0])} transitions from {len(lib_files)} windows; {len(files)} windows calibrated")
    base = runs(files, None, 0.0)
    variants: dict[str, list[Run]] = {"without": base}
    variants.update({f"prior {p:g} s": runs(files, library, p) for p in args.prior_s})
    for name, rs in variants.items():
        rows: list[dict[str, Any]] = table(rs, np.random.default_rng(0))
        score, ci = brier(rs, np.random.default_rng(0))
        print(f"{name}: Brier {score:.5f} [{ci[0]:.5f}, {ci[1]:.5f}]")
        for r in rows:
            lo, hi = r["ratio_ci"]
            print(f"  {r['bucket']}: observed/predicted {r['ratio']:.2f} [{lo:.2f}, {hi:.2f}] ({r['frames']} frames)")
        if rs is not base:
            d = paired_brier(base, rs, np.random.default_rng(0))
            print(f"  Brier minus without (paired): {d['difference']:+.6f} [{d['ci'][0]:+.6f}, {d['ci'][1]:+.6f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
