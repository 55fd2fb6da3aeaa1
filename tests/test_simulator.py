"""The SimPy core: determinism, per-stream seeding, energy accounting, the design regime."""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

from romanus.config import Preset, load_preset
from romanus.pipeline.modes import ModeCatalogue
from romanus.policies import policy_for
from romanus.rng import EXOGENOUS_STREAMS
from romanus.sim.records import kpis
from romanus.sim.simulator import Simulator
from romanus.vehicle.view import drive, next_view


def run(preset: Preset, policy: str, frames: int, seed: int = 0, **kw: object) -> Simulator:
    sim = Simulator(preset, seed=seed, **kw)  # type: ignore[arg-type]
    drive(sim, policy_for(sim, policy), frames)
    return sim


def constant_link(mbps: float, **extra: object) -> Preset:
    return load_preset(
        "default",
        overrides={
            "uplink": {"model": "constant", "capacity_mbps": mbps, "outage": None},
            "downlink": {"model": "constant", "capacity_mbps": 100.0},
            "server": {"background": {"levels": {"low": 0.0, "medium": 0.0, "high": 0.0}}},
            **extra,
        },
    )


def test_same_seed_gives_identical_records(preset: Preset) -> None:
    a = run(preset, "random", 2000, seed=5).records
    b = run(preset, "random", 2000, seed=5).records
    c = run(preset, "random", 2000, seed=6).records
    assert a == b
    assert a != c


def exogenous_series(sim: Simulator, seconds: float) -> dict[str, list[float]]:
    times = np.arange(0.0, seconds, 0.05)
    assert sim.server is not None
    sim.server.advance(seconds)
    return {
        "scene": [sim.scene.at(t) for t in times],
        "uplink": [sim.uplink.integral(t) for t in times],
        "downlink": [sim.downlink.integral(t) for t in times],
        "rtt": [sim._rtt[n] for n in range(5000)],
        "server": [sim.server.background_jobs, sim.server.background_wait_s],
        "own_service": [sim._jitter[n] for n in range(5000)],
    }


def test_reseeding_one_stream_leaves_the_others_unchanged(preset: Preset) -> None:
    base = exogenous_series(Simulator(preset, seed=1), 300.0)
    changed = exogenous_series(Simulator(preset, seed=1, stream_seeds={"uplink": 99}), 300.0)
    assert changed["uplink"] != base["uplink"]
    for key in ("scene", "downlink", "rtt", "server", "own_service"):
        assert changed[key] == base[key], key
    moved = exogenous_series(Simulator(preset, seed=1, stream_seeds={"scene": 99}), 300.0)
    assert moved["scene"] != base["scene"] and moved["uplink"] == base["uplink"]


def test_policies_do_not_shift_the_world(preset: Preset) -> None:
    """Whatever a policy does, the exogenous series it faces are the same."""
    a, b = run(preset, "local-robust", 1500, seed=3), run(preset, "random", 1500, seed=3)
    times = np.arange(0.0, 150.0, 0.1)
    assert [a.scene.at(t) for t in times] == [b.scene.at(t) for t in times]
    assert [a.uplink.integral(t) for t in times] == [b.uplink.integral(t) for t in times]
    assert [r.scene for r in a.records] == [r.scene for r in b.records]
    assert len(set(EXOGENOUS_STREAMS)) == len(EXOGENOUS_STREAMS)


class MonitoredResource(simpy.PreemptiveResource):
    """Logs every grant and release of the accelerator, independently of the simulator."""

    def __init__(self, env: simpy.Environment) -> None:
        super().__init__(env, capacity=1)
        self.grants: list[float] = []
        self.releases: list[float] = []

    def request(self, priority: float = 0, preempt: bool = True):  # type: ignore[no-untyped-def, override]
        req = super().request(priority=priority, preempt=preempt)
        req.callbacks.append(lambda _: self.grants.append(self._env.now))
        return req

    def release(self, request):  # type: ignore[no-untyped-def, override]
        self.releases.append(self._env.now)
        return super().release(request)


def test_energy_adds_up(preset: Preset) -> None:
    idle = load_preset("default", overrides={"vehicle": {"idle_power_w": 1.5}})
    sim = Simulator(idle, seed=2)
    sim._acc = MonitoredResource(sim.env)
    drive(sim, policy_for(sim, "random"), 3000)
    log = sim.log()
    busy = np.array(sim._acc.releases) - np.array(sim._acc.grants)
    assert len(busy) == 3000 and (busy >= 0).all()
    assert log["compute_mj"].sum() == pytest.approx(7.0 * busy.sum() * 1000.0, rel=1e-9)
    assert log.idle_mj == pytest.approx(1.5 * (log.duration_s - busy.sum()) * 1000.0, rel=1e-9)
    k = kpis(log)
    total = log["compute_mj"].sum() + log["radio_mj"].sum() + log.idle_mj
    assert k["energy_per_frame_mj"] * len(log) == pytest.approx(total, rel=1e-12)


# LTE radio (Huang et al. MobiSys 2012; docs/physics.md), typed in here independently of the code
BETA_MW, ALPHA_UP, ALPHA_DOWN, UP_MAX_EXTRA_MW = 1288.04, 438.39, 51.97, 1300.0
PROMOTION_S, PROMOTION_MW, TAIL_S, TAIL_MW = 0.2601, 1210.7, 11.576, 1060.0


def lte_uplink_mw(mbps: float) -> float:
    """Saturating LTE uplink power: slope alpha_u at 0, at most beta + 1.3 W."""
    return BETA_MW + UP_MAX_EXTRA_MW * (1.0 - math.exp(-mbps * ALPHA_UP / UP_MAX_EXTRA_MW))


def test_radio_energy_is_power_times_time_on_a_constant_link() -> None:
    p = constant_link(34.0)
    sim = run(p, "offload-all", 600, seed=4)
    completed = [r for r in sim.records if r.completed]
    assert len(completed) > 550  # a few miss through a long RTT draw (and the first ones promote)
    for r in sim.records:
        up_mbit = r.uplink_bytes * 8e-6
        down_mbit = sim.catalogue.modes[r.mode].downlink_bytes * 8e-6
        # P x T for each transfer at the link's rate: P(c) * (size / c)
        uplink = lte_uplink_mw(34.0) * up_mbit / 34.0
        downlink = (ALPHA_DOWN * 100.0 + BETA_MW) * down_mbit / 100.0
        if r.completed:
            assert r.radio_transfer_mj == pytest.approx(uplink + downlink, rel=1e-9)
        else:
            assert r.radio_transfer_mj <= (uplink + downlink) * (1 + 1e-9)
        assert r.radio_mj == pytest.approx(r.radio_transfer_mj + r.radio_state_mj, rel=1e-12)
    # offloading every frame keeps the radio connected: one promotion for the whole run
    assert sim.radio.promotions == 1


def test_design_sanity_regime(catalogue: ModeCatalogue) -> None:
    """docs/physics.md's sanity table, recomputed by hand: local robust sets meet the deadline;
    offloading both camera stems every frame on a median LTE link (34 Mbit/s) saves energy
    once the radio is connected (it then pays the tail between transfers), and misses the
    deadline at 5 Mbit/s."""
    city = catalogue.scene_index("city")
    local_mode = catalogue.local_robust(city)
    off_mode = catalogue.offload_all(city)
    off = catalogue.modes[off_mode]

    def frame(mbps: float, mode: int, accounting: str = "owned") -> tuple[float, float, bool]:
        # the mean RTT (29 ms) every frame, so the frame read is a typical one
        rtt = {"shape": 3.5, "scale_ms": 0.0, "shift_ms": 29.0}
        radio = {"accounting": accounting}
        sim = Simulator(constant_link(mbps, scene={"mix": {"city": 1.0}}, rtt=rtt, radio=radio), seed=0)
        for _ in range(50):
            sim.decision()
            sim.step(mode)
        sim.drain()
        r = next(r for r in sim.records if r.frame == 48)  # the last frame also gets the final tail
        return r.latency_ms, r.compute_mj + r.radio_mj, r.deadline_met

    lat_local, e_local, met_local = frame(34.0, local_mode)
    lat_fast, e_fast, met_fast = frame(34.0, off_mode)
    lat_slow, e_slow, met_slow = frame(5.0, off_mode)
    assert met_local and lat_local == pytest.approx(45.0, rel=0.05) and e_local == pytest.approx(306.0, rel=0.03)
    # two heads (stem + encoder, 2.937 GMAC each) at 18.41 ms per 9.221 GMAC (the backbone), 7 W
    compute = 7.0 * 2 * 18.41 * 2.936553984 / 9.220657152
    up_mbit, down_mbit = 2 * 23688 * 8e-6, 2400 * 8e-6

    def radio(mbps: float, results: bool) -> float:
        down = down_mbit if results else 0.0  # a late frame is abandoned before its results come
        on_air = up_mbit / mbps + down / 100.0
        transfer = lte_uplink_mw(mbps) * up_mbit / mbps + (ALPHA_DOWN * 100.0 + BETA_MW) * down / 100.0
        return transfer + TAIL_MW * (0.1 - on_air)  # the rest of the period in the tail

    assert compute == pytest.approx(82.1, abs=0.1)
    assert met_fast and e_fast == pytest.approx(compute + radio(34.0, True), rel=1e-3)
    assert e_fast == pytest.approx(206.0, abs=1.0)
    assert 0.6 < e_fast / e_local < 0.75  # saves 25-40 % once connected
    assert not met_slow and e_slow == pytest.approx(compute + radio(5.0, False), rel=1e-3)
    assert lat_fast < lat_slow
    assert off.uplink_bytes * 8e-6 == pytest.approx(up_mbit)
    # a modem kept connected by other traffic: only the marginal energy of time on the air
    _, e_marginal, met_marginal = frame(34.0, off_mode, "connected")
    marginal = (lte_uplink_mw(34.0) - TAIL_MW) * up_mbit / 34.0 + (
        ALPHA_DOWN * 100.0 + BETA_MW - TAIL_MW
    ) * down_mbit / 100.0
    assert met_marginal and e_marginal == pytest.approx(compute + marginal, rel=1e-6)
    assert e_marginal == pytest.approx(100.2, abs=0.5)


def test_longest_miss_streak_counts_frames_in_frame_order() -> None:
    """Regression (issue 14): with abandon_after_ms > period, frames resolve out of order and
    the streak was counted in completion order (50 instead of 49 here)."""
    p = load_preset("default", {"abandon_after_ms": 300.0})
    sim = run(p, "random", 3000, seed=3)
    log = sim.log()
    assert list(log["frame"]) != sorted(log["frame"])  # resolved out of order
    met = dict(zip(log["frame"].tolist(), log["deadline_met"].tolist(), strict=True))
    best = cur = 0
    for n in range(len(met)):  # independently, in frame order
        cur = 0 if met[n] else cur + 1
        best = max(best, cur)
    assert kpis(log)["longest_miss_streak"] == best


def test_local_robust_never_misses_and_offload_misses_in_outages(preset: Preset) -> None:
    local = kpis(run(preset, "local-robust", 3000).log())
    assert local["deadline_miss_rate"] == 0.0 and local["risky_rate"] == 0.0
    dead = kpis(run(constant_link(0.0), "offload-all", 300).log())
    assert dead["deadline_miss_rate"] == 1.0 and dead["latency_p50_ms"] == 100.0


def test_frames_overlap_and_none_is_lost() -> None:
    """On a slow link frame n+1 computes while frame n is still on the air."""
    p = constant_link(4.0, abandon_after_ms=400.0)
    sim = Simulator(p, seed=0)
    off = sim.catalogue.by_name["camera_both|camera=bottleneck-c6-b8"].index
    for _ in range(200):
        sim.decision()
        sim.step(off)
    sim.drain()
    lat = np.array([r.latency_ms for r in sim.records])
    assert len(sim.records) == 200 == sim.frames_started
    assert lat.max() > 100.0  # frames outlive the period, so they overlap
    assert [r.frame for r in sorted(sim.records, key=lambda r: r.frame)] == list(range(200))


def test_masked_modes_are_refused_not_remapped(preset: Preset) -> None:
    sim = Simulator(load_preset("default", overrides={"server": {"enabled": False}}), seed=0)
    ctx = next_view(sim)
    off = sim.catalogue.offload_all(ctx.scene)
    assert not ctx.mask[off]
    with pytest.raises(ValueError, match="is masked: it offloads and no edge server is available"):
        sim.step(off)
    with pytest.raises(ValueError, match="outside the action table"):
        Simulator(preset, seed=0).step(len(sim.actions))
    # an offloading mode with a fallback is masked with it
    with pytest.raises(ValueError, match="is masked: it offloads"):
        sim.step(sim.actions.index(off, 1))


def test_risky_flags_non_robust_branch_sets(preset: Preset) -> None:
    sim = run(load_preset("default", overrides={"scene": {"mix": {"fog": 1.0}}}), "local-camera_both", 100)
    assert all(r.deadline_met for r in sim.records)
    assert all(r.risky and r.robustness == 0.6 for r in sim.records)


def test_frames_outliving_the_period_across_a_draw_block_boundary() -> None:
    """Frames still in flight when the next frame draws from a new block of per-frame draws."""
    p = load_preset(
        "default",
        {"abandon_after_ms": 300.0, "server": {"background": {"levels": {"busy": 0.97}, "initial": "busy"}}},
    )
    sim = run(p, "offload-all", 4200)
    assert len(sim.records) == 4200


def test_offload_all_falls_back_to_local_without_a_server() -> None:
    sim = run(load_preset("default", {"server": {"enabled": False}}), "offload-all", 100)
    assert not any(r.offloaded for r in sim.records)
