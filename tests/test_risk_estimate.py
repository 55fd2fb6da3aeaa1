"""The risk estimate's terms against cases computed by hand or in closed form (issue 16)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from romanus.config import load_preset
from romanus.coverage import CellStats, CoverageMap
from romanus.sim.simulator import Simulator
from romanus.vehicle import estimates as est_mod
from romanus.vehicle.estimates import _GRID_MS, MIN_REPORTS, MIN_WAITS, REPORT_NEIGHBOURS, RiskEstimator
from romanus.vehicle.view import next_view


def _estimator(preset_name: str = "default", overrides: dict[str, object] | None = None, **kw: float) -> RiskEstimator:
    preset = load_preset(preset_name, overrides or {})
    return RiskEstimator(preset, Simulator(preset, 0).catalogue, **kw)  # type: ignore[arg-type]


def _assert_same_estimates(seed: int, **kw: object) -> None:
    """The default world without a place: an estimator with ``kw`` gives bit for bit the
    estimates of one without, frame by frame, offloading two frames in three."""
    preset = load_preset("default")
    a, b = Simulator(preset, seed), Simulator(preset, seed)
    ea, eb = RiskEstimator(preset, a.catalogue), RiskEstimator(preset, b.catalogue, **kw)  # type: ignore[arg-type]
    offload = int(np.flatnonzero(a.catalogue.offload_mask)[0])
    for i in range(150):
        va, vb = next_view(a), next_view(b)
        ea.observe(va)
        eb.observe(vb)
        pa, ja = ea.assess(va)
        pb, jb = eb.assess(vb)
        assert np.array_equal(pa, pb) and np.array_equal(ja, jb)
        mode = offload if i % 3 else 0
        a.step(mode)
        b.step(mode)


def _set_rtts(est: RiskEstimator, rtts: list[float]) -> None:
    est._rtts[: len(rtts)] = rtts
    est._n_rtt = len(rtts)
    est._surv = est._wait_surv = None


def test_queue_survival_is_the_rtt_and_wait_sum_computed_by_hand() -> None:
    """P(RTT + wait > x) from equally weighted sample sets, against the exact sum over pairs."""
    est = _estimator()
    rtts = [20.0, 30.0, 45.0, 60.0] * 50  # 200 measured RTTs: the prior is not used
    _set_rtts(est, rtts)
    waits = [0.0, 0.0, 5.0, 12.5, 40.0, 0.0, 7.25, 3.0, 0.0, 25.0]
    assert len(waits) == MIN_WAITS
    est._waits.extend((1.0, w) for w in waits)
    surv = est._queue_survival()
    assert surv is not None
    grid = np.arange(len(surv) - 1) * _GRID_MS
    # exact: the mean over (RTT, wait) pairs of [RTT + wait > x]
    r = np.array(rtts)[:, None]
    w = np.array(waits)[None, :]
    total = (r + w).ravel()
    exact = (total[None, :] > grid[:, None] + 1e-9).mean(axis=1)
    assert np.allclose(surv[:-1], exact, atol=1e-12)
    assert surv[-1] == 1.0


@pytest.mark.parametrize("direct", [True, False])
def test_queue_survival_on_a_long_horizon_matches_the_pairwise_sum(
    direct: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's abandon_after_ms of seconds gives a grid of tens of thousands of cells: the
    convolution then runs by FFT (a direct one took 90 ms per update and hung the fuzz test);
    both ways agree with the exact sum over (RTT, wait) pairs."""
    if direct:
        monkeypatch.setattr(est_mod, "_DIRECT_CONVOLVE", 10**12)
    est = _estimator(overrides={"abandon_after_ms": 8000.0})
    assert est._grid_n > 30_000
    rng = np.random.default_rng(5)
    rtts = list(rng.uniform(10.0, 400.0, 200).round(2))
    _set_rtts(est, rtts)
    waits = list(rng.uniform(0.0, 6000.0, MIN_WAITS).round(2))
    est._waits.extend((1.0, w) for w in waits)
    surv = est._queue_survival()
    assert surv is not None
    grid = np.arange(len(surv) - 1) * _GRID_MS
    # the wait is rounded to the grid (the estimate's resolution); RTTs are not
    w_cells = np.round(np.array(waits) / _GRID_MS) * _GRID_MS
    total = (np.array(rtts)[:, None] + w_cells[None, :]).ravel()
    exact = 1.0 - np.searchsorted(np.sort(total), grid + 1e-9, side="right") / len(total)
    assert np.allclose(surv[:-1], exact, atol=1e-9)
    assert ((surv >= 0.0) & (surv <= 1.0)).all()


def test_report_based_waits_follow_the_newest_report_with_the_changes_seen_near_it() -> None:
    """Reports alternate 10 -> 30 -> 10 ...: from a newest report of 10 ms the changes seen
    after 10 ms reports are +20 ms, so the telemetry set is 30 ms; with the measured set (a
    point at 2 ms) the wait is 2 or 30 ms, half each."""
    est = _estimator()
    _set_rtts(est, [10.0] * 200)
    series = [10.0, 30.0] * 60 + [10.0]  # 121 reports, newest 10 ms: 60 changes from 10 ms
    est._reports.extend((0.5 * i, w) for i, w in enumerate(series))
    sets = est.wait_samples()
    assert len(sets) == 1  # no measured waits yet
    assert len(sets[0]) == REPORT_NEIGHBOURS
    assert np.all(sets[0] == 30.0)
    est._waits.extend((1.0, 2.0) for _ in range(MIN_WAITS))
    est._telemetry = est._wait_weight = est._wait_surv = None
    surv = est._queue_survival()
    assert surv is not None
    cell = round(1.0 / _GRID_MS)  # survival at x: RTT 10 + wait in {2, 30}
    assert surv[11 * cell] == pytest.approx(1.0)  # 12 > 11 and 40 > 11
    assert surv[int(13 / _GRID_MS)] == pytest.approx(0.5)  # only 40 > 13
    assert surv[int(39 / _GRID_MS)] == pytest.approx(0.5)
    assert surv[int(41 / _GRID_MS)] == pytest.approx(0.0)


def test_report_changes_are_floored_at_zero_and_need_enough_reports() -> None:
    est = _estimator()
    est._reports.extend((0.5 * i, 0.0) for i in range(MIN_REPORTS))
    assert est.wait_samples() == []  # MIN_REPORTS reports: MIN_REPORTS - 1 pairs, too few
    est._reports.clear()
    est._telemetry = None
    series = [50.0, 0.0] * 20 + [5.0]  # from 50 the queue emptied: a change of -50 ms
    est._reports.extend((0.5 * i, w) for i, w in enumerate(series))
    (tele,) = est.wait_samples()
    assert tele.min() == 0.0 and np.all(tele >= 0.0)


def test_queue_wait_tail_matches_an_mm1_queue() -> None:
    """An M/M/1 queue at load 0.8 (mean service 10 ms): the waits of Poisson arrivals have
    P(W > x) = rho exp(-(mu - lambda) x). Fed that queue's reports (every 500 ms, as the
    server's telemetry) and its arrivals' waits, the estimate's P(RTT + W > x) with a
    constant RTT must follow the closed form."""
    rng = np.random.default_rng(5)
    lam, mu = 0.08, 0.1  # per ms
    n = 200_000
    arrive = np.cumsum(rng.exponential(1 / lam, n))
    service = rng.exponential(1 / mu, n)
    wait = np.zeros(n)
    for i in range(1, n):  # Lindley's recursion
        wait[i] = max(0.0, wait[i - 1] + service[i - 1] - (arrive[i] - arrive[i - 1]))
    est = _estimator()
    _set_rtts(est, [5.0] * 200)
    # telemetry: the wait an arrival at each report time would see (the next arrival's, close)
    times = np.arange(1, int(arrive[-1] / 500.0)) * 500.0
    at = np.searchsorted(arrive, times)
    reports = wait[at]
    rho = lam / mu
    xs = np.array([10.0, 20.0, 40.0])
    closed = rho * np.exp(-(mu - lam) * xs)
    # the estimate at many report times (each with the last REPORT_HISTORY_S of reports and
    # the last WAIT_WINDOW_S of own waits, here 1 in 10 arrivals), averaged: the long-run tail
    hist = int(est_mod.REPORT_HISTORY_S * 2)
    acc = np.zeros(len(xs))
    k = 0
    for j in range(hist, len(times), 7):
        est._reports.clear()
        est._telemetry = None
        est._reports.extend(
            zip((times[j - hist + 1 : j + 1] / 1000.0).tolist(), reports[j - hist + 1 : j + 1].tolist(), strict=True)
        )
        est._waits.clear()
        own = np.flatnonzero((arrive > times[j] - est_mod.WAIT_WINDOW_S * 1000.0) & (arrive <= times[j]))[::10]
        est._waits.extend((1.0, float(w)) for w in wait[own])
        est._telemetry = est._wait_weight = est._wait_surv = None
        surv = est._queue_survival()
        assert surv is not None
        acc += surv[np.round((xs + 5.0) / _GRID_MS).astype(int)]
        k += 1
    assert k > 100
    assert acc / k == pytest.approx(closed, rel=0.15)


def test_constant_link_miss_probability_is_the_rtt_tail_in_closed_form() -> None:
    """Constant links, an idle server, no RTT measured (the prior: the preset's gamma): an
    offload misses when RTT > the slack, P = p_onset + (1 - p_onset) P(RTT > slack), with the
    onset probability the prior's (1 / (periods + 300) per link: no onsets in the history)."""
    preset = load_preset(
        "default",
        {
            "uplink": {"model": "constant", "capacity_mbps": 8.0, "outage": None},
            "downlink": {"model": "constant", "capacity_mbps": 50.0, "outage": None},
            "rtt": {"shape": 2.0, "scale_ms": 15.0, "shift_ms": 10.0},
            "server": {"background": {"levels": {"low": 0.0}, "initial": "low"}},
            "radio": {"accounting": "connected"},
        },
    )
    sim = Simulator(preset, 4)
    est = RiskEstimator(preset, sim.catalogue)
    local = int(np.flatnonzero(~sim.catalogue.offload_mask)[0])
    for _ in range(60):  # local frames: history, no RTT measurement
        view = next_view(sim)
        est.observe(view)
        sim.step(local)
    view = next_view(sim)
    est.observe(view)
    p, _ = est.assess(view)
    assert est._n_rtt == 0
    e = est._e
    periods = 60  # transitions recorded before this frame's (61 rates)
    onset = 1.0 / (periods + 300.0)
    p_onset = 1.0 - (1.0 - onset) ** 2
    sample = 10.0 + np.random.default_rng(0).gamma(2.0, 15.0, 1_000_000)
    checked = 0
    for m in np.flatnonzero(sim.catalogue.offload_mask):
        backlog = view.accelerator_backlog_ms + view.uplink_backlog_ms
        slack = (
            view.deadline_ms
            - backlog
            - e.prefix[m]
            - e.up_mbit[m] / 8.0 * 1000.0
            - e.down_mbit[m] / 50.0 * 1000.0
            - e.server_ms[m]
            - e.fusion_ms
        )
        if view.accelerator_backlog_ms + e.vehicle[m] + e.fusion_ms > view.deadline_ms or slack <= 12.0:
            continue
        tail = float(np.mean(sample > slack))
        expected = p_onset + (1.0 - p_onset) * tail
        # the prior's 200 quantiles and the 0.25 ms grid: within 1/200 and a grid cell
        assert p[m] == pytest.approx(expected, abs=0.006 + 0.5 * tail * _GRID_MS / 15.0)
        checked += 1
    assert checked >= 5


class _Place:
    def __init__(self, cell: CellStats | None) -> None:
        self.cell = cell
        self.asked: list[tuple[float, float]] = []

    def lookahead(self, t: float, cmap: CoverageMap, horizon_s: float, step_s: float = 1.0) -> tuple[CellStats | None]:
        self.asked.append((horizon_s, step_s))
        return (self.cell,)


def test_one_outage_onset_posterior_for_both_links() -> None:
    """A hole on either link is one onset, counted once, on one prior: an uplink-only and a
    downlink-only onset and a joint one are three onsets among the periods with both links up;
    the transitions that keep both links up are the ones the capacity samples come from."""
    est = _estimator()
    up = np.full(400, 5.0)
    down = np.full(400, 20.0)
    up[[50, 51]] = 0.0  # an uplink hole of two periods: one onset
    down[120] = 0.0  # a downlink-only hole
    up[300], down[300] = 0.0, 0.0  # a joint hole: one onset, not two
    est._up[:400], est._down[:400] = up, down
    est._n = 400
    stay, p = est._onsets(est._ordered(est._up), est._ordered(est._down))
    live = (up > 0.0) & (down > 0.0)
    ok = int(live[:-1].sum())
    assert ok == 399 - 4  # the periods in the holes are not followed by a transition counted
    assert p == pytest.approx((3 + 1) / (ok + est._prior_periods))
    assert int(stay.sum()) == ok - 3
    assert not stay[[49, 50, 51, 119, 120, 299, 300]].any()
    # no outages at all: the prior alone, once (with a prior per link it was twice this)
    est._up[:400], est._down[:400] = 5.0, 20.0
    _, p0 = est._onsets(est._ordered(est._up), est._ordered(est._down))
    assert p0 == pytest.approx(1.0 / (399 + est._prior_periods))


def test_kpi_neighbours_pick_the_periods_of_a_similar_snr() -> None:
    """With ``kpi_scale_db`` the capacity samples come from the periods nearest in log rate and
    SNR: two groups at the same rate, one at high SNR followed by a rise, one at low SNR
    followed by a fall; the samples follow the group whose SNR is now's. Rate only: a mix."""
    est = _estimator()
    n = 401
    t = np.arange(n)
    up = np.full(n, 5.0)  # even periods at 5 Mbit/s, SNR alternately 20 and 0 dB
    snr = np.where(t % 4 == 0, 20.0, 0.0)
    up[1::2] = np.where(snr[:-1:2] == 20.0, 8.0, 3.0)  # after high SNR the rate rises, else falls
    est._up[:n], est._down[:n], est._snr[:n] = up, 20.0, snr
    est._n = n
    est.neighbours = 50
    hist = est._ordered(est._up)
    stay, _ = est._onsets(hist, est._ordered(est._down))
    now = float(up[-1])  # the newest period: 5 Mbit/s at 20 dB
    assert now == 5.0 and snr[-1] == 20.0
    mixed = est._predict(hist, now, stay)
    est.kpi_scale_db = 10.0
    high = est._predict(hist, now, stay, est._ordered(est._snr))
    est._snr[n - 1] = 0.0
    low = est._predict(hist, now, stay, est._ordered(est._snr))
    assert len(high) == len(low) == 50
    assert np.all(high > now) and np.all(low < now)
    assert (mixed > now).any() and (mixed < now).any()
    with pytest.raises(ValueError, match="kpi_scale_db"):
        _estimator(kpi_scale_db=0.0)


def test_kpi_term_changes_nothing_without_a_place() -> None:
    """A synthetic world has no KPIs: with or without the KPI term the estimates are equal."""
    _assert_same_estimates(5, kpi_scale_db=10.0)


def _cell(handovers_per_s: float) -> CellStats:
    return CellStats(
        seconds=100.0,
        drives=3,
        uplink_mean_mbps=10.0,
        uplink_p10_mbps=2.0,
        uplink_p50_mbps=9.0,
        uplink_p90_mbps=20.0,
        outage_share=0.0,
        handovers_per_s=handovers_per_s,
        mode_shares={"LTE": 1.0},
    )


def test_map_term_is_off_without_a_map_or_a_place_and_is_the_cell_handover_rate_otherwise() -> None:
    est = _estimator()
    cmap = CoverageMap((0.0, 0.0), 100.0, 1.0, {}, [], "dl_ratio")
    place = _Place(_cell(0.5))
    view = SimpleNamespace(place=place, time_s=3.0)
    assert est.map_onset(view) == 0.0  # type: ignore[arg-type]  # no map
    est.coverage = cmap
    assert est.map_onset(SimpleNamespace(place=None, time_s=3.0)) == 0.0  # type: ignore[arg-type]
    assert est.map_onset(view) == pytest.approx(1.0 - math.exp(-0.5 * 0.1))  # type: ignore[arg-type]
    assert place.asked == [(0.1, 0.1)]  # the cell one period ahead
    place.cell = None  # a cell the map has not seen
    assert est.map_onset(view) == 0.0  # type: ignore[arg-type]


def test_a_map_changes_nothing_in_a_synthetic_world() -> None:
    """No place: with or without a map the estimates are bit-identical."""
    cmap = CoverageMap((0.0, 0.0), 100.0, 1.0, {(0, 0): _cell(1.0)}, [], "dl_ratio")
    _assert_same_estimates(8, coverage=cmap)


@pytest.mark.parametrize(
    ("shape", "scale"), [(3.5, 5.5), (1.0, 5.0), (1e-6, 5.0), (3.5, 1e-320), (1e6, 5.0), (3.5, 1e300)]
)
def test_rtt_prior_is_the_gamma_quantiles_even_for_degenerate_shapes(shape: float, scale: float) -> None:
    """The prior's quantiles against SciPy's gamma quantile function: on the grid for the
    shipped shapes, exactly for a density unbounded at 0 or a scale the grid cannot resolve
    (a fuzzed subnormal scale made NaN quantiles, a shape of 1e-6 put them at 10-24 ms)."""
    import warnings

    from scipy.stats import gamma

    from romanus.config import RttConfig
    from romanus.vehicle.estimates import rtt_prior_ms

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prior = rtt_prior_ms(RttConfig(shape=shape, scale_ms=scale, shift_ms=10.0))
    q = (np.arange(200) + 0.5) / 200
    expected = 10.0 + gamma.ppf(q, shape, scale=scale)
    assert np.isfinite(prior).all()
    assert np.allclose(prior, expected, rtol=1e-3, atol=0.05)
