"""The vehicle's estimates of each mode's latency, energy and deadline-miss probability.

:class:`Estimator` gives expected latency and energy from mean measurements (with an
optional pessimism margin). A margin on mean values misses the point: a frame misses
through the *tail* of the sum of its uplink time, RTT and downlink time.
:class:`RiskEstimator` estimates that tail from what the vehicle measures, with no
knowledge of the link model:

- **uplink**: the capacity path over the coming periods is drawn from the recent history (the
  last ``history_s``): the periods that followed a period whose rate was nearest the current
  one, at the modem's reporting resolution (:data:`SLOT_MS`), scaled by the current rate over
  that period's; a payload's transfer time is read off each path from the moment it is ready,
  so a transfer of a few tens of ms sees the fading within a period (a period's mean rate
  hid it: with 40 ms coherence, Highway5G, the estimate was 2-3x anti-conservative);
- **downlink**: the capacity over the coming period is the capacity over the last period
  times a ratio drawn from the same neighbours' period-to-period ratios;
- **outage onsets** (a period in which either link has no capacity after one in which both
  had some): their probability per period is one Beta posterior for both links, the onsets
  counted in the history on top of a prior of one onset per ``onset_prior_s`` worth
  ``onset_prior_s`` of driving (``[assumed]`` 30 s, as in the default preset; a shorter
  history cannot tell a rare hole from none). A hole takes both links; a prior per link
  double-counted it and, on a link without outages, added a spurious term. An onset in the
  coming period makes an offload miss, so no offloading mode is estimated safer than that;
- **RTT**: the RTTs the transport layer measured from payload ACKs (the newest
  ``rtt_samples``; every payload that got through, so frames that missed their deadline
  count too and the tail is not censored), padded while there are few with quantiles of the
  preset's RTT model (the operator's published distribution, a prior);
- **server**: the queueing delay a request will see, as a distribution added to the RTT's: an
  equal-weight mixture of (a) the delays the server reported for the vehicle's own requests
  of the last :data:`WAIT_WINDOW_S` (with each result, or a queued request's cancellation;
  at least :data:`MIN_WAITS`) and (b) the newest telemetry report's delay plus the
  report-to-report changes that followed the :data:`REPORT_NEIGHBOURS` reports of the last
  :data:`REPORT_HISTORY_S` whose delay was nearest it. (a) alone lags a congested queue
  (AdverseWeather's 2 workers at 70-97 % load move tens of ms within a second; with (a) alone
  the estimate was 1.6-2.5x anti-conservative there); (b) follows the newest level. With
  neither yet, the newest (delayed) telemetry's delay as a point;
- **map** (drive worlds, off by default): given a coverage map, the chance that a handover
  begins in the coming period, from the handover rate the training drives saw in the map
  cell one period ahead (:meth:`RiskEstimator.map_onset`), counted as an outage onset. On
  the held-out irish-5g day it did not improve the estimate (docs/policies.md), so no
  shipped user turns it on; without a place (synthetic worlds) it is 0;
- **KPIs** (drive worlds, off by default): given ``kpi_scale_db``, the neighbours of the
  capacity samples are the periods nearest in log rate *and* in the modem's SNR as the vehicle
  saw it then (a reporting delay late), an SNR difference of ``kpi_scale_db`` weighing as much
  as a factor e in rate: a path from a similar radio condition, not only a similar rate.
  Measured on the irish-5g days (docs/policies.md); without a place it is inert;
- **radio**: the modem's RRC state; offloading from idle waits for a promotion (the latency
  samples include it) and pays the promotion and a tail, in the tail it extends the tail
  (:meth:`romanus.sim.costs.EnergyModel.offload_state_mj`).

P(miss) of an offloading mode = P(onset) + (1 - P(onset)) x the mean over the capacity
samples of P(RTT (+ server wait) > the slack they leave), the RTT part exact from the RTT
samples' survival function (convolved with the waits'), so the joint estimate uses every
(capacity, RTT, wait) combination. Its calibration on seeds and days it was not tuned on
(issue 16: tuned on seeds 300-339 and the drives' training days):
``experiments/calibration/calibration.py``, results in docs/policies.md. Local modes are
deterministic given the accelerator backlog. The estimate is causal and deterministic: it draws no random numbers.

Two users: the ``risk-budget-greedy@EPS`` policy (the least expected energy among the modes
robust enough for the scene whose P(miss) <= EPS) and the environment's *shield*
(``env.shield.risk_budget``), which masks (and, for unmasked learners, replaces) the modes
whose P(miss) exceeds the budget, so a learner explores only within the risk budget
(shielded RL, Alshiekh et al., AAAI 2018).
"""

from __future__ import annotations

import functools
import math
from collections import deque
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import signal as _signal

from romanus.config import Preset, RttConfig
from romanus.coverage import CapacityLibrary, CoverageMap, load_library
from romanus.pipeline.modes import ModeCatalogue
from romanus.sim.actions import ActionTable
from romanus.sim.costs import EnergyModel, ModeCosts
from romanus.sim.radio import CONNECTED
from romanus.vehicle.view import VehicleView

__all__ = [
    "CAPACITY_WINDOW_S",
    "OUTAGE_MBPS",
    "RTT_PRIOR_MS",
    "Estimator",
    "RiskAssessor",
    "RiskEstimator",
    "Shield",
    "cheapest_within",
    "rtt_prior_ms",
]

RTT_PRIOR_MS = 30.0  # [assumed] the vehicle's RTT guess before its first measured response
#: [assumed] resolution of the modem's throughput reports (one LTE/NR radio frame is 10 ms)
SLOT_MS = 10.0
#: the server queueing delays of the vehicle's own requests count this long (s) ...
WAIT_WINDOW_S = 5.0
#: ... and are used when there are at least this many
MIN_WAITS = 10
#: the server's telemetry reports (queueing delay a request arriving then would see) count
#: this long (s) [assumed: 120 reports at the default 500 ms period; long enough to hold every
#: background level of the presets (mean dwell 15-20 s), short enough to follow them]
REPORT_HISTORY_S = 60.0
#: the report-to-report changes of this many reports whose queueing delay was nearest the
#: newest report's form the report-based wait distribution [assumed: a third of a full
#: history; 20 and 40 were compared on AdverseWeather's tuning seeds 300-339, issue 16]
REPORT_NEIGHBOURS = 40
#: ... which is used from this many report pairs on (before: the measured waits alone, or
#: with neither the newest report's delay as a point)
MIN_REPORTS = 10
CAPACITY_WINDOW_S = 0.5  # window of the mean-capacity estimate

_GRID_MS = 0.25  # resolution of the RTT survival function
_DIRECT_CONVOLVE = 4_000_000  # above this many products, convolve by FFT (exact to ~1e-15)
#: a period's mean rate below this (Mbit/s) is an outage: slot edges summed in floating point
#: can leave a sliver of a neighbouring slot's capacity in a period that is all outage
OUTAGE_MBPS = 1e-6


class Estimator:
    """Expected latency (ms) and energy (mJ) of every mode from the vehicle's measurements.

    latency = max(local path, remote path) + fusion, where the local path is the accelerator
    backlog + the mode's vehicle work, and the remote path adds the uplink backlog, payload /
    capacity estimate, RTT estimate, reported server wait, server time and result / downlink
    estimate. Energy = :class:`romanus.sim.costs.EnergyModel` at the estimated times, plus for
    offloading modes the marginal energy of the radio's states (offloading from idle pays a
    promotion and a whole tail: a commitment over the next seconds, not a per-frame cost).
    ``pessimism`` scales capacity down by (1 - pessimism) and RTT and server wait up by
    (1 + pessimism).
    """

    def __init__(self, preset: Preset, catalogue: ModeCatalogue, pessimism: float = 0.0) -> None:
        self.energy = EnergyModel(preset)
        self.costs = c = ModeCosts(catalogue, self.energy)
        self.prefix = c.prefix_ms
        self.vehicle = c.vehicle_ms
        self.up_mbit = c.up_mbit
        self.down_mbit = c.down_mbit
        self.server_ms = c.server_ms
        self.offloads = c.offloads
        self.compute_mj = c.compute_mj
        self.fusion_ms = preset.pipeline.fusion_ms
        self.pessimism = pessimism

    def radio_mj(self, up_ms: np.ndarray, down_ms: np.ndarray, modes: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Radio energy of ``modes``' payloads and results on the air for the given times."""
        return self.energy.uplink_mj(self.up_mbit[modes], up_ms / 1000.0) + self.energy.downlink_mj(
            self.down_mbit[modes], down_ms / 1000.0
        )

    def __call__(self, view: VehicleView) -> tuple[np.ndarray, np.ndarray]:
        k = 1.0 - self.pessimism
        up = view.uplink_mbps(CAPACITY_WINDOW_S) * k
        down = view.downlink_mbps(CAPACITY_WINDOW_S) * k
        rtt = view.rtt_estimate_ms
        rtt = (RTT_PRIOR_MS if rtt is None else rtt) * (1.0 + self.pessimism)
        report = view.server_report
        wait = 0.0 if report is None else report.wait_ms * (1.0 + self.pessimism)
        backlog = view.accelerator_backlog_ms
        with np.errstate(divide="ignore"):
            up_ms = (
                np.where(self.up_mbit > 0, self.up_mbit / up * 1000.0, 0.0)
                if up > 0
                else np.where(self.offloads, np.inf, 0.0)
            )
            down_ms = self.down_mbit / down * 1000.0 if down > 0 else np.where(self.offloads, np.inf, 0.0)
        local = backlog + self.vehicle
        queued = view.uplink_backlog_ms + self.promotion_ms(view)
        remote = backlog + self.prefix + queued + up_ms + rtt + wait + self.server_ms + down_ms
        latency = np.where(self.offloads, np.maximum(local, remote), local) + self.fusion_ms
        radio = np.where(self.offloads, self.radio_mj(up_ms, down_ms) + self.state_mj(view), 0.0)
        return latency, self.compute_mj + radio

    def actions(self, view: VehicleView) -> tuple[np.ndarray, np.ndarray]:
        """Expected latency (ms) and energy (mJ) of every action (:mod:`romanus.sim.actions`).

        An action with a fallback is expected to fall back when the expected remote path (or
        its own vehicle work) ends after its fallback time: its latency is then the fallback
        time + the fallback's vehicle time + fusion, and its energy adds the fallback's compute."""
        latency, energy = self(view)
        table = view.actions
        if not table.has_fallback:
            return latency, energy
        mode, option = table.mode, table.fallback
        lat, en = latency[mode], energy[mode]
        fb = table.fallback_mode[view.scene]
        times = [math.inf, *(math.inf if t is None else t for t in view.fallback_times_ms())]
        at = np.asarray(times)[option]
        late = (option > 0) & (lat - self.fusion_ms > at)
        lat = np.where(late, at + self.vehicle[fb] + self.fusion_ms, lat)
        en = np.where(late, en + self.compute_mj[fb], en)
        return lat, en

    def promotion_ms(self, view: VehicleView) -> float:
        """The promotion an offload waits for: a whole one from idle (also, as an upper bound,
        while one is under way), none while connected."""
        return 0.0 if view.radio_state == CONNECTED else self.energy.promotion_s * 1000.0

    def state_mj(self, view: VehicleView) -> float:
        """What offloading now adds to the radio's state energy (promotion and full tail from
        idle, the tail's extension in it; :meth:`EnergyModel.offload_state_mj`)."""
        return self.energy.offload_state_mj(view.radio_state, view.time_since_transfer_s)


def path_geometry(preset: Preset) -> tuple[int, int]:
    """(slots per period at the modem's reporting resolution :data:`SLOT_MS`, periods of path a
    transfer may need: up to the longest abandon time) of the uplink paths the estimate draws."""
    slots = max(1, round(preset.period_ms / SLOT_MS))
    return slots, max(1, math.ceil(preset.abandon_ms / preset.period_ms - 1e-9))


def rtt_prior_ms(cfg: RttConfig, n: int = 200) -> np.ndarray:
    """``n`` evenly spaced quantiles (midpoints) of the shifted-gamma RTT model, in ms.

    Computed from the gamma density by numerical integration (no random draws; exact to well
    under the survival grid's resolution); a shape below 1 or a scale the grid cannot resolve
    uses SciPy's gamma quantile function.
    """
    if cfg.scale_ms == 0.0:
        return np.full(n, cfg.shift_ms)
    k, theta = cfg.shape, cfg.scale_ms
    q = (np.arange(n) + 0.5) / n
    if k >= 1.0:  # the shipped models: a bounded density the grid integrates well
        hi = theta * (k + 12.0 * math.sqrt(k) + 20.0)
        with np.errstate(all="ignore"):
            x = np.linspace(0.0, hi, 20001)[1:]
            logpdf = (k - 1.0) * np.log(x) - x / theta - math.lgamma(k) - k * math.log(theta)
            pdf = np.exp(logpdf)
            cdf = np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) * 0.5 * np.diff(x))])
        if math.isfinite(cdf[-1]) and cdf[-1] > 0.0:
            return cfg.shift_ms + np.interp(q, cdf / cdf[-1], x)
    # a density unbounded at 0 (shape < 1) or a scale the grid cannot resolve (subnormal,
    # overflowing): the gamma quantile function
    from scipy.stats import gamma

    return cfg.shift_ms + np.nan_to_num(gamma.ppf(q, k, scale=theta), nan=0.0, posinf=np.finfo(float).max)


class RiskEstimator:
    """Per-mode deadline-miss probability and expected energy from the vehicle's measurements.

    Call :meth:`observe` once per decision (it records the last period's link rates and any
    new RTT), then :meth:`assess`. ``history_s`` bounds the capacity-ratio history;
    ``min_history`` ratios are needed before an offload is judged possible (before that every
    offloading mode has P(miss) = 1: with no evidence the vehicle keeps its frames local).
    """

    def __init__(
        self,
        preset: Preset,
        catalogue: ModeCatalogue,
        *,
        history_s: float = 120.0,
        min_history: int = 20,
        neighbours: int = 200,
        rtt_samples: int = 200,
        onset_prior_s: float = 30.0,
        coverage: CoverageMap | None = None,
        kpi_scale_db: float | None = None,
        population: CapacityLibrary | None = None,
        population_weight_s: float | None = None,
    ) -> None:
        e = Estimator(preset, catalogue)
        self._e = e
        self.period_s = preset.period_ms / 1000.0
        self._abandon_after_ms = preset.abandon_after_ms
        self.abandon_ms = preset.abandon_ms  # the longest a frame can be in flight
        self._cap = max(2, round(history_s / self.period_s) + 1)
        self.min_history = min_history
        self.neighbours = neighbours
        self._prior_periods = onset_prior_s / self.period_s
        self._up = np.zeros(self._cap)
        self._down = np.zeros(self._cap)
        # the uplink within each period, at the modem's reporting resolution
        self._slots, self._ahead = path_geometry(preset)
        self._slot_ms = preset.period_ms / self._slots
        self._up_slots = np.zeros((self._cap, self._slots))
        self._n = 0  # rates recorded (the newest at index (n - 1) % cap)
        self._prior = rtt_prior_ms(preset.rtt)
        self._rtt_cap = rtt_samples
        self._rtts = np.zeros(rtt_samples)
        self._n_rtt = 0
        self._last_s = -math.inf
        self._surv: np.ndarray | None = None
        self._grid_n = math.ceil(self.abandon_ms / _GRID_MS) + 2
        self._local_ms = e.vehicle + e.fusion_ms
        self._fixed_ms = e.prefix + e.server_ms + e.fusion_ms
        self.offloads = e.offloads
        self._cand_cache: dict[bytes, _Candidates] = {}
        self._last: _Last | None = None  # the tail's inputs of the last assessment
        #: the server's reported queueing delays of our recent requests: (learnt at s, ms)
        self._waits: deque[tuple[float, float]] = deque()
        self._wait_surv: np.ndarray | None = None
        self._wait_weight: np.ndarray | None = None
        self._telemetry: np.ndarray | None = None  # the telemetry set of wait_samples (cached)
        #: the server's telemetry: (report time s, queueing delay ms) of the last REPORT_HISTORY_S
        self._reports: deque[tuple[float, float]] = deque()
        #: the coverage map of the world's drive (None: no map term; see :meth:`map_onset`)
        self.coverage = coverage
        if kpi_scale_db is not None and not (math.isfinite(kpi_scale_db) and kpi_scale_db > 0.0):
            raise ValueError(f"kpi_scale_db must be a positive number of dB, got {kpi_scale_db!r}")
        #: the SNR difference (dB) that weighs as a factor e in rate when choosing neighbours
        #: (None: rate only); the SNR the vehicle saw per period (NaN: no report)
        self.kpi_scale_db = kpi_scale_db
        self._snr = np.full(self._cap, np.nan)
        if population is not None and (
            population.period_ms != preset.period_ms
            or population.slots != self._slots
            or population.ahead != self._ahead
        ):
            raise ValueError(
                f"capacity library of {population.ahead} periods of {population.period_ms:g} ms in "
                f"{population.slots} slots; this estimate draws {self._ahead} of {preset.period_ms:g} ms in "
                f"{self._slots}"
            )
        #: the population prior on the uplink path (None: the window's own history only), worth
        #: ``population_weight_s`` of driving (default: the onset prior's ``onset_prior_s``),
        #: less the transitions of this world's own drive
        own = library_source(preset)
        self.population = population.without(own) if population is not None and own is not None else population
        self._population_periods = (onset_prior_s if population_weight_s is None else population_weight_s) / (
            self.period_s
        )

    # -- measurements ----------------------------------------------------------------------

    def observe(self, view: VehicleView) -> None:
        """Record the last period's uplink and downlink rates and the newest measured RTT."""
        i = self._n % self._cap
        up, down = view.uplink_mbps(self.period_s), view.downlink_mbps(self.period_s)
        self._up[i] = up if up > OUTAGE_MBPS else 0.0
        self._down[i] = down if down > OUTAGE_MBPS else 0.0
        slots = view.uplink_slot_mbps(self.period_s, self._slots)
        slots[slots <= OUTAGE_MBPS] = 0.0
        self._up_slots[i] = slots
        if self.kpi_scale_db is not None:
            place = view.place
            self._snr[i] = place.kpis(view.time_s).snr_db if place is not None else math.nan
        self._n += 1
        for rtt in view.acked_rtts_ms(self._last_s):
            self._rtts[self._n_rtt % self._rtt_cap] = rtt
            self._n_rtt += 1
            self._surv = None
            self._wait_surv = None  # built on the RTT's survival
        changed = False
        for w in view.server_waits_ms(self._last_s):
            self._waits.append((view.time_s, w))
            changed = True
        while self._waits and self._waits[0][0] < view.time_s - WAIT_WINDOW_S:
            self._waits.popleft()
            changed = True
        rep = view.server_report
        if rep is not None and (not self._reports or rep.time_s > self._reports[-1][0]):
            self._reports.append((rep.time_s, rep.wait_ms))
            self._telemetry = None
            changed = True
        while self._reports and self._reports[0][0] < view.time_s - REPORT_HISTORY_S:
            self._reports.popleft()
            self._telemetry = None
            changed = True
        if changed:
            self._wait_weight = self._wait_surv = None
        self._last_s = view.time_s

    def _ordered(self, buf: np.ndarray) -> np.ndarray:
        n = min(self._n, self._cap)
        if self._n <= self._cap:
            return buf[:n]
        i = self._n % self._cap
        return np.concatenate([buf[i:], buf[:i]])

    def _onsets(self, up: np.ndarray, down: np.ndarray) -> tuple[np.ndarray, float]:
        """(the transitions of the history with both links up before and after, P(an outage
        begins on either link in the coming period)).

        One Beta posterior for both links: an outage onset is a period in which either link
        has no capacity after one in which both had some, counted on top of one prior onset per
        ``onset_prior_s``. A coverage hole takes both links at once, and on a link without
        outages (every synthetic downlink) a prior of its own added a spurious
        1 / (periods + prior) to every offload's risk (Highway5G's 0.5-1 % bucket was 0.64x
        observed / predicted on the tuning seeds with two priors). ``up``, ``down``: the ordered
        rate histories."""
        live = (up > 0.0) & (down > 0.0)
        ok = live[:-1]
        stay = ok & live[1:]
        p_onset = (float(ok.sum() - stay.sum()) + 1.0) / (float(ok.sum()) + self._prior_periods)
        return stay, p_onset

    def _distance(self, prev: np.ndarray, now: float, at: np.ndarray, snr: np.ndarray | None) -> np.ndarray:
        """How far the history's periods ``at`` (rates ``prev``) are from now: the log-rate
        difference, plus the SNR difference over ``kpi_scale_db`` where both are known (``snr``:
        the ordered SNR history, None without the KPI term)."""
        d = np.abs(np.log(prev / now))
        if snr is not None and self.kpi_scale_db is not None:
            gap = np.abs(snr[at] - snr[-1]) / self.kpi_scale_db
            d += np.nan_to_num(gap, nan=0.0)
        return d

    def _predict(self, r: np.ndarray, now: float, stay: np.ndarray, snr: np.ndarray | None = None) -> np.ndarray:
        """Samples of the coming period's rate if no outage begins.

        The samples are ``now`` times the period-to-period ratios of the history (the
        transitions in ``stay``, both links up) whose earlier rate was nearest ``now`` (in log
        rate; ``r``: the ordered rate history): fades revert to the mean, so a low rate tends to
        rise and a high one to fall."""
        prev, nxt = r[:-1][stay], r[1:][stay]
        if len(prev) > self.neighbours:
            d = self._distance(prev, now, np.flatnonzero(stay), snr)
            keep = np.argpartition(d, self.neighbours)[: self.neighbours]
            prev, nxt = prev[keep], nxt[keep]
        return now * (nxt / prev)

    def _paths(self, now: float, r: np.ndarray, stay: np.ndarray, snr: np.ndarray | None = None) -> np.ndarray:
        """Cumulative uplink capacity in Mbit at the slot edges of sampled paths over the
        coming ``_ahead`` periods, shape (samples, slots + 1), if no outage begins.

        A path is the history after a period whose rate was nearest ``now`` (the neighbours of
        :meth:`_predict`, among the transitions in ``stay``), at the modem's reporting
        resolution, scaled by ``now`` over that period's rate: a transfer of a few tens of ms
        sees the fading within a period, which a period's mean rate hides (with 40 ms
        coherence, as on Highway5G, that made the estimate 2-3x anti-conservative). ``r``: the
        ordered uplink rate history."""
        fine = self._ordered(self._up_slots)
        n, k_ahead = len(r), self._ahead
        prev = r[:-1]
        start = np.arange(1, n)  # the period after each transition
        usable = np.flatnonzero(stay & (start + k_ahead <= n))
        if len(usable) > self.neighbours:
            d = self._distance(prev[usable], now, usable, snr)
            usable = usable[np.argpartition(d, self.neighbours)[: self.neighbours]]
        j = start[usable]
        if len(j) == 0:
            return np.zeros((0, k_ahead * self._slots + 1))
        paths = fine[j[:, None] + np.arange(k_ahead)[None, :]].reshape(len(j), -1)
        paths *= (now / prev[usable])[:, None]
        if self.population is not None:
            # the library weighs as the onset prior's seconds of driving against the history's
            # usable transitions (romanus.vehicle.population)
            k = min(MAX_POPULATION, round(len(j) * self._population_periods / max(int(stay.sum()), 1)))
            if k > 0:
                rate, more = self.population.nearest(now, k)
                paths = np.concatenate([paths, more * (now / rate)[:, None]])
        cum = np.zeros((len(paths), paths.shape[1] + 1))
        np.cumsum(paths * (self._slot_ms / 1000.0), axis=1, out=cum[:, 1:])
        return cum

    def _transfer_ms(self, cum: np.ndarray, offset_ms: np.ndarray, mbit: np.ndarray) -> np.ndarray:
        """Time (ms) to send ``mbit`` starting ``offset_ms`` after now along each path, per
        transfer (rows) and path (columns); inf where the path ends first."""
        m, edges = cum.shape
        slots = edges - 1
        x = np.clip(offset_ms * (1.0 / self._slot_ms), 0.0, float(slots))
        k0 = np.minimum(x.astype(np.intp), slots - 1)
        frac = x - k0
        cum_t = cum.T  # (edges, paths): each edge's row is contiguous
        c0 = cum_t[k0]  # (transfers, paths)
        target = cum_t[k0 + 1] - c0
        target *= frac[:, None]
        target += c0
        target += mbit[:, None]  # the path's capacity carried when the transfer ends
        # the first slot edge at which the path has carried the target: the edges before it are below
        k = np.zeros(target.shape, dtype=np.intp)
        for e in range(1, edges):
            k += cum_t[e] < target
        flat = cum_t.ravel()  # edge e of path j at e * m + j
        col = np.arange(m)
        hi_at = np.minimum(k + 1, slots) * m + col
        lo = flat[hi_at - m]
        hi = flat[hi_at]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (target - lo) / (hi - lo)
        t += np.minimum(k, slots - 1)
        t *= self._slot_ms
        t[k >= slots] = np.inf
        t -= offset_ms[:, None]
        return t

    def wait_samples(self) -> list[np.ndarray]:
        """The server queueing delay (ms) our next request may see: up to two equally weighted
        sample sets (empty: no evidence yet, the newest report's delay is used as a point).

        - **measured**: the delays the server reported for our own requests of the last
          :data:`WAIT_WINDOW_S` (at least :data:`MIN_WAITS`);
        - **telemetry**: the newest report's delay plus the report-to-report changes that
          followed the :data:`REPORT_NEIGHBOURS` reports of the last :data:`REPORT_HISTORY_S`
          whose delay was nearest it (at least :data:`MIN_REPORTS` pairs), floored at 0.

        The measured set alone lags: its delays were learnt with results, over 5 s in which a
        congested queue's level moves by tens of ms (AdverseWeather: 2 workers at 70-97 %
        background load), so it understated the tail when the queue was rising (1.6-2.5x
        anti-conservative). The telemetry set follows the newest level (reports are 250-750 ms
        old) with the spread the queue showed from similar levels over one report period; the
        measured set hedges what telemetry misses (our own requests since the report)."""
        out = []
        if len(self._waits) >= MIN_WAITS:
            out.append(np.fromiter((w for _, w in self._waits), float, len(self._waits)))
        if self._telemetry is None and len(self._reports) > MIN_REPORTS:
            r = np.fromiter((w for _, w in self._reports), float, len(self._reports))
            prev, nxt = r[:-1], r[1:]
            now = r[-1]
            if len(prev) > REPORT_NEIGHBOURS:
                keep = np.argsort(np.abs(prev - now), kind="stable")[:REPORT_NEIGHBOURS]
                prev, nxt = prev[keep], nxt[keep]
            self._telemetry = np.maximum(now + (nxt - prev), 0.0)
        if self._telemetry is not None:
            out.append(self._telemetry)
        return out

    def _wait_weights(self) -> np.ndarray | None:
        """The :meth:`wait_samples`' probability per survival-grid cell (index -1: a delay
        beyond the grid), trimmed after the last nonzero cell; None without samples. Cached
        until a wait or a report arrives."""
        if self._wait_weight is None:
            sets = self.wait_samples()
            if not sets:
                return None
            g = self._grid_n  # grid cells; a delay of g cells or more leaves no slack
            cells = [np.minimum(np.round(w * (1.0 / _GRID_MS)).astype(np.intp), g) for w in sets]
            top = max(int(c.max()) for c in cells) + 1
            weight = np.zeros(top)
            for c in cells:  # a set's weights sum to 1 / the number of sets
                weight += np.bincount(c, minlength=top) * (1.0 / (len(c) * len(sets)))
            self._wait_weight = weight
        return self._wait_weight

    def _queue_survival(self) -> np.ndarray | None:
        """P(RTT + server wait > x) on the survival grid, from the RTT samples and the
        :meth:`wait_samples` (None without any: then the telemetry's wait, a point, is used)."""
        if self._wait_surv is None:
            weight = self._wait_weights()
            if weight is None:
                return None
            rtt = self._survival()
            g = self._grid_n
            # P(R + w > x) = P(R > x - w): 1 for x < w, else the RTT's survival at x - w
            below = np.zeros(g)
            k = min(len(weight), g)
            below[:k] = np.cumsum(weight)[:k]
            if len(weight) < g:
                below[k:] = below[k - 1]
            out = np.empty(g + 1)
            if k * g <= _DIRECT_CONVOLVE:
                out[:g] = np.convolve(weight[:k], rtt[:g])[:g]
            else:  # long horizons (a user's abandon_after_ms of seconds): O(g log g), not O(k g)
                out[:g] = np.clip(_signal.oaconvolve(weight[:k], rtt[:g])[:g], 0.0, 1.0)
            out[:g] += 1.0 - below
            out[g] = 1.0  # index -1: a sample that leaves no slack misses
            self._wait_surv = out
        return self._wait_surv

    def _survival(self) -> np.ndarray:
        """P(RTT > x) at x = 0, grid, 2 grid, ... ms."""
        if self._surv is None:
            measured = self._rtts[: min(self._n_rtt, self._rtt_cap)]
            pad = max(0, len(self._prior) - len(measured))
            # while there are few measurements, the prior's evenly spaced quantiles fill in
            take = np.round(np.linspace(0, len(self._prior) - 1, pad)).astype(np.intp)
            fill = self._prior[take] if pad else np.zeros(0)
            samples = np.sort(np.concatenate([measured, fill]))
            grid = np.arange(self._grid_n) * _GRID_MS
            surv = 1.0 - np.searchsorted(samples, grid, side="right") / len(samples)
            self._surv = np.append(surv, 1.0)  # index -1: a sample that leaves no slack misses
        return self._surv

    # -- assessment --------------------------------------------------------------------------

    def assess(self, view: VehicleView, candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(P(miss), expected energy mJ) of every mode; offloading modes outside ``candidates``
        (a boolean mask) are not evaluated and get P(miss) = 1 and the compute energy.
        :meth:`late` then gives P(the result is not back by a time) from the same samples."""
        e = self._e
        deadline = view.deadline_ms
        backlog = view.accelerator_backlog_ms
        p = np.where(backlog + self._local_ms > deadline + 1e-9, 1.0, 0.0)
        energy = e.compute_mj.copy()
        self._last = None
        off = self.offloads if candidates is None else self.offloads & candidates
        cand = self._candidates(off)
        idx = cand.idx
        if len(idx) == 0:
            return p, energy
        p[idx] = 1.0
        up_now = view.uplink_mbps(self.period_s)
        down_now = view.downlink_mbps(self.period_s)
        if up_now <= OUTAGE_MBPS or down_now <= OUTAGE_MBPS or min(self._n, self._cap) <= self.min_history:
            return p, energy
        up_hist, down_hist = self._ordered(self._up), self._ordered(self._down)  # once per assessment
        snr = self._ordered(self._snr) if self.kpi_scale_db is not None else None
        stay, p_outage = self._onsets(up_hist, down_hist)
        cum = self._paths(up_now, up_hist, stay, snr)
        down = self._predict(down_hist, down_now, stay, snr)
        if len(cum) > len(down) > 0:  # the population's paths: the window's own downlink, repeated
            down = np.resize(down, len(cum))
        m = min(len(cum), len(down))
        if m < self.min_history:
            return p, energy
        cum, down = cum[:m], down[:m]
        # (modes x samples) matrices, computed in place: this is the hot path of a shielded env
        queued = backlog + view.uplink_backlog_ms + e.promotion_ms(view)
        # each distinct (prefix, payload) once
        up_ms = self._transfer_ms(cum, queued + cand.u_prefix_ms, cand.u_mbit)[cand.u_inv]
        down_ms = cand.down_mbit / down[None, :]
        down_ms *= 1000.0
        rep = view.server_report
        queue_surv = self._queue_survival()  # measured waits of our own requests, with the RTT
        wait = 0.0 if rep is None or queue_surv is not None else rep.wait_ms
        fixed = queued + wait + cand.fixed_ms
        slack = (deadline - fixed)[:, None] - up_ms  # what the RTT may take
        slack -= down_ms
        p_map = self.map_onset(view)
        if p_map > 0.0:
            p_outage = 1.0 - (1.0 - p_outage) * (1.0 - p_map)
        self._last = _Last(slack, p_outage, m, cand, backlog, deadline, queue_surv)
        p_off = self._tail(0.0)
        p[idx] = np.where(backlog + cand.local_ms > deadline + 1e-9, 1.0, p_off)
        horizon_ms = deadline if self._abandon_after_ms is None else self._abandon_after_ms
        up_t = np.minimum(up_ms, horizon_ms, out=up_ms).sum(axis=1) * (1.0 / m)
        down_t = np.minimum(down_ms, horizon_ms, out=down_ms).sum(axis=1) * (1.0 / m)
        energy[idx] += e.radio_mj(up_t, down_t, idx) + e.state_mj(view)
        return p, energy

    def map_onset(self, view: VehicleView) -> float:
        """P(a handover begins in the coming period) from the coverage map: the handover rate
        the training drives saw in the map cell one period ahead along the route (0 without a
        place, a map or a known cell). Off unless the estimator was given a map: on the
        held-out irish-5g day it did not improve the estimate (docs/policies.md)."""
        place = view.place
        if self.coverage is None or place is None:
            return 0.0
        cell = place.lookahead(view.time_s, self.coverage, self.period_s, self.period_s)[0]
        if cell is None:
            return 0.0
        # [assumed] a handover interruption (50-300 ms, docs/drives.md) in the coming period
        # makes an offload miss, as an outage onset does
        return 1.0 - math.exp(-cell.handovers_per_s * self.period_s)

    def _tail(self, extra_ms: float) -> np.ndarray:
        """P(remote path + fusion > deadline - ``extra_ms``) per candidate of the last
        :meth:`assess`: the outage onset, else the mean over the capacity samples of the RTT's
        survival at the slack they leave."""
        assert self._last is not None
        slack, p_outage, m = self._last.slack, self._last.p_outage, self._last.samples
        surv = self._last.surv if self._last.surv is not None else self._survival()  # surv[-1] = 1: no slack
        g = slack - extra_ms if extra_ms else slack.copy()
        g *= 1.0 / _GRID_MS  # the survival grid's cell of the slack
        np.minimum(g, len(surv) - 2.0, out=g)
        g[g < 0.0] = -1.0
        return p_outage + (1.0 - p_outage) * surv.take(g.astype(np.intp)).sum(axis=1) * (1.0 / m)  # type: ignore[no-any-return]

    def late(self, n_modes: int, budget_ms: float) -> np.ndarray:
        """P(the result is not back ``budget_ms`` after capture), per mode, for the frame of the
        last :meth:`assess` (1 for modes it did not evaluate: no evidence, no offload)."""
        out = np.ones(n_modes)
        if self._last is None:
            return out
        cand, backlog, deadline = self._last.cand, self._last.backlog_ms, self._last.deadline_ms
        e = self._e
        # back by the budget: remote path + fusion <= budget + fusion
        pk = self._tail(deadline - budget_ms - e.fusion_ms)
        out[cand.idx] = np.where(backlog + cand.local_ms - e.fusion_ms > budget_ms + 1e-9, 1.0, pk)
        return out

    def _candidates(self, off: np.ndarray) -> _Candidates:
        """Per-mode constants of a set of offloading modes (cached: the set depends only on
        the scene and the static mask)."""
        key = off.tobytes()
        found = self._cand_cache.get(key)
        if found is None:
            e, idx = self._e, np.flatnonzero(off)
            pairs, inv = np.unique(np.stack([e.prefix[idx], e.up_mbit[idx]], axis=1), axis=0, return_inverse=True)
            found = _Candidates(
                idx,
                e.up_mbit[idx, None],
                e.down_mbit[idx, None],
                self._fixed_ms[idx],
                self._local_ms[idx],
                pairs[:, 0].copy(),
                pairs[:, 1].copy(),
                inv.reshape(-1),
            )
            self._cand_cache[key] = found
        return found


class _Candidates(NamedTuple):
    idx: np.ndarray
    up_mbit: np.ndarray  # (n, 1)
    down_mbit: np.ndarray  # (n, 1)
    fixed_ms: np.ndarray
    local_ms: np.ndarray
    # the distinct (vehicle work before the payload is ready, payload Mbit) of the candidates,
    # and each candidate's row among them
    u_prefix_ms: np.ndarray
    u_mbit: np.ndarray
    u_inv: np.ndarray


class _Last(NamedTuple):
    slack: np.ndarray  # (candidates x samples) ms the RTT may take
    p_outage: float
    samples: int
    cand: _Candidates
    backlog_ms: float
    deadline_ms: float
    surv: np.ndarray | None  # P(RTT + server wait > x) when measured waits are used


def library_source(preset: Preset) -> str | None:
    """The name a capacity library knows ``preset``'s drive by (its file name), or None for a
    world without a drive."""
    return Path(preset.drive.file).name if preset.drive is not None else None


#: the most capacity-library paths added to one assessment (early in a window the history is
#: short and the population prior's share large; romanus.vehicle.population)
MAX_POPULATION = 400
#: a capacity library file, read once per process (ValueError naming the file otherwise)
_library_cached = functools.lru_cache(maxsize=4)(load_library)


class RiskAssessor:
    """A :class:`RiskEstimator` fed once per decision and assessed once per frame, shared by
    whatever reads it in that decision (the shield, the ``risk`` observation, a policy).

    It returns P(risky): the deadline-miss probability of the modes robust enough for the
    scene, 1 for the others (a frame in a mode not robust enough is risky whatever its
    latency; they are not evaluated)."""

    def __init__(
        self,
        preset: Preset,
        catalogue: ModeCatalogue,
        *,
        coverage: CoverageMap | None = None,
        kpi_scale_db: float | None = None,
    ) -> None:
        population = _library_cached(preset.capacity_library) if preset.capacity_library else None
        self.estimator = RiskEstimator(
            preset, catalogue, coverage=coverage, kpi_scale_db=kpi_scale_db, population=population
        )
        self.robust = [catalogue.robust_ok[:, s] for s in range(len(catalogue.scenes))]
        fallback = ActionTable(catalogue, preset.fallback.options_ms, preset.fallback.tier).fallback_mode
        self._fb_compute_mj = self.estimator._e.compute_mj[fallback]
        self._frame = -1
        self._result: tuple[np.ndarray, np.ndarray] = (np.ones(len(catalogue)), np.zeros(len(catalogue)))
        self._actions_frame = self._actions_p_frame = -1
        self._actions: tuple[np.ndarray, np.ndarray] = self._result
        self._actions_p = self._result[0]
        self._option_rows: list[tuple[np.ndarray, np.ndarray]] | None = None

    def __call__(self, view: VehicleView) -> tuple[np.ndarray, np.ndarray]:
        """(P(miss), expected energy mJ) of every mode for the frame ``view`` decides."""
        if view.frame != self._frame:
            self.estimator.observe(view)
            robust = self.robust[view.scene]
            p, energy = self.estimator.assess(view, view.mask & robust)
            p[~robust] = 1.0
            self._result = (p, energy)
            self._frame = view.frame
        return self._result

    def actions_p(self, view: VehicleView) -> np.ndarray:
        """P(risky) of every action (the part of :meth:`actions` a shield's mask needs)."""
        p_mode, _ = self(view)
        table = view.actions
        if not table.has_fallback:
            return p_mode
        if self._actions_p_frame != view.frame:
            if self._option_rows is None:  # per option: its actions and their modes
                self._option_rows = [
                    (np.flatnonzero(table.fallback == k), table.mode[table.fallback == k])
                    for k in range(1, len(table.options_ms) + 1)
                ]
            p = p_mode[table.mode]
            not_robust = ~self.robust[view.scene]
            for (rows, modes), t in zip(self._option_rows, view.fallback_times_ms(), strict=True):
                p[rows] = 1.0 if t is None else not_robust[modes]
            self._actions_p = p
            self._actions_p_frame = view.frame
        return self._actions_p

    def actions(self, view: VehicleView) -> tuple[np.ndarray, np.ndarray]:
        """(P(risky), expected energy mJ) of every action (:mod:`romanus.sim.actions`).

        With a fallback that can finish in time, a frame is risky only if the fallback cannot
        finish (excluded by the fallback time, up to preemption by fallbacks of earlier
        deadlines armed later) or the offloaded mode is not robust enough and its result comes
        back in time: P(risky) = 0 for robust modes. Expected energy adds the fallback's compute
        times P(the result is not back by the fallback time). Infeasible fallbacks get P = 1."""
        p_mode, e_mode = self(view)
        table = view.actions
        if not table.has_fallback:
            return p_mode, e_mode
        if self._actions_frame != view.frame:
            mode, option = table.mode, table.fallback
            p = self.actions_p(view)
            energy = e_mode[mode]
            fb_mj = float(self._fb_compute_mj[view.scene])
            for k, t in enumerate(view.fallback_times_ms(), start=1):
                if t is not None:
                    sel = option == k
                    energy[sel] += self.estimator.late(len(p_mode), t)[mode[sel]] * fb_mj
            self._actions = (p, energy)
            self._actions_frame = view.frame
        return self._actions


def cheapest_within(score: np.ndarray, energy: np.ndarray, allowed: np.ndarray, limit: float) -> int:
    """The least expected energy mode of ``allowed`` whose ``score`` (P(miss), or expected
    latency) is within ``limit``; if there is none, the allowed mode with the lowest score
    (then the cheapest)."""
    ok = allowed & (score <= limit)
    if ok.any():
        cand = np.flatnonzero(ok)
        return int(cand[np.argmin(energy[cand])])
    cand = np.flatnonzero(allowed)
    return int(cand[np.lexsort((energy[cand], score[cand]))[0]])


class Shield:
    """The safety shield of ``env.shield``: which actions (modes, and offloading modes with a
    local fallback: :mod:`romanus.sim.actions`) a learner may pick for this frame."""

    def __init__(self, assessor: RiskAssessor, budget: float, *, energy_guard: bool = False) -> None:
        self.assessor = assessor
        self.budget = budget
        self.energy_guard = energy_guard

    def mask(self, view: VehicleView) -> np.ndarray:
        """``view.action_mask`` narrowed to the actions within the risk budget (never empty:
        if no action is, the ones least likely to be risky). With ``energy_guard``, an
        offloading action is allowed only if its expected energy is at most that of the
        least-energy allowed action that does not offload (when there is one): the offloads the
        ``risk-budget-greedy`` heuristic would weigh as losing energy are left out, and a
        learner chooses among the ones expected to pay."""
        p = self.assessor.actions_p(view)
        can = view.action_mask
        ok = can & (p <= self.budget)
        if not ok.any():
            return can & (p <= p[can].min())
        if self.energy_guard:
            offloads = self.assessor.estimator.offloads[view.actions.mode]
            local = ok & ~offloads
            if local.any():
                _, energy = self.assessor.actions(view)
                ok &= ~offloads | (energy <= energy[local].min())
        return ok

    def replacement(self, view: VehicleView) -> int:
        """The action that replaces a shielded one: the least expected energy allowed one."""
        p, energy = self.assessor.actions(view)
        return cheapest_within(p, energy, self.mask(view), 1.0)
