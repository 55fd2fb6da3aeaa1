"""A coverage map learned from drives: what the link is like at each place.

Coverage holes and handovers recur at the same places on different days (DESIGN.md section
10), so a map learned from *training* drives tells a vehicle what lies ahead on its route.
:func:`build_coverage` bins every sample of the given drives into square cells of
``cell_m`` metres (an equirectangular projection around the map's own origin, exact enough
over a city) and keeps per cell: the seconds of data behind it, the derived uplink capacity's
mean and p10/p50/p90, the share of time below ``outage_mbps``, the handover rate per second and
the network-mode shares. A map is built only from the drives it is given: split by day and
never build it from the drives a study reports on.

:meth:`CoverageMap.ahead` is the vehicle's look-ahead: the cells it will cross in the next
seconds, found by walking its planned route (the drive's own path, which a navigation system
knows in advance) from the current position at the *current* speed, so nothing about the
future timing of the drive is used.

Maps are saved as JSON (atomically) and loaded with their shape checked.

A :class:`CapacityLibrary` is the other thing learned from training drives: uplink capacity
paths of recorded drive windows, the risk estimate's population prior
(:mod:`romanus.vehicle.population` builds one; saved as ``.npz``).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from romanus.drives import Drive, handovers, positions, uplink_samples
from romanus.fileio import atomic_write_bytes

__all__ = [
    "COVERAGE_FORMAT",
    "CapacityLibrary",
    "CellStats",
    "CoverageMap",
    "build_coverage",
    "load_coverage",
    "load_library",
]

COVERAGE_FORMAT = "romanus-coverage"
COVERAGE_VERSION = 1
_EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)


@dataclass(frozen=True)
class CellStats:
    """What the training drives saw in one map cell."""

    seconds: float  # time the drives spent in the cell
    drives: int  # how many drives crossed it
    uplink_mean_mbps: float
    uplink_p10_mbps: float
    uplink_p50_mbps: float
    uplink_p90_mbps: float
    outage_share: float  # share of that time with uplink below the map's outage threshold
    handovers_per_s: float
    mode_shares: dict[str, float]


class CoverageMap:
    """Cells of ``cell_m`` metres around ``origin`` (longitude, latitude in degrees)."""

    def __init__(
        self,
        origin: tuple[float, float],
        cell_m: float,
        outage_mbps: float,
        cells: dict[tuple[int, int], CellStats],
        sources: Sequence[str],
        uplink_model: str,
    ) -> None:
        self.origin = origin
        self.cell_m = cell_m
        self.outage_mbps = outage_mbps
        self.cells = cells
        self.sources = tuple(sources)
        self.uplink_model = uplink_model
        self._cos = math.cos(math.radians(origin[1]))

    def metres(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        east = np.radians(np.asarray(lon) - self.origin[0]) * self._cos * _EARTH_RADIUS_M
        north = np.radians(np.asarray(lat) - self.origin[1]) * _EARTH_RADIUS_M
        return east, north

    def cell_of(self, lon: float, lat: float) -> tuple[int, int]:
        e, n = self.metres(np.array([lon]), np.array([lat]))
        return math.floor(e[0] / self.cell_m), math.floor(n[0] / self.cell_m)

    def at(self, lon: float, lat: float) -> CellStats | None:
        """The cell at a position (None where the map has seen nothing)."""
        return self.cells.get(self.cell_of(lon, lat))

    def ahead(
        self,
        route_lon: np.ndarray,
        route_lat: np.ndarray,
        index: int,
        speed_kmh: float,
        horizon_s: float,
        step_s: float = 1.0,
    ) -> list[CellStats | None]:
        """The cells ``step_s``, 2 ``step_s``, ... ``horizon_s`` ahead along a route (arrays of
        its points in order) from point ``index``, at the current speed."""
        e, n = self.metres(route_lon, route_lat)
        seg = np.hypot(np.diff(e), np.diff(n))
        along = np.concatenate([[0.0], np.cumsum(seg)])
        here = along[index]
        v = max(speed_kmh, 0.0) / 3.6
        out: list[CellStats | None] = []
        for k in range(1, round(horizon_s / step_s) + 1):
            d = min(here + v * k * step_s, along[-1])
            x, y = float(np.interp(d, along, e)), float(np.interp(d, along, n))
            out.append(self.cells.get((math.floor(x / self.cell_m), math.floor(y / self.cell_m))))
        return out

    # -- files ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": COVERAGE_FORMAT,
            "format_version": COVERAGE_VERSION,
            "origin": list(self.origin),
            "cell_m": self.cell_m,
            "outage_mbps": self.outage_mbps,
            "uplink_model": self.uplink_model,
            "sources": list(self.sources),
            "cells": [{"x": x, "y": y, **vars(s)} for (x, y), s in sorted(self.cells.items())],
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_bytes(path, json.dumps(self.to_json(), indent=1).encode())
        return path


def load_coverage(path: str | Path) -> CoverageMap:
    """A map saved by :meth:`CoverageMap.save`; a clear error naming the file otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != COVERAGE_FORMAT or data.get("format_version") != COVERAGE_VERSION:
            raise ValueError(f"not a romanus coverage map of format version {COVERAGE_VERSION}")
        cells = {
            (int(c["x"]), int(c["y"])): CellStats(**{k: v for k, v in c.items() if k not in ("x", "y")})
            for c in data["cells"]
        }
        lon, lat = (float(v) for v in data["origin"])
        return CoverageMap(
            (lon, lat),
            float(data["cell_m"]),
            float(data["outage_mbps"]),
            cells,
            data["sources"],
            str(data["uplink_model"]),
        )
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the coverage map ({exc})") from None


def build_coverage(
    drives: Sequence[Drive],
    cell_m: float = 100.0,
    *,
    outage_mbps: float = 1.0,
    uplink_model: Literal["dl_ratio", "cqi"] = "dl_ratio",
) -> CoverageMap:
    """Learn a map from ``drives`` (training drives only). ``outage_mbps``: [assumed] 1 Mbit/s,
    below which a bottleneck payload (~24 kB per stem) cannot cross in a 100 ms period."""
    if not drives:
        raise ValueError("a coverage map needs at least one drive")
    if not cell_m > 0:
        raise ValueError(f"cell_m must be > 0, got {cell_m}")
    lons, lats = zip(*(positions(d) for d in drives), strict=True)
    all_lon, all_lat = np.concatenate(lons), np.concatenate(lats)
    origin = (float(np.nanmin(all_lon)), float(np.nanmin(all_lat)))
    cmap = CoverageMap(origin, cell_m, outage_mbps, {}, [d.source for d in drives], uplink_model)
    acc: dict[tuple[int, int], dict[str, Any]] = {}
    for d, lon, lat in zip(drives, lons, lats, strict=True):
        dt = np.diff(d.time_s, prepend=d.time_s[0])  # sample i describes (t_{i-1}, t_i]
        up = uplink_samples(d, uplink_model)
        e, n = cmap.metres(lon, lat)
        ix, iy = np.floor(e / cell_m).astype(np.int64), np.floor(n / cell_m).astype(np.int64)
        hand = np.zeros(len(d.time_s), dtype=bool)
        for h in handovers(d):
            hand[h.index] = True
        for i in range(1, len(d.time_s)):
            if not (np.isfinite(e[i]) and np.isfinite(n[i])):
                continue
            key = (int(ix[i]), int(iy[i]))
            a = acc.setdefault(key, {"t": 0.0, "drives": set(), "up": [], "w": [], "ho": 0, "modes": {}})
            a["t"] += float(dt[i])
            a["drives"].add(d.source)
            a["up"].append(float(up[i]))
            a["w"].append(float(dt[i]))
            a["ho"] += int(hand[i])
            mode = d.mode_names[int(d.network_mode[i])]
            a["modes"][mode] = a["modes"].get(mode, 0.0) + float(dt[i])
    for key, a in acc.items():
        if a["t"] <= 0:
            continue
        up, w = np.asarray(a["up"]), np.asarray(a["w"])
        order = np.argsort(up)
        cum = np.cumsum(w[order]) / w.sum()
        # time-weighted quantiles: the first sample whose cumulative weight reaches p
        at = np.minimum(np.searchsorted(cum, np.array([0.1, 0.5, 0.9])), len(up) - 1)
        q = dict(zip((10, 50, 90), up[order][at].tolist(), strict=True))
        cmap.cells[key] = CellStats(
            seconds=a["t"],
            drives=len(a["drives"]),
            uplink_mean_mbps=float((up * w).sum() / w.sum()),
            uplink_p10_mbps=q[10],
            uplink_p50_mbps=q[50],
            uplink_p90_mbps=q[90],
            outage_share=float(w[up < outage_mbps].sum() / w.sum()),
            handovers_per_s=a["ho"] / a["t"],
            mode_shares={m: s / a["t"] for m, s in sorted(a["modes"].items())},
        )
    return cmap


# -- capacity libraries: the risk estimate's population prior (romanus.vehicle.population) ---------

_LIBRARY_FORMAT = "romanus-capacity-library-2"


@dataclass(frozen=True, eq=False)
class CapacityLibrary:
    """Transitions of drive windows: each a period's mean uplink rate (Mbit/s, ascending) and
    the slot rates of the ``ahead`` periods after it (``paths``, one row each, ``slots`` per
    period of ``period_ms``), and where it was measured: ``origins[i]`` indexes ``sources``
    (the drive's file name; a scenario's for a world without a drive)."""

    rates: np.ndarray
    paths: np.ndarray
    period_ms: float
    slots: int
    sources: tuple[str, ...]
    origins: np.ndarray
    #: the source whose transitions are passed over (see :meth:`without`), or None
    skip: int | None = None

    def __post_init__(self) -> None:
        if self.rates.ndim != 1 or self.paths.ndim != 2 or len(self.rates) != len(self.paths):
            raise ValueError("a capacity library needs one rate per path")
        if self.origins.shape != self.rates.shape or not np.issubdtype(self.origins.dtype, np.integer):
            raise ValueError("a capacity library needs one integer origin per transition")
        if len(self.origins) and (self.origins.min() < 0 or self.origins.max() >= len(self.sources)):
            raise ValueError(f"a capacity library's origins must index its {len(self.sources)} sources")
        if len(self.rates) == 0:
            raise ValueError("a capacity library needs at least one transition")
        if not (np.all(self.rates > 0.0) and np.all(np.diff(self.rates) >= 0.0)):
            raise ValueError("a capacity library's rates must be positive and ascending")
        if self.paths.shape[1] % self.slots:
            raise ValueError(f"paths of {self.paths.shape[1]} slots are not whole periods of {self.slots}")
        object.__setattr__(self, "_log", np.log(self.rates))
        object.__setattr__(self, "_without", {})

    @property
    def ahead(self) -> int:
        """Periods per path."""
        return self.paths.shape[1] // self.slots

    def without(self, source: str) -> CapacityLibrary | None:
        """The library passing over the transitions measured on ``source`` (a drive's file
        name): what an estimate on that drive may draw from, so it never reads its own drive's
        future. It shares this library's arrays. Itself when ``source`` is not among the
        sources; None when no other source is left. Cached."""
        if source not in self.sources:
            return self
        cache: dict[str, CapacityLibrary | None] = self._without  # type: ignore[attr-defined]
        if source not in cache:
            i = self.sources.index(source)
            cache[source] = dataclasses.replace(self, skip=i) if bool(np.any(self.origins != i)) else None
        return cache[source]

    def nearest(self, now: float, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rates, paths) of the ``k`` transitions whose rate is nearest ``now`` in log rate
        (ties: the lower index first), passing over the ``skip`` source's."""
        log = self._log  # type: ignore[attr-defined]
        x = np.log(now)
        j = int(np.searchsorted(log, x))
        lo, hi = max(0, j - k), min(len(log), j + k)
        if self.skip is not None:  # widen each side until it holds k others (or ends)
            while lo > 0 and np.count_nonzero(self.origins[lo:j] != self.skip) < k:
                lo = max(0, lo - 2 * (j - lo))
            while hi < len(log) and np.count_nonzero(self.origins[j:hi] != self.skip) < k:
                hi = min(len(log), hi + 2 * (hi - j))
        cand = np.arange(lo, hi)
        if self.skip is not None:
            cand = cand[self.origins[cand] != self.skip]
        near = cand[np.argsort(np.abs(log[cand] - x), kind="stable")[:k]]
        return self.rates[near], self.paths[near]

    def save(self, path: str | Path) -> None:
        """Write the library as ``.npz`` (atomically)."""
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            format=np.array(_LIBRARY_FORMAT),
            rates=self.rates,
            paths=self.paths,
            period_ms=np.array(self.period_ms),
            slots=np.array(self.slots),
            sources=np.array(self.sources, dtype=str),
            origins=self.origins,
        )
        atomic_write_bytes(Path(path), buf.getvalue())


def load_library(path: str | Path) -> CapacityLibrary:
    """A library written by :meth:`CapacityLibrary.save`; ``ValueError`` naming the file and
    what is wrong otherwise."""
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            if "format" not in z.files or str(z["format"]) != _LIBRARY_FORMAT:
                raise ValueError(f"not a capacity library (expected format {_LIBRARY_FORMAT})")
            return CapacityLibrary(
                z["rates"].astype(float),
                z["paths"].astype(float),
                float(z["period_ms"]),
                int(z["slots"]),
                tuple(str(s) for s in z["sources"]),
                z["origins"].astype(np.int64),
            )
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None
