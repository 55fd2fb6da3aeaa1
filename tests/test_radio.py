"""The modem's RRC states and power (issue 14, docs/physics.md): promotion and tail, the
saturating LTE uplink power, accounting that adds up frame by frame, what the vehicle knows.

Expected values are computed here from the published constants (Huang et al. MobiSys 2012),
typed in independently of romanus.config, and from timelines integrated on a grid."""

from __future__ import annotations

import math

import numpy as np
import pytest

from romanus.config import ConfigError, Preset, load_preset
from romanus.policies import policy_for
from romanus.sim.costs import EnergyModel
from romanus.sim.radio import CONNECTED, IDLE, PROMOTION, Radio
from romanus.sim.records import kpis
from romanus.sim.simulator import Simulator
from romanus.vehicle.estimates import Estimator, RiskAssessor
from romanus.vehicle.observations import VehicleObservation
from romanus.vehicle.view import drive, next_view

BETA_MW, ALPHA_UP, ALPHA_DOWN, UP_MAX_EXTRA_MW = 1288.04, 438.39, 51.97, 1300.0
PROMOTION_S, PROMOTION_MW, TAIL_S, TAIL_MW = 0.2601, 1210.7, 11.576, 1060.0
PROMOTION_AND_TAIL_MJ = PROMOTION_MW * PROMOTION_S + TAIL_MW * TAIL_S  # 12585.5 mJ


def lte_uplink_mw(mbps: float) -> float:
    return BETA_MW + UP_MAX_EXTRA_MW * (1.0 - math.exp(-mbps * ALPHA_UP / UP_MAX_EXTRA_MW))


def constant(mbps: float, **extra: object) -> Preset:
    return load_preset(
        "default",
        overrides={
            "uplink": {"model": "constant", "capacity_mbps": mbps, "outage": None},
            "downlink": {"model": "constant", "capacity_mbps": 100.0},
            "server": {"background": {"levels": {"low": 0.0, "medium": 0.0, "high": 0.0}}},
            "scene": {"mix": {"city": 1.0}},
            **extra,
        },
    )


def drive_modes(sim: Simulator, modes: list[int]) -> None:
    for m in modes:
        sim.decision()
        sim.step(m)
    sim.drain()


def timeline_mj(history: list[tuple[float, float, bool]], edges: np.ndarray, dt: float = 1e-4) -> np.ndarray:
    """State energy (mJ) between consecutive ``edges``, integrated on a grid of ``dt`` from the
    RRC rules alone: on the air -> the transfer's (0 here), promoting -> PROMOTION_MW, within
    TAIL_S after any activity -> TAIL_MW, else idle."""
    t = np.arange(edges[0], edges[-1], dt) + dt / 2
    air = np.zeros(len(t), bool)
    promo = np.zeros(len(t), bool)
    tail = np.zeros(len(t), bool)
    for s, e, on_air in history:
        inside = (t >= s) & (t < e)
        (air if on_air else promo)[inside] = True
        tail |= (t >= e) & (t < e + TAIL_S)
    power = np.where(air, 0.0, np.where(promo, PROMOTION_MW, np.where(tail, TAIL_MW, 0.0)))
    cum = np.concatenate([[0.0], np.cumsum(power * dt)])
    idx = np.clip(np.round((edges - edges[0]) / dt).astype(int), 0, len(t))
    return np.diff(cum[idx])


def test_lte_parameters_come_from_huang_2012() -> None:
    p = load_preset("default").radio.parameters
    assert (p.base_mw, p.alpha_up_mw_per_mbps, p.alpha_down_mw_per_mbps) == (BETA_MW, ALPHA_UP, ALPHA_DOWN)
    assert (p.promotion_ms / 1000, p.promotion_mw, p.tail_ms / 1000, p.tail_mw) == (
        PROMOTION_S,
        PROMOTION_MW,
        TAIL_S,
        TAIL_MW,
    )
    e = EnergyModel(load_preset("default"))
    # slope alpha_u at 0, at most beta + 1.3 W (Huang's line gives 16 W at 34 Mbit/s)
    assert (e.uplink_power_mw(1e-6) - BETA_MW) / 1e-6 == pytest.approx(ALPHA_UP, rel=1e-4)
    assert e.uplink_power_mw(34.0) == pytest.approx(lte_uplink_mw(34.0), rel=1e-12) and e.uplink_power_mw(34.0) < 2600
    assert e.uplink_mj(0.4, 0.01) == pytest.approx(lte_uplink_mw(40.0) * 0.01, rel=1e-12)
    arr = e.uplink_mj(np.array([0.4, 0.0, 0.4]), np.array([0.01, 0.0, np.inf]))
    assert arr[0] == pytest.approx(lte_uplink_mw(40.0) * 0.01) and arr[1] == 0.0 and arr[2] == np.inf
    linear = EnergyModel(load_preset("default", {"radio": {"power_model": "huang_linear"}}))
    assert linear.uplink_mj(1.0, 0.1) == pytest.approx(ALPHA_UP * 1.0 + BETA_MW * 0.1, rel=1e-12)
    with pytest.raises(ConfigError, match="huang_linear has no fit"):
        load_preset("default", {"radio": {"technology": "5g", "power_model": "huang_linear"}})
    g5 = EnergyModel(load_preset("highway_5g"))
    assert g5.uplink_power_mw(76.0) == pytest.approx(1955.0 + 9.4 * 76.0)  # ~2.67 W (Narayanan 2021 fit)


def test_state_machine_by_hand() -> None:
    radio = Radio(EnergyModel(load_preset("default")), keep_history=True)
    assert radio.state_at(0.5) == (IDLE, math.inf)
    start = radio.begin(1.0)  # idle: a promotion first
    assert start == pytest.approx(1.0 + PROMOTION_S)
    assert radio.book(start, 1.3) == 0.0
    assert radio.state_at(1.1)[0] == PROMOTION
    assert radio.state_at(1.29) == (CONNECTED, 0.0)
    state, since = radio.state_at(5.0)
    assert state == CONNECTED and since == pytest.approx(3.7)
    assert radio.state_at(1.3 + TAIL_S + 0.01)[0] == IDLE
    assert radio.begin(5.0) == 5.0  # in the tail: no promotion, the tail restarts
    assert radio.book(5.0, 5.5) == 0.0
    assert radio.book(5.4, 5.6) == pytest.approx(0.1)  # the other direction overlaps 0.1 s
    assert radio.promotions == 1
    assert radio.idle_from() == pytest.approx(5.6 + TAIL_S)
    expected = PROMOTION_MW * PROMOTION_S + TAIL_MW * ((5.0 - 1.3) + TAIL_S)
    got = radio.state_mj(0.0, 2.0) + radio.state_mj(2.0, 6.0) + radio.state_mj(6.0, 30.0)
    assert got == pytest.approx(expected, rel=1e-12)
    assert radio.state_mj(0.0, 30.0) == 0.0  # handed out once


def test_one_isolated_offload_costs_promotion_and_tail_once() -> None:
    """Issue 14: default preset, constant 34 Mbit/s uplink, owned radio (radio.accounting:
    owned, the default): one offload among local frames costs the promotion and the tail once,
    ~12.6 J, and the offloaded frame misses (the promotion outlasts the deadline)."""
    sim = Simulator(constant(34.0), seed=0)
    city = sim.catalogue.scene_index("city")
    local, off = sim.catalogue.local_robust(city), sim.catalogue.offload_all(city)
    modes = [local] * 300
    modes[100] = off
    drive_modes(sim, modes)
    log = sim.log()
    rec = {r.frame: r for r in sim.records}
    assert sim.radio.promotions == 1
    assert not rec[100].deadline_met and rec[100].radio_transfer_mj == 0.0  # cancelled while promoting
    assert log["radio_mj"].sum() == pytest.approx(PROMOTION_AND_TAIL_MJ, rel=1e-9)
    assert 12_000 < log["radio_mj"].sum() < 13_000
    # time-sliced: frame n gets the energy of [capture n, capture n+1)
    edges = np.arange(301) * 0.1
    assert sim.radio.history is not None
    expected = timeline_mj(sim.radio.history, edges)
    assert np.allclose(log["radio_state_mj"][np.argsort(log["frame"])], expected, atol=0.5)
    assert rec[99].radio_state_mj == 0.0 and rec[100].radio_state_mj > 0.0 and rec[250].radio_state_mj == 0.0
    # the vehicle's estimate of offloading from idle carries the same commitment
    assert EnergyModel(sim.preset).offload_state_mj(IDLE, math.inf) == pytest.approx(PROMOTION_AND_TAIL_MJ)


def test_the_tail_after_the_last_offload_goes_to_the_last_frame() -> None:
    sim = Simulator(constant(34.0), seed=0)
    city = sim.catalogue.scene_index("city")
    modes = [sim.catalogue.offload_all(city)] * 20
    drive_modes(sim, modes)
    log = sim.log()
    last = next(r for r in sim.records if r.frame == 19)
    assert last.radio_state_mj > TAIL_MW * (TAIL_S - 0.1)
    edges = np.concatenate([np.arange(20) * 0.1, [sim.radio.idle_from()]])
    assert sim.radio.history is not None
    total = timeline_mj(sim.radio.history, edges).sum()
    assert log["radio_state_mj"].sum() == pytest.approx(total, rel=1e-4)
    k = kpis(log)
    assert k["radio_energy_per_frame_mj"] == pytest.approx(
        k["radio_transfer_energy_per_frame_mj"] + k["radio_state_energy_per_frame_mj"], rel=1e-12
    )


def test_state_energy_adds_up_over_frames_with_overlapping_frames() -> None:
    """Frames outliving the period (abandon 300 ms), random modes on the fading default link:
    the sum over frames equals an independent integration of the state timeline, and so does
    every frame's share."""
    sim = Simulator(load_preset("default", {"abandon_after_ms": 300.0}), seed=3)
    drive(sim, policy_for(sim, "random"), 1500)
    log = sim.log()
    assert sim.radio.history is not None and sim.radio.promotions >= 1
    edges = np.concatenate([np.arange(1500) * 0.1, [sim.radio.idle_from()]])
    expected = timeline_mj(sim.radio.history, edges)
    got = log["radio_state_mj"][np.argsort(log["frame"])]
    assert got.sum() == pytest.approx(expected.sum(), rel=1e-4)
    assert np.allclose(got, expected, atol=0.5)
    assert log["radio_mj"].sum() == pytest.approx(log["radio_transfer_mj"].sum() + got.sum(), rel=1e-12)


def test_base_power_is_counted_once_when_uplink_and_downlink_overlap() -> None:
    """Regression (issue 14): the base power was charged to the uplink and to the downlink
    for the time both were on the air. A slow uplink with frames outliving the period puts
    frame n+1's payload on the air while frame n's results come down."""
    sim = Simulator(constant(4.0, abandon_after_ms=400.0), seed=0)
    off = sim.catalogue.by_name["camera_both|camera=bottleneck-c6-b8"].index
    drive_modes(sim, [off] * 300)
    assert sim.radio.history is not None
    air = sorted((s, e) for s, e, on_air in sim.radio.history if on_air)
    total_air = sum(e - s for s, e in air)
    union, end = 0.0, -math.inf
    for s, e in air:
        if e > end:
            union += e - max(s, end)
            end = e
    assert total_air - union > 0.05  # they do overlap, for more than 50 ms in all
    up_s = sum(r.uplink_bytes * 8e-6 for r in sim.records) / 4.0  # constant 4 Mbit/s
    down_s = total_air - up_s  # constant 100 Mbit/s
    expected = BETA_MW * union + (lte_uplink_mw(4.0) - BETA_MW) * up_s + ALPHA_DOWN * 100.0 * down_s
    got = sum(r.radio_transfer_mj for r in sim.records)
    assert got == pytest.approx(expected, rel=1e-5)
    assert BETA_MW * (total_air - union) > 50.0  # what the old double count added


def test_mean_radio_power_with_a_large_payload_every_frame_stays_within_modem_power() -> None:
    """Issue 14: >= 100 kB offloaded every frame at 34 Mbit/s: the radio draws <= 4 W on
    average (measured modems); Huang's line, extrapolated, would draw far more."""

    def mean_power_w(**radio: object) -> float:
        sim = Simulator(constant(34.0, radio=radio), seed=0)
        mode = sim.catalogue.by_name["radar_fusion|range=raw"]
        assert mode.uplink_bytes >= 100_000
        drive_modes(sim, [mode.index] * 400)
        frames = [r for r in sim.records if r.frame < 399]  # the last frame carries the final tail
        return sum(r.radio_mj for r in frames) / (399 * 0.1) / 1000.0

    measured = mean_power_w()
    assert TAIL_MW / 1000 < measured <= 4.0
    on_air = 241336 * 8e-6 / 34.0  # per 100 ms period
    assert measured == pytest.approx(
        (lte_uplink_mw(34.0) * on_air + TAIL_MW * (0.1 - on_air)) / 100.0, rel=0.02
    )  # + the small downlink
    assert mean_power_w(power_model="huang_linear") > 4.0


def test_connected_accounting_charges_only_the_marginal_energy() -> None:
    sim = Simulator(constant(34.0, radio={"accounting": "connected"}), seed=0)
    city = sim.catalogue.scene_index("city")
    local, off = sim.catalogue.local_robust(city), sim.catalogue.offload_all(city)
    modes = [local] * 50
    modes[10] = off
    drive_modes(sim, modes)
    rec = next(r for r in sim.records if r.frame == 10)
    assert rec.deadline_met and sim.radio.promotions == 0  # no promotion to wait for
    assert sum(r.radio_state_mj for r in sim.records) == 0.0
    up_mbit = sim.catalogue.modes[off].uplink_bytes * 8e-6
    down_mbit = sim.catalogue.modes[off].downlink_bytes * 8e-6
    expected = (lte_uplink_mw(34.0) - TAIL_MW) * up_mbit / 34.0 + (
        ALPHA_DOWN * 100.0 + BETA_MW - TAIL_MW
    ) * down_mbit / 100.0
    assert rec.radio_mj == pytest.approx(expected, rel=1e-9)


def test_the_vehicle_sees_its_radio_and_prices_it() -> None:
    preset = constant(34.0)
    sim = Simulator(preset, seed=0)
    city = sim.catalogue.scene_index("city")
    local, off = sim.catalogue.local_robust(city), sim.catalogue.offload_all(city)
    obs = VehicleObservation(preset, sim.catalogue)
    names = [f.name for f in obs.features]
    est = Estimator(preset, sim.catalogue)
    offloads = sim.catalogue.offload_mask

    view = next_view(sim)
    assert view.radio_state == IDLE and view.time_since_transfer_s == math.inf
    x = obs.observe(view)
    assert x[names.index("radio_idle")] == 1.0 and x[names.index("time_since_transfer")] == 1.0
    latency, energy = est(view)
    assert est.state_mj(view) == pytest.approx(PROMOTION_AND_TAIL_MJ)
    assert np.all(latency[offloads] >= PROMOTION_S * 1000.0)  # it would wait for the promotion
    assert np.all(energy[offloads] >= est.compute_mj[offloads] + PROMOTION_AND_TAIL_MJ)
    sim.step(off)  # from idle: promotes
    assert next_view(sim).radio_state == PROMOTION
    sim.step(local)
    for _ in range(3):
        next_view(sim)
        sim.step(off)  # connected now: these go through
    view = next_view(sim)
    assert view.radio_state == CONNECTED and 0.0 < view.time_since_transfer_s < 0.1
    x = obs.observe(view)
    assert x[names.index("radio_connected")] == 1.0
    assert x[names.index("time_since_transfer")] == pytest.approx(view.time_since_transfer_s / TAIL_S, rel=1e-6)
    # in the tail, offloading extends it by the time since the last transfer
    assert est.state_mj(view) == pytest.approx(TAIL_MW * view.time_since_transfer_s, rel=1e-12)
    _, energy = est(view)
    assert np.all(energy[offloads] >= est.compute_mj[offloads] + TAIL_MW * view.time_since_transfer_s)
    assert np.all(energy[~offloads] == est.compute_mj[~offloads])


def test_risk_estimate_carries_the_state_cost() -> None:
    preset = load_preset("default")
    sim = Simulator(preset, seed=0)
    assessor = RiskAssessor(preset, sim.catalogue)
    for _ in range(60):  # local frames: the radio stays idle
        view = next_view(sim)
        p, energy = assessor(view)
        sim.step(sim.catalogue.local_robust(view.scene))
    assert view.radio_state == IDLE
    robust = sim.catalogue.robust_ok[:, view.scene] & sim.catalogue.offload_mask
    assert np.all(p[robust] == 1.0)  # the promotion alone outlasts the deadline
    e = assessor.estimator._e
    assert np.all(energy[robust] >= e.compute_mj[robust] + PROMOTION_AND_TAIL_MJ)


def test_a_vanishing_saturation_is_refused_not_overflowed() -> None:
    # found by the config fuzz: up_max_extra_mw = 5e-324 made alpha / X overflow to inf
    from romanus.config import ConfigError, load_preset

    with pytest.raises(ConfigError, match="up_max_extra_mw"):
        load_preset("default", {"radio": {"up_max_extra_mw": 5e-324}})
