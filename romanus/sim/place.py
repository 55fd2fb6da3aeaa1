"""Place: where a simulated vehicle is on a real drive, and what it knows of it.

A world built from a drive (``drive:`` preset section, :mod:`romanus.drives`) carries a
:class:`Place`: the drive's per-sample route, speed, network mode, serving cell and modem KPIs,
on simulation time (``t = 0`` is drive time ``drive.start_s``). It answers:

- :meth:`Place.speed_mps`: the vehicle's own speed at ``t`` (its speedometer: no delay).
- :meth:`Place.position`: its position (longitude, latitude) at ``t``.
- :meth:`Place.mode_at`: the network mode of the serving cell at ``t`` (the world's truth).
- :meth:`Place.kpis`: the modem KPIs as the vehicle's planner sees them, ``kpi_delay_s`` late.
- :meth:`Place.seconds_since_handover`: since the newest cell change the planner has seen.
- :meth:`Place.lookahead`: a coverage map's cells along the route ahead, at the current speed.

Speed and position. The logger repeats the last GPS fix on every row (a new fix every 7-20 s),
so both are interpolated linearly in time between the rows where a fix first appears
(:func:`romanus.drives.positions`; the speed the same way, [assumed]: the fix's speed is
current at its row), then linearly between samples at query time.

A place is a set of arrays (:attr:`Place.arrays`, recorded into scenario files as they are)
plus a few scalars (:meth:`Place.meta`): a live world and its replay build the same object
from the same numbers, so every answer is bit-identical. It holds the drive from
``HISTORY_S`` before the start to the drive's end (the route ahead and KPI history need both
sides).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from romanus.coverage import CellStats, CoverageMap
from romanus.drives import Drive, fix_rows, handovers, positions

__all__ = ["HISTORY_S", "NAN_ALLOWED", "PLACE_ARRAYS", "Kpis", "Place"]

HISTORY_S = 60.0
"""Drive time kept before the start: KPI reports and handovers the vehicle saw just before."""

#: per-sample series of a place, in scenario files as ``place_<name>.npy``; ``handover_s`` is
#: per handover (the time of the first sample on the new cell)
PLACE_ARRAYS: dict[str, type] = {
    "time_s": np.float64,
    "lon": np.float64,
    "lat": np.float64,
    "speed_kmh": np.float64,
    "mode": np.int64,
    "cell": np.int64,
    "rsrp_dbm": np.float64,
    "rsrq_db": np.float64,
    "snr_db": np.float64,
    "cqi": np.float64,
    "handover_s": np.float64,
}
#: series that may hold NaN (a KPI the modem did not report)
NAN_ALLOWED = frozenset({"rsrp_dbm", "rsrq_db", "snr_db", "cqi"})


class Kpis(NamedTuple):
    """The newest modem report at or before ``t - delay`` (``valid`` False before any)."""

    valid: bool
    age_s: float  # t minus the report's sample time (inf when not valid)
    rsrp_dbm: float  # NaN: not reported (also RSCP in 3G rows)
    rsrq_db: float  # NaN: not reported (Ec/No in 3G rows)
    snr_db: float
    cqi: float
    mode: str  # network mode name ("" when not valid)
    cell: int  # global cell identity (-1 when unknown)


def _interp_speed(drive: Drive) -> np.ndarray:
    """Speed per sample, linear in time between the fixes that report one (0 if none does)."""
    rows = fix_rows(drive)
    rows = rows[np.isfinite(drive.speed_kmh[rows])]
    if len(rows) == 0:
        return np.zeros(len(drive))
    return np.interp(drive.time_s, drive.time_s[rows], drive.speed_kmh[rows])


class Place:
    """A drive's context on simulation time; see the module docstring."""

    def __init__(self, arrays: Mapping[str, np.ndarray], mode_names: tuple[str, ...], kpi_delay_s: float) -> None:
        missing = [k for k in PLACE_ARRAYS if k not in arrays]
        if missing:
            raise ValueError(f"a place needs the series {', '.join(missing)}")
        self.arrays: dict[str, np.ndarray] = {k: np.asarray(arrays[k], dtype=PLACE_ARRAYS[k]) for k in PLACE_ARRAYS}
        n = len(self.arrays["time_s"])
        if n < 2 or any(len(v) != n for k, v in self.arrays.items() if k != "handover_s"):
            raise ValueError("a place needs at least two samples and one length for its per-sample series")
        a = self.arrays
        if not (np.all(np.isfinite(a["time_s"])) and np.all(np.diff(a["time_s"]) > 0)):
            raise ValueError("a place's sample times must be finite and increase")
        if np.any(self.arrays["mode"] < 0) or np.any(self.arrays["mode"] >= len(mode_names)):
            raise ValueError("a place's network modes must index its mode names")
        hos = self.arrays["handover_s"]
        if not np.all(np.isfinite(hos)) or np.any(np.diff(hos) < 0):
            raise ValueError("a place's handover times must be finite and in order")
        if not np.all((a["speed_kmh"] >= 0) & (a["speed_kmh"] <= 500)):
            raise ValueError("a place's speeds must be in [0, 500] km/h")
        if not np.all((np.abs(a["lon"]) <= 180) & (np.abs(a["lat"]) <= 90)):
            raise ValueError("a place's positions must be longitudes and latitudes in degrees")
        if not 0 <= kpi_delay_s <= 60:
            raise ValueError(f"a place's KPI delay must be in [0, 60] s, got {kpi_delay_s!r}")
        self.mode_names = tuple(mode_names)
        self.kpi_delay_s = float(kpi_delay_s)
        self._t = a["time_s"].tolist()
        self._lon, self._lat = a["lon"], a["lat"]
        self._kpi = list(
            zip(
                a["rsrp_dbm"].tolist(),
                a["rsrq_db"].tolist(),
                a["snr_db"].tolist(),
                a["cqi"].tolist(),
                a["mode"].tolist(),
                a["cell"].tolist(),
                strict=True,
            )
        )
        self._handovers = a["handover_s"].tolist()
        self._speed_l = a["speed_kmh"].tolist()
        self._lon_l, self._lat_l = a["lon"].tolist(), a["lat"].tolist()
        self._routes: dict[int, tuple[CoverageMap, list[float], list[float], list[float]]] = {}

    @classmethod
    def from_drive(cls, drive: Drive, start_s: float = 0.0, kpi_delay_s: float = 1.0) -> Place:
        """The place of ``drive`` with simulation time 0 at drive time ``start_s``."""
        lon, lat = positions(drive)
        keep = drive.time_s >= start_s - HISTORY_S
        hos = np.array([h.time_s for h in handovers(drive)], dtype=np.float64)
        arrays = {
            "time_s": drive.time_s[keep] - start_s,
            "lon": lon[keep],
            "lat": lat[keep],
            "speed_kmh": _interp_speed(drive)[keep],
            "mode": drive.network_mode[keep].astype(np.int64),
            "cell": drive.global_cell_id[keep],
            "rsrp_dbm": drive.rsrp_dbm[keep],
            "rsrq_db": drive.rsrq_db[keep],
            "snr_db": drive.snr_db[keep],
            "cqi": drive.cqi[keep],
            "handover_s": hos[hos >= start_s - HISTORY_S] - start_s,
        }
        return cls(arrays, drive.mode_names, kpi_delay_s)

    def meta(self) -> dict[str, Any]:
        """The scalars that, with :attr:`arrays`, rebuild this place."""
        return {"mode_names": list(self.mode_names), "kpi_delay_s": self.kpi_delay_s}

    @property
    def end_s(self) -> float:
        """Simulation time of the drive's last sample."""
        return self._t[-1]

    # -- the vehicle's own state (no delay) -----------------------------------------------------

    def speed_mps(self, t: float) -> float:
        """The vehicle's speed (m/s) at simulation time ``t`` (held before the first and after
        the last sample)."""
        return _interp(self._t, self._speed_l, t) / 3.6

    def position(self, t: float) -> tuple[float, float]:
        """(longitude, latitude) in degrees at simulation time ``t``."""
        return _interp(self._t, self._lon_l, t), _interp(self._t, self._lat_l, t)

    def mode_at(self, t: float) -> str:
        """The network mode of the serving cell at ``t``: the sample whose interval
        ``(t_{i-1}, t_i]`` holds ``t`` (the world's truth; the planner sees :meth:`kpis`)."""
        i = min(bisect_right(self._t, t - 1e-12), len(self._t) - 1)
        return self.mode_names[self._kpi[i][4]]

    # -- what the planner knows, a reporting delay late ----------------------------------------

    def kpis(self, t: float) -> Kpis:
        """The newest report at or before ``t - kpi_delay_s`` (as :func:`romanus.drives.kpi_at`)."""
        i = bisect_right(self._t, t - self.kpi_delay_s + 1e-9) - 1
        if i < 0:
            nan = math.nan
            return Kpis(False, math.inf, nan, nan, nan, nan, "", -1)
        rsrp, rsrq, snr, cqi, mode, cell = self._kpi[i]
        return Kpis(True, t - self._t[i], rsrp, rsrq, snr, cqi, self.mode_names[mode], cell)

    def seconds_since_handover(self, t: float) -> float:
        """Time since the newest cell change reported by ``t`` (inf if none in the place's
        history)."""
        seen = t - self.kpi_delay_s + 1e-9
        i = bisect_right(self._handovers, seen) - 1
        return math.inf if i < 0 else t - self._handovers[i]

    def _route(self, cmap: CoverageMap) -> tuple[list[float], list[float], list[float]]:
        """The route in ``cmap``'s metres and the distance along it (cached per map)."""
        entry = self._routes.get(id(cmap))
        if entry is None or entry[0] is not cmap:
            e, n = cmap.metres(self._lon, self._lat)
            along = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(e), np.diff(n)))])
            entry = (cmap, e.tolist(), n.tolist(), along.tolist())
            self._routes[id(cmap)] = entry
        return entry[1], entry[2], entry[3]

    def lookahead(
        self, t: float, cmap: CoverageMap, horizon_s: float, step_s: float = 1.0
    ) -> tuple[CellStats | None, ...]:
        """The map cells ``step_s``, 2 ``step_s``, ... ``horizon_s`` ahead along the route from
        the position at ``t``, at the speed at ``t`` (as :meth:`CoverageMap.ahead`; the route
        is the planned path, its future timing is not used)."""
        e, n, along = self._route(cmap)
        here = _interp(self._t, along, t)
        v = max(self.speed_mps(t), 0.0)
        end = along[-1]
        out: list[CellStats | None] = []
        size = cmap.cell_m
        cells = cmap.cells
        for k in range(1, round(horizon_s / step_s) + 1):
            d = min(here + v * k * step_s, end)
            x, y = _interp(along, e, d), _interp(along, n, d)
            out.append(cells.get((math.floor(x / size), math.floor(y / size))))
        return tuple(out)


def _interp(xs: list[float], ys: list[float], x: float) -> float:
    """``np.interp(x, xs, ys)`` for one point, with numpy's arithmetic (held at both ends)."""
    j = bisect_right(xs, x) - 1
    if j < 0:
        return ys[0]
    if j >= len(xs) - 1:
        return ys[-1]
    slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j])
    return slope * (x - xs[j]) + ys[j]
