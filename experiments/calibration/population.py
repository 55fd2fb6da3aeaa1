r"""A population prior on the uplink capacity path, for drive worlds (issue 16): calibrated.

The risk estimate draws the coming uplink path from the window's own history: the periods that
followed a period whose rate was nearest now (``RiskEstimator._paths``). On the irish-5g drives
a 120 s history holds about 120 one-second capacity transitions of the 1 Hz log and rarely a
collapse, and below 1 % predicted the estimate is about 2x anti-conservative on the training
days' windows (docs/policies.md). With a capacity library (:mod:`romanus.vehicle.population`,
``romanus coverage paths``) the path samples are the window's own neighbours plus K paths of
other drive windows, chosen by the same nearest-rate rule and scaled the same way, K such that
the library weighs as ``PRIOR_S`` seconds of driving against the history's usable transitions
(K = own samples x prior periods / history transitions, at most 400); the default 30 s is the
weight of the estimate's outage-onset prior, not a fitted value. This script builds the library
from one suite and calibrates the estimate with and without it on another, on the same frames.

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

from romanus.scenario import load_suite
from romanus.vehicle.estimates import RiskEstimator
from romanus.vehicle.population import CapacityLibrary, build_library
from romanus.vehicle.view import drive


def runs(files: list[Path], library: CapacityLibrary | None, prior_s: float) -> list[Run]:
    """``calibration.probe`` on every window, with the population prior when ``library``."""
    out = []
    for i, f in enumerate(files):
        sim, frames = simulator_for("", i, 0.0, f)
        pol = Probe(sim, 0.002, 0.2, np.random.default_rng([i, 7]))
        if library is not None:
            pol.assess.estimator = RiskEstimator(
                sim.preset, sim.catalogue, population=library, population_weight_s=prior_s
            )
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
    library = build_library(lib_files)  # cut as the estimate draws its paths
    print(f"library: {len(library.rates)} transitions from {len(lib_files)} windows; {len(files)} windows calibrated")
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
