"""What a coverage map says about the frame being decided: the map-aware heuristic's input.

A coverage map (:mod:`romanus.coverage`, learned from *training* drives) describes each
100 m cell by the seconds of data behind it, the derived uplink's p10/p50/p90, the share of
time in outage (below the map's ``outage_mbps``) and the handover rate. For a frame captured
now, :class:`MapHazard` reads the cells the vehicle occupies over the next
:data:`LOOKAHEAD_S` (the current cell and the cell that far ahead along the route at the
current speed, :meth:`romanus.sim.place.Place.lookahead`) and gives, per offloading mode:

- ``p_short``: the map's probability that the capacity cannot carry the mode's payload in
  time, i.e. that the uplink is below :func:`needed_uplink_mbps` (the payload over
  :data:`UPLINK_SHARE` of the frame's deadline; :func:`shortfall_probability` reads it off the
  cell's quantiles), combined with the probability of a handover interruption while the frame
  is in flight (the cell's handover rate over the deadline), the worst of the cells;
- ``p_worse``: how much larger that probability is in the cell ahead than in the current cell
  (0 where either is unseen). The map's probability is unconditional, the vehicle's own
  estimate is conditioned on what it measures now; adding the map's level to it double counts
  (on validation windows that blocked nearly every unhedged offload), its change ahead does not;
- ``safe``: every one of those cells is well seen (:data:`MIN_SECONDS` of data from
  :data:`MIN_DRIVES` drives) and ``p_short`` is at most :data:`SAFE_P`: the evidence against
  a sudden shortfall that the vehicle's own estimate can only assume a prior for (its
  outage-onset prior keeps an unhedged offload's miss probability above ~0.004). The map's
  outage share is not used for this: below its 1 Mbit/s threshold the median irish-5g cell
  spends 18 % of its time, so it does not single out holes.

Nothing here uses the future: the map is from other days, the route is the planned path and
the speed is the speedometer's (as the ``place`` observation). The definition of "a period
whose capacity cannot carry the payload in time" is shared with the AUROC experiment
(``experiments/coverage/auroc.py``), so the heuristic and the prediction study ask the same
question. The constants are ``[assumed]``; docs/policies.md, "map-aware-greedy".
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from romanus.config import Preset
from romanus.coverage import CellStats, CoverageMap, load_coverage
from romanus.pipeline.modes import ModeCatalogue
from romanus.sim.costs import EnergyModel, ModeCosts
from romanus.vehicle.view import VehicleView

__all__ = [
    "LOOKAHEAD_S",
    "MIN_DRIVES",
    "MIN_SECONDS",
    "SAFE_P",
    "UPLINK_SHARE",
    "MapHazard",
    "MapRisk",
    "needed_uplink_mbps",
    "shortfall_probability",
]

#: [assumed] share of a frame's deadline its payload may spend on the uplink (the rest: the
#: vehicle's prefix, the RTT of ~30 ms, the server's time, the result's downlink, fusion)
UPLINK_SHARE = 0.5
#: the cells the vehicle occupies while a frame is in flight and just after: now and this far ahead
LOOKAHEAD_S = 1.0
#: [assumed] a cell is trusted as safe only with this much data behind it ...
MIN_SECONDS = 10.0
#: ... from at least this many drives (one drive's pass is one draw of the weather, load, ...)
MIN_DRIVES = 2
#: [assumed] a cell vouches for an offload whose shortfall probability there is at most this
#: (the cell's p10 carries the payload in time, and a handover in flight is unlikely)
SAFE_P = 0.1


def needed_uplink_mbps(payload_mbit: np.ndarray | float, deadline_ms: float) -> np.ndarray:
    """The uplink capacity (Mbit/s) that carries ``payload_mbit`` in :data:`UPLINK_SHARE` of the
    deadline (inf for a deadline of 0)."""
    budget_s = max(deadline_ms, 0.0) / 1000.0 * UPLINK_SHARE
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(budget_s > 0, np.asarray(payload_mbit, dtype=float) / budget_s, np.inf)


def shortfall_probability(cell: CellStats, outage_mbps: float, rate_mbps: np.ndarray) -> np.ndarray:
    """P(the cell's uplink < ``rate_mbps``), piecewise linear through what the cell keeps:
    (0, 0), (``outage_mbps``, outage share), (p10, 0.1), (p50, 0.5), (p90, 0.9), and 1 at twice
    the p90 (a cumulative maximum keeps it a distribution where the map's coarse quantiles
    disagree with its outage share)."""
    xs = np.array([0.0, outage_mbps, cell.uplink_p10_mbps, cell.uplink_p50_mbps, cell.uplink_p90_mbps])
    ps = np.array([0.0, cell.outage_share, 0.1, 0.5, 0.9])
    order = np.argsort(xs, kind="stable")
    xs, ps = xs[order], np.maximum.accumulate(ps[order])
    top = max(2.0 * cell.uplink_p90_mbps, xs[-1] + 1e-9)
    xs, ps = np.append(xs, top), np.append(ps, 1.0)
    return np.interp(np.asarray(rate_mbps, dtype=float), xs, ps)


class MapRisk(NamedTuple):
    """The map's word on one frame, per mode (local modes: 0 and safe)."""

    p_short: np.ndarray  # P(the capacity cannot carry the payload in time, or a handover), worst cell
    p_worse: np.ndarray  # how much worse the worst cell ahead is than the current one (>= 0)
    safe: np.ndarray  # bool: the cells are well seen and p_short <= SAFE_P
    seen: bool  # the map has seen every cell of the look-ahead


@functools.lru_cache(maxsize=8)
def _coverage(path: str) -> CoverageMap:
    return load_coverage(path)


class MapHazard:
    """The map's per-mode hazard for a frame (see the module docstring)."""

    def __init__(self, cmap: CoverageMap, catalogue: ModeCatalogue, energy: EnergyModel) -> None:
        self.map = cmap
        costs = ModeCosts(catalogue, energy)
        self._offloads = np.asarray(costs.offloads, dtype=bool)
        self._payload = np.asarray(costs.up_mbit, dtype=float)[self._offloads]
        self._n = len(catalogue)

    @classmethod
    def of_preset(cls, preset: Preset, catalogue: ModeCatalogue) -> MapHazard | None:
        """The hazard of the preset's ``coverage_map`` (None without one)."""
        if preset.coverage_map is None:
            return None
        return cls(_coverage(preset.coverage_map), catalogue, EnergyModel(preset))

    def cells(self, view: VehicleView) -> list[CellStats | None] | None:
        """The current cell and the look-ahead's (None in a world without a place)."""
        place = view.place
        if place is None:
            return None
        lon, lat = place.position(view.time_s)
        return [self.map.at(lon, lat), *place.lookahead(view.time_s, self.map, LOOKAHEAD_S, LOOKAHEAD_S)]

    def __call__(self, view: VehicleView) -> MapRisk | None:
        """The map's risk for the frame ``view`` decides (None without a place)."""
        cells = self.cells(view)
        if cells is None:
            return None
        rate = needed_uplink_mbps(self._payload, view.deadline_ms)
        seen = all(c is not None for c in cells)
        trusted = seen
        deadline_s = view.deadline_ms / 1000.0
        per_cell: list[np.ndarray | None] = []
        for c in cells:
            if c is None:
                per_cell.append(None)
                continue
            p_ho = 1.0 - math.exp(-c.handovers_per_s * deadline_s)
            per_cell.append(1.0 - (1.0 - shortfall_probability(c, self.map.outage_mbps, rate)) * (1.0 - p_ho))
            trusted = trusted and c.seconds >= MIN_SECONDS and c.drives >= MIN_DRIVES
        known = [q for q in per_cell if q is not None]
        p_off = np.max(known, axis=0) if known else np.zeros(len(self._payload))
        here = per_cell[0]
        ahead = [q for q in per_cell[1:] if q is not None]
        if here is None or not ahead:  # the estimator's history is all there is to go on
            worse = np.zeros(len(self._payload))
        else:
            worse = np.maximum(np.max(ahead, axis=0) - here, 0.0)
        p, w = np.zeros(self._n), np.zeros(self._n)
        p[self._offloads], w[self._offloads] = p_off, worse
        safe = np.ones(self._n, dtype=bool)
        safe[self._offloads] = trusted & (p_off <= SAFE_P)
        return MapRisk(p, w, safe, seen)
