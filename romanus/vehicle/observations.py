"""Observation functions, selected by name; each owns its space and documents its features.

Every feature is a float in [0, 1] (clipped), so the space is ``Box(0, 1, (n,), float32)``.
Observations read only the view they are given (:mod:`romanus.vehicle.view`): the vehicle's,
or for ``oracle`` the oracle's.
``vehicle`` is what the car can know at decision time; ``oracle`` adds what it cannot (the
true uplink capacity now and over the coming frame, the server's true current state), for
studies of partial observability. ``risk`` adds the vehicle's own assessment of each tier's
offloading risk (:mod:`romanus.vehicle.estimates`), so a learner sees the tail estimate a shield uses.
``place`` adds where the vehicle is on a real drive (:class:`romanus.sim.place.Place`): the
modem's KPIs a reporting delay late, the network mode, its speed, the time since the last
handover and, with a coverage map (``coverage_map:`` in the preset), the map along the route
ahead; zeros and "unknown" flags in a world without a place.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from romanus.config import Preset
from romanus.coverage import CoverageMap, load_coverage
from romanus.drives import mode_family
from romanus.pipeline.modes import ModeCatalogue
from romanus.sim.place import Place
from romanus.vehicle.estimates import RiskAssessor
from romanus.vehicle.view import OracleView, VehicleView

if TYPE_CHECKING:
    from gymnasium import spaces

__all__ = [
    "OBSERVATIONS",
    "Feature",
    "ObservationFunction",
    "OracleObservation",
    "PlaceObservation",
    "RiskObservation",
    "RiskPlaceObservation",
    "VehicleObservation",
    "make_observation",
]

_CAPACITY_MAX_MBPS = 1000.0  # log-scale normaliser of link capacities
_LOG_CAP = math.log1p(_CAPACITY_MAX_MBPS)
_RTT_MAX_MS = 250.0
_AGE_MAX_S = 10.0
_WAIT_MAX_MS = 100.0
_RATE_MAX_HZ = 2000.0


class Feature(NamedTuple):
    name: str
    unit: str
    source: str
    staleness: str
    scaling: str


def _log_rate(mbps: float) -> float:
    return min(1.0, math.log1p(mbps if mbps > 0.0 else 0.0) / _LOG_CAP)


def _clip(x: float) -> float:
    return 0.0 if x < 0.0 else (1.0 if x > 1.0 else x)


class ObservationFunction:
    """Base: a fixed list of features and a method filling them."""

    #: normaliser of the time since the last transfer: the radio's tail (s)
    _tail_s = 1.0

    name = ""
    #: whether ``observe`` reads ``assessor`` (the decision stack then keeps one per episode)
    needs_risk = False
    #: whether ``observe`` needs an :class:`OracleView`
    sees_future = False

    def __init__(self, preset: Preset, catalogue: ModeCatalogue) -> None:
        #: the episode's risk assessment, set by whoever runs the episode (env or agent policy)
        self.assessor: RiskAssessor | None = None
        self.preset = preset
        self.catalogue = catalogue
        self._tail_s = max(preset.radio.parameters.tail_ms / 1000.0, 1e-3)
        self.features = self._features()

    @property
    def space(self) -> spaces.Box:
        """``Box(0, 1, (len(features),), float32)`` (gymnasium is imported only when asked)."""
        from gymnasium import spaces

        return spaces.Box(0.0, 1.0, shape=(len(self.features),), dtype=np.float32)

    def _features(self) -> tuple[Feature, ...]:
        raise NotImplementedError

    def observe(self, view: VehicleView) -> np.ndarray:
        raise NotImplementedError


class VehicleObservation(ObservationFunction):
    """What the vehicle can measure when it picks the mode of the frame captured now."""

    name = "vehicle"
    #: windows (s) of the uplink throughput history
    windows_s = (0.1, 0.5, 2.0)

    def _features(self) -> tuple[Feature, ...]:
        cat, p = self.catalogue, self.preset
        f: list[Feature] = []
        for s in cat.scenes:
            f.append(Feature(f"scene_{s}", "0/1", "vehicle scene classifier", "current frame", "one-hot"))
        for b in cat.branch_names:
            f.append(Feature(f"gate_{b}", "score", "HydraFusion gate for the current scene", "current frame", "as is"))
        for w in self.windows_s:
            f.append(
                Feature(
                    f"uplink_mbps_{int(w * 1000)}ms",
                    "Mbit/s",
                    f"modem: mean uplink capacity over the last {w:g} s",
                    f"past {w:g} s",
                    f"log1p(x)/log1p({_CAPACITY_MAX_MBPS:g})",
                )
            )
        d = p.deadline_ms
        tail_s = self._tail_s
        f += [
            Feature("uplink_backlog", "ms", "own uplink queue: time to send what is queued", "current", f"x/{4 * d:g}"),
            Feature(
                "accelerator_backlog", "ms", "own accelerator queue: compute already queued", "current", f"x/{d:g}"
            ),
            Feature("frames_in_flight", "frames", "own frames captured and not yet resolved", "current", "x/4"),
            Feature(
                "radio_idle", "0/1", "modem RRC state: idle (an offload waits for a promotion)", "current", "one-hot"
            ),
            Feature("radio_promotion", "0/1", "modem RRC state: promotion under way", "current", "one-hot"),
            Feature(
                "radio_connected", "0/1", "modem RRC state: connected (on the air or in the tail)", "current", "one-hot"
            ),
            Feature(
                "time_since_transfer",
                "s",
                "modem: time since the radio was last on the air (1 if never)",
                "current",
                f"x/{tail_s:g} (the tail)",
            ),
            Feature("rtt_last", "ms", "RTT of the newest response received", "age in rtt_age", f"x/{_RTT_MAX_MS:g}"),
            Feature("rtt_age", "s", "time since that response", "current", f"x/{_AGE_MAX_S:g}"),
            Feature(
                "server_wait",
                "ms",
                "server telemetry: queueing delay",
                "telemetry delay + period",
                f"x/{_WAIT_MAX_MS:g}",
            ),
            Feature(
                "server_workload", "ms", "server telemetry: unfinished work per worker", "same", f"x/{_WAIT_MAX_MS:g}"
            ),
            Feature("server_utilisation", "share", "server telemetry: busy share over its period", "same", "as is"),
            Feature("server_arrivals", "1/s", "server telemetry: request rate", "same", f"x/{_RATE_MAX_HZ:g}"),
            Feature("server_report_age", "s", "age of that report (1 if none yet)", "current", f"x/{_AGE_MAX_S:g}"),
            Feature("last_latency", "ms", "newest resolved frame: latency", "previous frame(s)", f"x/{p.abandon_ms:g}"),
            Feature(
                "last_energy", "mJ", "newest resolved frame: compute + radio energy", "same", "x/(2 x reward scale)"
            ),
            Feature("last_met", "0/1", "newest resolved frame: deadline met", "same", "as is"),
            Feature("last_risky", "0/1", "newest resolved frame: risky", "same", "as is"),
            Feature("last_offloaded", "0/1", "newest resolved frame: offloaded", "same", "as is"),
            Feature("last_fell_back", "0/1", "newest resolved frame: its local fallback ran", "same", "as is"),
            Feature(
                "deadline",
                "ms",
                "this frame's deadline (from the driving context: preset deadlines)",
                "current frame",
                f"x/{p.max_deadline_ms:g} (the longest)",
            ),
        ]
        for k, early in enumerate(p.fallback.options_ms, start=1):
            f.append(
                Feature(
                    f"fallback_time_{k}",
                    "ms",
                    f"fallback option {k} ({early:g} ms before just in time): its time after capture, "
                    "0 if it cannot finish by the deadline",
                    "current frame",
                    "x/deadline",
                )
            )
        return tuple(f)

    def __init__(self, preset: Preset, catalogue: ModeCatalogue, energy_scale_mj: float = 1.0) -> None:
        super().__init__(preset, catalogue)
        n = len(catalogue.scenes)
        self._radio_rows = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # by RRC state
        # one-hot scene followed by that scene's gate scores, per scene
        self._scene_rows = [
            [1.0 if j == i else 0.0 for j in range(n)] + list(preset.pipeline.robustness[s])
            for i, s in enumerate(catalogue.scenes)
        ]
        self._deadline_ms = preset.deadline_ms
        self._max_deadline_ms = preset.max_deadline_ms
        self._abandon_ms = preset.abandon_ms
        self._fallback = bool(preset.fallback.options_ms)
        self._flight = 4.0
        self._energy_norm = 2.0 * energy_scale_mj

    def _vehicle(self, view: VehicleView) -> list[float]:
        now = view.time_s
        out = self._scene_rows[view.scene].copy()
        for rate in view.uplink_mbps_windows(self.windows_s):
            out.append(_log_rate(rate))
        out.append(_clip(view.uplink_backlog_ms / (4.0 * self._deadline_ms)))
        out.append(_clip(view.accelerator_backlog_ms / self._deadline_ms))
        out.append(_clip(view.frames_in_flight / self._flight))
        out += self._radio_rows[view.radio_state]
        out.append(_clip(view.time_since_transfer_s / self._tail_s))
        out.append(_clip(view.last_rtt_ms / _RTT_MAX_MS))
        out.append(_clip(view.last_rtt_age_s / _AGE_MAX_S))
        rep = view.server_report
        if rep is None:
            out += [0.0, 0.0, 0.0, 0.0, 1.0]
        else:
            out += [
                _clip(rep.wait_ms / _WAIT_MAX_MS),
                _clip(rep.workload_ms / _WAIT_MAX_MS),
                rep.utilisation,
                _clip(rep.arrival_rate_hz / _RATE_MAX_HZ),
                _clip((now - rep.time_s) / _AGE_MAX_S),
            ]
        last = view.last_record
        if last is None:
            out += [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
        else:
            out += [
                _clip(last.latency_ms / self._abandon_ms),
                _clip((last.compute_mj + last.radio_mj) / self._energy_norm),
                1.0 if last.deadline_met else 0.0,
                1.0 if last.risky else 0.0,
                1.0 if last.offloaded else 0.0,
                1.0 if last.fell_back else 0.0,
            ]
        deadline = view.deadline_ms
        out.append(_clip(deadline / self._max_deadline_ms))
        if self._fallback:
            out += [0.0 if t is None else _clip(t / deadline) for t in view.fallback_times_ms()]
        return out

    def observe(self, view: VehicleView) -> np.ndarray:
        return np.array(self._vehicle(view), dtype=np.float32)


class OracleObservation(VehicleObservation):
    """``vehicle`` plus what no vehicle can know: the true uplink capacity now and over the
    next deadline, and the server's true state now (no telemetry delay)."""

    name = "oracle"
    sees_future = True

    def _features(self) -> tuple[Feature, ...]:
        d = self.preset.deadline_ms
        extra = (
            Feature(
                "true_uplink_now",
                "Mbit/s",
                "true uplink capacity",
                "none (oracle)",
                f"log1p(x)/log1p({_CAPACITY_MAX_MBPS:g})",
            ),
            Feature(
                "true_uplink_next",
                "Mbit/s",
                f"true mean uplink capacity over the next {d:g} ms",
                "future (oracle)",
                "same",
            ),
            Feature(
                "true_server_wait",
                "ms",
                "true queueing delay at the server now",
                "none (oracle)",
                f"x/{_WAIT_MAX_MS:g}",
            ),
        )
        return super()._features() + extra

    def _vehicle(self, view: VehicleView) -> list[float]:
        out = super()._vehicle(view)
        if not isinstance(view, OracleView):
            raise TypeError("the oracle observation needs an OracleView (sees_future = True)")
        out.append(_log_rate(view.true_uplink_now_mbps))
        out.append(_log_rate(view.true_uplink_ahead_mbps(self._deadline_ms / 1000.0)))
        out.append(_clip(view.true_server_wait_ms / _WAIT_MAX_MS))
        return out


class RiskObservation(VehicleObservation):
    """``vehicle`` plus the vehicle's risk assessment (:class:`romanus.vehicle.estimates.RiskAssessor`)
    per tier: the lowest estimated deadline-miss probability among the tier's offloading
    modes, and the expected energy and miss probability of its least-energy offloading
    mode. Causal: computed from the same measurements as ``vehicle``."""

    name = "risk"
    needs_risk = True

    def _features(self) -> tuple[Feature, ...]:
        extra: list[Feature] = []
        for t in self.catalogue.pipeline.tiers:
            src = f"romanus.vehicle.estimates, tier {t}'s offloading modes"
            log_p = "1 + log10(max(p, 1e-4))/4"
            extra += [
                Feature(f"risk_min_{t}", "probability", f"{src}: lowest P(risky)", "current", log_p),
                Feature(f"risk_cheapest_{t}", "probability", f"{src}: P(risky) of the cheapest", "current", log_p),
                Feature(f"energy_cheapest_{t}", "mJ", f"{src}: its expected energy", "current", "x/(2 x reward scale)"),
            ]
        return super()._features() + tuple(extra)

    def __init__(self, preset: Preset, catalogue: ModeCatalogue, energy_scale_mj: float = 1.0) -> None:
        super().__init__(preset, catalogue, energy_scale_mj)
        tier_of = np.array([m.tier for m in catalogue.modes])
        off = catalogue.offload_mask
        tier_modes = [np.flatnonzero((tier_of == t) & off) for t in catalogue.pipeline.tiers]
        # (tiers x most modes of a tier) index table; padding points at an appended sentinel
        width = max(1, max(len(ix) for ix in tier_modes))
        self._table = np.full((len(tier_modes), width), len(catalogue), dtype=np.intp)
        for row, ix in enumerate(tier_modes):
            self._table[row, : len(ix)] = ix
        self._empty = np.array([len(ix) == 0 for ix in tier_modes])
        self._rows = np.arange(len(tier_modes))

    def _vehicle(self, view: VehicleView) -> list[float]:
        out = super()._vehicle(view)
        if self.assessor is None:
            raise RuntimeError("the risk observation needs an assessor (set obs.assessor per episode)")
        p, energy = self.assessor(view)
        p_t = np.append(p, np.inf)[self._table]
        e_t = np.append(energy, np.inf)[self._table]
        cheapest = np.argmin(e_t, axis=1)  # the first least-energy mode of each tier, as np.argmin
        feats = np.empty((len(self._rows), 3))
        feats[:, 0] = _log_probability_array(p_t.min(axis=1))
        feats[:, 1] = _log_probability_array(p_t[self._rows, cheapest])
        feats[:, 2] = np.clip(e_t[self._rows, cheapest] / self._energy_norm, 0.0, 1.0)
        feats[self._empty] = 1.0
        out += feats.ravel().tolist()
        return out


def _log_probability_array(p: np.ndarray) -> np.ndarray:
    """0 at P <= 1e-4, 1 at P = 1, log-linear between (the interesting risks are 1e-4..1e-1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(1.0 + np.log10(np.maximum(p, 1e-4)) / 4.0, 0.0, 1.0)


# ranges of the place observation's KPIs (values outside are clipped): 3GPP TS 36.133 reports
# RSRP -140..-44 dBm and RSRQ -19.5..-3 dB (the drives' 3G rows carry RSCP and Ec/No, 0..-24 dB,
# in the same columns); SNR as G-NetTrack logs it, -10..30 dB holds 99 % of the irish-5g rows
_RSRP_DBM = (-140.0, -40.0)
_RSRQ_DB = (-30.0, 0.0)
_SNR_DB = (-10.0, 30.0)
_CQI_MAX = 15.0
_SPEED_MAX_MPS = 40.0  # 144 km/h
_HANDOVER_AGE_MAX_S = 60.0
_MODE_FAMILIES = ("nr", "lte", "3g")  # and "other"


def _span(x: float, bounds: tuple[float, float]) -> float:
    return _clip((x - bounds[0]) / (bounds[1] - bounds[0]))


class PlaceObservation(VehicleObservation):
    """``vehicle`` plus where the vehicle is on a real drive (``World.place``): the modem KPIs
    as its planner sees them (a reporting delay late), the network mode, its speed, the time
    since the last reported handover and, when the preset names a coverage map, the map's cells
    along the route over the next 1, 3 and 5 s at the current speed. In a world without a
    place (synthetic links), or where the map has not seen a cell, the features are 0 and the
    matching "unknown" flag is 1. The position itself is not a feature (a learner would learn
    the roads of its training drives, not coverage)."""

    name = "place"
    #: look-ahead horizons (s) over the coverage map, in 1 s steps along the route
    horizons_s = (1, 3, 5)

    def _features(self) -> tuple[Feature, ...]:
        kpi = "modem report (romanus.sim.place.Place.kpis)"
        late = "drive.kpi_delay_s (default 1 s) + up to one logging tick"
        f = [
            Feature("place_known", "0/1", "the world is a real drive (World.place)", "current", "as is"),
            Feature("kpi_age", "s", f"{kpi}: age of the newest report (1 if none)", "current", f"x/{_AGE_MAX_S:g}"),
        ]
        for name, unit, (lo, hi) in (("rsrp", "dBm", _RSRP_DBM), ("rsrq", "dB", _RSRQ_DB), ("snr", "dB", _SNR_DB)):
            f.append(Feature(f"kpi_{name}", unit, f"{kpi}: {name.upper()}", late, f"(x - ({lo:g}))/{hi - lo:g}"))
        f.append(Feature("kpi_cqi", "index", f"{kpi}: CQI (0..15)", late, f"x/{_CQI_MAX:g}"))
        for name in ("rsrp", "rsrq", "snr", "cqi"):
            f.append(Feature(f"kpi_{name}_unknown", "0/1", f"{kpi}: {name.upper()} not reported", late, "as is"))
        for fam in (*_MODE_FAMILIES, "other"):
            f.append(
                Feature(f"mode_{fam}", "0/1", f"{kpi}: network mode is {fam} (5G NSA is nr)", late, "one-hot (0: none)")
            )
        f += [
            Feature("speed", "m/s", "the vehicle's speed (Place.speed_mps)", "current", f"x/{_SPEED_MAX_MPS:g}"),
            Feature(
                "since_handover",
                "s",
                "time since the newest reported cell change (1 if none or unknown)",
                late,
                f"x/{_HANDOVER_AGE_MAX_S:g}",
            ),
        ]
        for h in self.horizons_s:
            src = f"coverage map, the route's cells 1..{h} s ahead at the current speed"
            f += [
                Feature(
                    f"ahead_{h}s_uplink",
                    "Mbit/s",
                    f"{src}: mean of the cells' mean uplink capacity",
                    "training drives",
                    f"log1p(x)/log1p({_CAPACITY_MAX_MBPS:g})",
                ),
                Feature(
                    f"ahead_{h}s_outage",
                    "probability",
                    f"{src}: mean of the cells' share of time below the map's outage threshold",
                    "training drives",
                    "as is",
                ),
                Feature(
                    f"ahead_{h}s_handover",
                    "probability",
                    f"{src}: P(a handover) = 1 - exp(-sum of the cells' handovers per s x 1 s)",
                    "training drives",
                    "as is",
                ),
                Feature(
                    f"ahead_{h}s_unknown",
                    "share",
                    f"{src}: share of those cells the map has not seen (1: no map or no place)",
                    "current",
                    "as is",
                ),
            ]
        return super()._features() + tuple(f)

    def __init__(self, preset: Preset, catalogue: ModeCatalogue, energy_scale_mj: float = 1.0) -> None:
        super().__init__(preset, catalogue, energy_scale_mj)
        self.coverage: CoverageMap | None = None
        if preset.coverage_map is not None:
            self.coverage = _coverage_cached(preset.coverage_map)
        self._horizon_max = max(self.horizons_s)
        self._unknown = self._place_features(None, 0.0)

    def _place_features(self, place: Place | None, now: float) -> list[float]:
        if place is None:
            out = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
            for _ in self.horizons_s:
                out += [0.0, 0.0, 0.0, 1.0]
            return out
        k = place.kpis(now)
        out = [1.0, _clip(k.age_s / _AGE_MAX_S) if k.valid else 1.0]
        values = (k.rsrp_dbm, k.rsrq_db, k.snr_db, k.cqi)
        scaled = (
            _span(k.rsrp_dbm, _RSRP_DBM),
            _span(k.rsrq_db, _RSRQ_DB),
            _span(k.snr_db, _SNR_DB),
            _clip(k.cqi / _CQI_MAX),
        )
        known = [k.valid and v == v for v in values]  # NaN: not reported
        out += [s if ok else 0.0 for s, ok in zip(scaled, known, strict=True)]
        out += [0.0 if ok else 1.0 for ok in known]
        family: str = mode_family(k.mode) if k.valid else ""
        family = family if family in _MODE_FAMILIES or not family else "other"
        out += [1.0 if family == fam else 0.0 for fam in (*_MODE_FAMILIES, "other")]
        out.append(_clip(place.speed_mps(now) / _SPEED_MAX_MPS))
        out.append(_clip(place.seconds_since_handover(now) / _HANDOVER_AGE_MAX_S))
        if self.coverage is None:
            for _ in self.horizons_s:
                out += [0.0, 0.0, 0.0, 1.0]
            return out
        cells = place.lookahead(now, self.coverage, float(self._horizon_max))
        seen = 0
        up = outage = rate = 0.0
        j = 0
        for h in self.horizons_s:  # running sums over the cells 1..h s ahead
            while j < h:
                c = cells[j]
                j += 1
                if c is not None:
                    seen += 1
                    up += c.uplink_mean_mbps
                    outage += c.outage_share
                    rate += c.handovers_per_s
            if seen == 0:
                out += [0.0, 0.0, 0.0, 1.0]
            else:
                out += [_log_rate(up / seen), _clip(outage / seen), _clip(1.0 - math.exp(-rate)), 1.0 - seen / h]
        return out

    def _vehicle(self, view: VehicleView) -> list[float]:
        out = super()._vehicle(view)
        place = view.place
        out += self._unknown if place is None else self._place_features(place, view.time_s)
        return out


class RiskPlaceObservation(PlaceObservation, RiskObservation):
    """``risk``'s features, then ``place``'s: the learner of a map-aware study sees the
    vehicle's own risk assessment and where it is."""

    name = "risk_place"


#: a coverage map file, read once per process (ValueError naming the file otherwise)
_coverage_cached = functools.lru_cache(maxsize=16)(load_coverage)


OBSERVATIONS: dict[str, type[VehicleObservation]] = {
    VehicleObservation.name: VehicleObservation,
    OracleObservation.name: OracleObservation,
    RiskObservation.name: RiskObservation,
    PlaceObservation.name: PlaceObservation,
    RiskPlaceObservation.name: RiskPlaceObservation,
}


def make_observation(name: str, preset: Preset, catalogue: ModeCatalogue, energy_scale_mj: float) -> VehicleObservation:
    try:
        cls = OBSERVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown observation {name!r} (known: {', '.join(OBSERVATIONS)})") from None
    return cls(preset, catalogue, energy_scale_mj)
