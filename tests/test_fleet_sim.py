"""The fleet simulator: the cell's scheduler against analytic shares and a TTI-level PF
scheduler, the shared server against a plain SimPy FCFS resource, and a fleet of one against
the single-vehicle simulator."""

from __future__ import annotations

import math
from collections import defaultdict
from math import comb, sqrt

import numpy as np
import pytest
import simpy

from romanus.config import Preset, load_preset
from romanus.policies import make_policy
from romanus.rng import SeedPlan
from romanus.sim.fleet import (
    Cell,
    CellConfig,
    FleetSimulator,
    Transfer,
    diversity_gain,
    fleet_kpis,
    jain_index,
    vehicle_seed,
)
from romanus.sim.link import CapacitySeries, ConstantSource
from romanus.sim.simulator import Simulator
from romanus.sim.world import synthetic_world
from romanus.vehicle.view import VehicleView, next_view


def drive_fleet(fleet: FleetSimulator, policy: str, frames: int, seed: int = 0) -> None:
    pols = [
        make_policy(policy, fleet.catalogue, fleet.preset, np.random.default_rng([seed, i])) for i in range(len(fleet))
    ]
    for _ in range(frames):
        ds = fleet.decisions()
        fleet.step([p.act(VehicleView(v, d)) for p, v, d in zip(pols, fleet.vehicles, ds, strict=True)])
    fleet.drain()


# -- a fleet of one is the single vehicle ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "policy"),
    [
        ("default", "offload-all"),
        ("default", "random"),
        ("default", "offload-all+fallback"),
        ("highway_5g", "offload-all"),
        ("rural_lte", "random"),
    ],
)
def test_a_fleet_of_one_replays_the_single_vehicle_frame_for_frame(name: str, policy: str) -> None:
    preset = load_preset(name)
    sim = Simulator(preset, 11)
    fleet = FleetSimulator(preset, 1, 11)
    single = make_policy(policy, sim.catalogue, preset, np.random.default_rng(3))
    member = make_policy(policy, sim.catalogue, preset, np.random.default_rng(3))
    v = fleet.vehicles[0]
    for _ in range(400):
        sim.step(single.act(next_view(sim)))
        fleet.step([member.act(VehicleView(v, fleet.decisions()[0]))])
    sim.drain()
    fleet.drain()
    assert sum(r.offloaded for r in sim.records) > 50  # the uplink, server and radio were exercised
    assert v.records == sim.records  # every field of every frame, bit for bit
    assert v.log().idle_mj == sim.log().idle_mj


def test_vehicles_keep_their_worlds_when_the_fleet_grows(preset: Preset) -> None:
    """Local-only vehicles do not interact: vehicle 0 (and 1) see the same world in any fleet."""
    small, large = FleetSimulator(preset, 2, 5), FleetSimulator(preset, 6, 5)
    drive_fleet(small, "local-robust", 200)
    drive_fleet(large, "local-robust", 200)
    assert small.vehicles[0].records == large.vehicles[0].records
    assert small.vehicles[1].records == large.vehicles[1].records
    assert large.vehicles[1].records != large.vehicles[2].records  # each vehicle its own world
    assert vehicle_seed(5, 0) == 5 and len({vehicle_seed(5, i) for i in range(64)}) == 64


# -- the cell's scheduler ----------------------------------------------------------------------------


def test_diversity_gain_closed_forms() -> None:
    for k in range(1, 12):
        assert diversity_gain(k, "exponential") == pytest.approx(sum(1.0 / j for j in range(1, k + 1)))
        # E[max of k Rayleigh] / E[Rayleigh] = sum_j (-1)^(j+1) C(k, j) / sqrt(j)
        closed = sum((-1) ** (j + 1) * comb(k, j) / sqrt(j) for j in range(1, k + 1))
        assert diversity_gain(k, "rayleigh") == pytest.approx(closed, rel=1e-9)
        assert diversity_gain(k, "none") == 1.0


def _run_cell(config: CellConfig, capacities: list[float], sizes: list[float], starts: list[float]) -> list[float]:
    """End times of transfers of ``sizes`` Mbit on constant channels through a real Cell."""
    env = simpy.Environment()
    cell = Cell(env, config)
    ends: dict[int, float] = {}

    def start(i: int, _: object) -> None:
        series = CapacitySeries(ConstantSource(capacities[i], 0.1))
        cell.add(Transfer(series, env.now, sizes[i], math.inf, lambda x, t1, sent, i=i: ends.__setitem__(i, t1)))

    for i, t in enumerate(starts):
        env.timeout(t).callbacks.append(lambda ev, i=i: start(i, ev))
    env.run()
    return [ends[i] for i in range(len(sizes))]


def _fluid_reference(share: list[float], capacities: list[float], sizes: list[float]) -> list[float]:
    """Transfers all starting at 0: phases between completions, each user at share[k] * c_i."""
    left = dict(enumerate(sizes))
    t, ends = 0.0, [0.0] * len(sizes)
    while left:
        s = share[len(left)]
        dt = min(rem / (s * capacities[i]) for i, rem in left.items())
        t += dt
        for i in list(left):
            left[i] -= s * capacities[i] * dt
            if left[i] <= 1e-12:
                ends[i] = t
                del left[i]
    return ends


@pytest.mark.parametrize(
    ("scheduler", "fading"),
    [("proportional-fair", "rayleigh"), ("proportional-fair", "exponential"), ("round-robin", "rayleigh")],
)
def test_cell_shares_match_the_analytic_fluid_on_constant_channels(scheduler: str, fading: str) -> None:
    cfg = CellConfig(scheduler, fading)
    gain = (lambda k: diversity_gain(k, fading)) if scheduler == "proportional-fair" else (lambda k: 1.0)
    # k equal users: each at c G(k)/k, all end together at S k / (c G(k))
    for k in (1, 2, 4, 8, 16):
        ends = _run_cell(cfg, [20.0] * k, [0.4] * k, [0.0] * k)
        assert ends == pytest.approx([0.4 * k / (20.0 * gain(k))] * k, rel=1e-9)
    # heterogeneous channels and payloads: completions in phases
    caps, sizes = [5.0, 10.0, 20.0, 40.0], [0.3, 0.5, 0.4, 1.0]
    share = [0.0] + [gain(k) / k for k in range(1, 5)]
    assert _run_cell(cfg, caps, sizes, [0.0] * 4) == pytest.approx(_fluid_reference(share, caps, sizes), rel=1e-9)


def test_a_late_joiner_slows_the_first_transfer_by_its_share() -> None:
    cfg = CellConfig("round-robin")
    # alone for 0.1 s at 10 Mbit/s (1 Mbit of 2), then half each: the first needs 0.2 s more
    ends = _run_cell(cfg, [10.0, 10.0], [2.0, 0.5], [0.0, 0.1])
    assert ends[1] == pytest.approx(0.2)  # 0.5 Mbit at 5 Mbit/s
    assert ends[0] == pytest.approx(0.2 + 0.5 / 10.0)  # 0.5 Mbit while shared, the last 0.5 alone at 10


def _tti_pf_throughput(means: np.ndarray, fading: str, ttis: int, rng: np.random.Generator) -> np.ndarray:
    """A TTI-level proportional-fair scheduler (the outside truth): each TTI serves the user with
    the largest instantaneous rate over its EWMA throughput; returns each user's mean rate."""
    k = len(means)
    if fading == "rayleigh":
        x = rng.rayleigh(1.0, (ttis, k)) / math.sqrt(math.pi / 2.0)
    else:
        x = rng.exponential(1.0, (ttis, k))
    rates = x * means
    avg = means / k  # start near the fixed point
    got = np.zeros(k)
    alpha = 1.0 / 200.0  # PF's averaging window: 200 TTIs
    for t in range(ttis):
        i = int(np.argmax(rates[t] / avg))
        served = np.zeros(k)
        served[i] = rates[t, i]
        got += served
        avg = (1.0 - alpha) * avg + alpha * served
    return got / ttis


@pytest.mark.parametrize("fading", ["rayleigh", "exponential"])
@pytest.mark.parametrize("k", [2, 4, 8])
def test_fluid_pf_shares_match_a_tti_level_pf_scheduler(k: int, fading: str) -> None:
    rng = np.random.default_rng(100 + k)
    means = np.array([5.0, 10.0, 20.0, 40.0, 8.0, 15.0, 30.0, 12.0][:k])
    measured = _tti_pf_throughput(means, fading, 40_000, rng)
    fluid = means * diversity_gain(k, fading) / k
    assert measured == pytest.approx(fluid, rel=0.05)


def test_contention_lengthens_uplinks_in_a_real_fleet(preset: Preset) -> None:
    """Offload-all: the more vehicles, the fewer frames make their deadline."""
    met = {}
    for n in (1, 8):
        fleet = FleetSimulator(preset, n, 2)
        drive_fleet(fleet, "offload-all", 150)
        met[n] = np.mean([r.deadline_met for v in fleet.vehicles for r in v.records])
    assert met[8] < met[1] - 0.2


# -- the shared server -------------------------------------------------------------------------------


def test_shared_server_matches_a_simpy_fcfs_resource_request_by_request(preset: Preset) -> None:
    """Every vehicle's request and every background tenant's through one simpy.Resource(k):
    the same start instants as the fleet's server (requests that would start after their
    frame's abandonment leave the queue)."""
    seed, n, frames = 4, 6, 150
    fleet = FleetSimulator(preset, n, seed)
    fleet.request_log = []
    drive_fleet(fleet, "offload-all", frames)
    horizon = fleet.now
    log = fleet.request_log
    assert len(log) > 200
    # the background tenants, regenerated from the same seed
    bg = synthetic_world(preset, SeedPlan(seed), fleet.catalogue.scenes).background
    assert bg is not None
    background: list[tuple[float, float]] = []
    end = 0.0
    while end < horizon:
        times, services, end = bg.next_window()
        background += list(zip(times.tolist(), services.tolist(), strict=True))
    env = simpy.Environment()
    res = simpy.Resource(env, capacity=preset.server.workers)
    starts: dict[tuple[int, int], float | None] = {}

    def job(arrive: float, service: float, key: tuple[int, int] | None, abandon: float):  # type: ignore[no-untyped-def]
        yield env.timeout(arrive - env.now)
        req = res.request()
        got = yield req | env.timeout(abandon - env.now) if key is not None else req
        if key is not None and req not in got:
            req.cancel()
            starts[key] = None
            return
        if key is not None:
            starts[key] = env.now
        yield env.timeout(service)
        res.release(req)

    for a, s in background:
        if a < horizon:
            env.process(job(a, s, None, math.inf))
    for vehicle, frame, a, s, abandon in log:
        env.process(job(a, s, (vehicle, frame), abandon))
    env.run()
    records = {(v.index, r.frame): r for v in fleet.vehicles for r in v.records}
    waited = 0
    for vehicle, frame, a, _, abandon in log:
        rec = records[(vehicle, frame)]
        start = starts[(vehicle, frame)]
        if start is None:
            assert rec.server_wait_ms == pytest.approx((abandon - a) * 1000.0, abs=1e-6)
        else:
            assert rec.server_wait_ms == pytest.approx((start - a) * 1000.0, abs=1e-6)
            waited += rec.server_wait_ms > 0.5
    assert waited > 10  # requests really queued behind each other and the tenants
    per_vehicle = defaultdict(int)
    for vehicle, *_ in log:
        per_vehicle[vehicle] += 1
    assert len(per_vehicle) == n  # every vehicle reached the one server


# -- fleet KPIs and input checks -------------------------------------------------------------------------


def test_jain_index_and_fleet_kpis() -> None:
    assert jain_index([1.0, 1.0, 1.0]) == 1.0
    assert jain_index([1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)
    assert jain_index([0.0, 0.0]) == 1.0
    with pytest.raises(ValueError, match="non-negative"):
        jain_index([-1.0, 1.0])
    k = [
        {"energy_per_frame_mj": 100.0, "risky_rate": 0.0, "deadline_miss_rate": 0.0, "offload_fraction": 0.0},
        {"energy_per_frame_mj": 300.0, "risky_rate": 0.2, "deadline_miss_rate": 0.1, "offload_fraction": 1.0},
    ]
    f = fleet_kpis(k)
    assert f["fleet_energy_per_frame_mj"] == 200.0
    assert f["worst_vehicle_risky_rate"] == 0.2
    assert f["jain_energy"] == pytest.approx(400.0**2 / (2 * (100.0**2 + 300.0**2)))
    assert f["jain_risk"] == pytest.approx(0.5)


def test_bad_input_names_the_field(preset: Preset) -> None:
    with pytest.raises(ValueError, match=r"cell\.scheduler"):
        CellConfig(scheduler="fifo")
    with pytest.raises(ValueError, match=r"cell\.pf_fading"):
        CellConfig(pf_fading="rician")
    with pytest.raises(ValueError, match="vehicles"):
        FleetSimulator(preset, 0)
    fleet = FleetSimulator(preset, 2)
    fleet.decisions()
    with pytest.raises(ValueError, match="actions: 1 given for 2"):
        fleet.step([0])
    with pytest.raises(NotImplementedError, match="oracle"):
        fleet.vehicles[0].predict(0)


def test_the_risk_estimate_survives_a_history_without_usable_periods() -> None:
    """Found by a fleet of 64 (vehicle 63 of seed 1): a world whose uplink history has no
    period the path sampler can use made the risk estimate fail on an empty reshape; the
    same world alone, under risk-budget-greedy, must run."""
    preset = load_preset("default", {"radio": {"accounting": "connected"}})
    sim = Simulator(preset, vehicle_seed(1, 63))
    policy = make_policy("risk-budget-greedy", sim.catalogue, preset)
    for _ in range(40):
        sim.step(policy.act(next_view(sim)))
    assert sim.frames_started == 40
