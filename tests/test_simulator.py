"""The SimPy core: determinism, per-stream seeding, energy accounting, the design regime."""

from __future__ import annotations

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


class MonitoredResource(simpy.Resource):
    """Logs every grant and release of the accelerator, independently of the simulator."""

    def __init__(self, env: simpy.Environment) -> None:
        super().__init__(env, capacity=1)
        self.grants: list[float] = []
        self.releases: list[float] = []

    def request(self):  # type: ignore[no-untyped-def, override]
        req = super().request()
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


def test_radio_energy_is_power_times_time_on_a_constant_link() -> None:
    p = constant_link(34.0)
    sim = run(p, "offload-all", 600, seed=4)
    au, ad, beta = p.radio.coefficients
    completed = [r for r in sim.records if r.completed]
    assert len(completed) > 550  # a few miss through a long RTT draw
    for r in sim.records:
        up_mbit = r.uplink_bytes * 8e-6
        down_mbit = sim.catalogue.modes[r.mode].downlink_bytes * 8e-6
        # P x T for each transfer at the link's rate: (alpha * c + beta) * (size / c)
        uplink = (au * 34.0 + beta) * up_mbit / 34.0
        downlink = (ad * 100.0 + beta) * down_mbit / 100.0
        if r.completed:
            assert r.radio_mj == pytest.approx(uplink + downlink, rel=1e-9)
        else:
            assert uplink * (1 - 1e-9) <= r.radio_mj <= (uplink + downlink) * (1 + 1e-9)


def test_design_sanity_regime(catalogue: ModeCatalogue) -> None:
    """DESIGN.md section 4: local robust sets meet the deadline; offloading saves energy on a
    median LTE link (34 Mbit/s) and misses the deadline at 5 Mbit/s."""
    city = catalogue.scene_index("city")
    local_mode = catalogue.local_robust(city)
    off_mode = catalogue.offload_all(city)

    def frame(mbps: float, mode: int) -> tuple[float, float, bool]:
        sim = Simulator(constant_link(mbps, scene={"mix": {"city": 1.0}}), seed=0)
        for _ in range(50):
            sim.decision()
            sim.step(mode)
        sim.drain()
        r = sim.records[-1]
        return r.latency_ms, r.compute_mj + r.radio_mj, r.deadline_met

    lat_local, e_local, met_local = frame(34.0, local_mode)
    lat_fast, e_fast, met_fast = frame(34.0, off_mode)
    lat_slow, e_slow, met_slow = frame(5.0, off_mode)
    assert met_local and lat_local == pytest.approx(45.0, rel=0.05) and e_local == pytest.approx(306.0, rel=0.03)
    assert met_fast and e_fast == pytest.approx(230.0, rel=0.05)
    assert 0.55 < e_fast / e_local < 0.8  # saves 25-45 %
    assert not met_slow and e_slow == pytest.approx(313.0, rel=0.05)
    assert lat_fast < lat_slow


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
    with pytest.raises(ValueError, match="outside the catalogue"):
        Simulator(preset, seed=0).step(len(sim.catalogue))


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
