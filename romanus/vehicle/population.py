"""A population prior on the uplink capacity path: paths of other drives beside the window's own.

The risk estimate (:class:`romanus.vehicle.estimates.RiskEstimator`) draws the coming uplink
path from its own history: the periods that followed a period whose rate was nearest now. A
two-minute history of a drive logged at 1 Hz holds about 120 capacity transitions and rarely a
collapse, so below 1 % predicted the estimate leaned about 2x anti-conservative on the irish-5g
training days (docs/policies.md). A :class:`CapacityLibrary` is the population those histories
come from: the transitions of *other* drive windows (recorded scenarios of the training days,
whose within-period fading is the preset's), each a period's mean uplink rate and the slot rates
of the periods after it. Given one (``capacity_library`` in a preset), the estimate adds to its
own path samples the library's paths nearest in rate, scaled the same way, as many as make the
library weigh ``onset_prior_s`` of driving against the history's usable transitions (the weight
of the estimate's outage-onset prior; not fitted). The library remembers which drive each
transition came from, and an estimate on a drive never draws its own drive's paths (it would
read its own future): one library built from every training-day window serves all of them, and
the held-out days' drives are never in it. Calibrated on the 152 drive windows nobody tuned on
(the held-out day and 112 training-day windows, a library of the 168 training-day windows; no
window reads its own drive): the 0.5-1 % bucket 2.17 -> 1.83 observed / predicted (its interval
then holding 1), 0.2-0.5 % 2.93 -> 0.49, no change above 1 % (docs/policies.md). Off unless a
preset names a library; ``romanus reproduce --drives`` and ``experiments/place/study.py`` name
one of the training days.

Build one with ``romanus coverage paths SUITE... -o FILE`` (:func:`build_library`); it is an
``.npz`` file with the rates, the paths, the period and the slot resolution it was cut at.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from romanus.coverage import CapacityLibrary, load_library
from romanus.scenario import Scenario
from romanus.sim.simulator import Simulator
from romanus.vehicle.estimates import OUTAGE_MBPS, library_source, path_geometry

__all__ = ["CapacityLibrary", "build_library", "load_library"]


def build_library(
    files: Sequence[str | Path], *, slots: int | None = None, ahead: int | None = None
) -> CapacityLibrary:
    """The transitions with both links up before and after (an outage onset is the onset
    term's, not a path's) of recorded scenarios ``files`` (all of one period), each cut into
    ``slots`` slots per period and ``ahead`` periods of path (default: the estimate's,
    :func:`romanus.vehicle.estimates.path_geometry` of the first scenario's preset)."""
    if not files:
        raise ValueError("no scenarios to build a capacity library from")
    first = Scenario.load(files[0]).preset
    own_slots, own_ahead = path_geometry(first)
    n_slots = own_slots if slots is None else slots
    n_ahead = own_ahead if ahead is None else ahead
    period_ms = first.period_ms
    rates: list[np.ndarray] = []
    paths: list[np.ndarray] = []
    origins: list[np.ndarray] = []
    sources: list[str] = []
    for f in files:
        sc = Scenario.load(f)
        source = library_source(sc.preset) or Path(f).name
        if source not in sources:
            sources.append(source)
        if sc.preset.period_ms != period_ms:
            raise ValueError(f"{f}: period {sc.preset.period_ms} ms, the others' {period_ms} ms")
        sim = Simulator(sc.preset, sc.seed, world=sc.world())
        n, period_s = sc.frames, period_ms / 1000.0
        t = np.arange(n * n_slots + 1) * (period_s / n_slots)
        slot = np.diff([sim.uplink.integral(float(x)) for x in t]) / (period_s / n_slots)
        per = slot.reshape(n, n_slots).mean(axis=1)
        down = np.diff([sim.downlink.integral(float(x)) for x in t[::n_slots]]) / period_s
        live = (per > OUTAGE_MBPS) & (down > OUTAGE_MBPS)
        idx = np.flatnonzero(live[: n - 1 - n_ahead] & live[1 : n - n_ahead])
        if len(idx):
            rates.append(per[idx])
            paths.append(np.stack([slot[(i + 1) * n_slots : (i + 1 + n_ahead) * n_slots] for i in idx]))
            origins.append(np.full(len(idx), sources.index(source), dtype=np.int64))
    if not rates:
        raise ValueError("the scenarios hold no transition with both links up")
    r, p, o = np.concatenate(rates), np.concatenate(paths), np.concatenate(origins)
    order = np.argsort(r, kind="stable")
    return CapacityLibrary(r[order], p[order], period_ms, n_slots, tuple(sources), o[order])
