"""The just-in-time local fallback and per-frame deadlines (romanus.sim.simulator, actions).

The fallback's timing is checked against hand-computed schedules (a constant link, a constant
RTT, one scene): when it triggers, what it costs, how it preempts later frames' work on the
accelerator (earliest deadline first) and how that work resumes.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import simpy

from romanus.config import ConfigError, Preset, load_preset
from romanus.policies import policy_for
from romanus.sim.actions import ActionTable
from romanus.sim.records import kpis
from romanus.sim.simulator import Simulator
from romanus.sim.world import synthetic_world
from romanus.vehicle.view import drive, next_view

CITY = {"mix": {"city": 1.0}}


def steady(mbps: float, rtt_ms: float = 20.0, **extra: object) -> Preset:
    """A world without randomness in the link: constant capacity and RTT, one scene, an idle
    server with deterministic service, a modem kept connected (no promotion to add)."""
    return load_preset(
        "default",
        overrides={
            "uplink": {"model": "constant", "capacity_mbps": mbps, "outage": None},
            "downlink": {"model": "constant", "capacity_mbps": 100.0},
            "rtt": {"shift_ms": rtt_ms, "scale_ms": 0.0},
            "scene": CITY,
            "radio": {"accounting": "connected"},
            "server": {
                "service_cv": 0.0,
                "background": {"levels": {"low": 0.0, "medium": 0.0, "high": 0.0}},
            },
            **extra,
        },
    )


class Monitored(simpy.PreemptiveResource):
    """The accelerator, logging who holds it when (independently of the simulator)."""

    def __init__(self, env: simpy.Environment) -> None:
        super().__init__(env, capacity=1)
        self.held: list[tuple[float, float]] = []
        self._since: dict[int, float] = {}

    def request(self, priority: int = 0, preempt: bool = True):  # type: ignore[no-untyped-def, override]
        req = super().request(priority=priority, preempt=preempt)
        req.callbacks.append(lambda _: self._since.__setitem__(id(req), self._env.now))
        return req

    def release(self, request):  # type: ignore[no-untyped-def, override]
        if id(request) in self._since and request in self.users:
            self.held.append((self._since.pop(id(request)), self._env.now))
        return super().release(request)

    def _do_put(self, event):  # type: ignore[no-untyped-def, override]
        before = list(self.users)
        out = super()._do_put(event)
        for user in before:  # preempted: its holding ends now
            if user not in self.users and id(user) in self._since:
                self.held.append((self._since.pop(id(user)), self._env.now))
        return out


def test_the_action_table_extends_the_catalogue_with_fallback_options() -> None:
    p = load_preset("default")
    sim = Simulator(p, 0)
    table, cat = sim.actions, sim.catalogue
    n_off = int(cat.offload_mask.sum())
    assert len(table) == len(cat) + len(p.fallback.options_ms) * n_off
    assert table.mode_list[: len(cat)] == list(range(len(cat)))  # a mode index is its own action
    off = cat.offload_all(0)
    a = table.index(off, 1)
    assert table.mode_list[a] == off and table.fallback_list[a] == 1
    assert table.name(a).endswith("+fallback") and table.name(table.index(off, 2)).endswith("+fallback-20ms")
    with pytest.raises(ValueError, match="runs on the vehicle"):
        table.index(cat.local_robust(0), 1)
    assert len(ActionTable(cat, ())) == len(cat)


def test_a_late_result_falls_back_just_in_time() -> None:
    p = steady(2.0)  # 47 kB at 2 Mbit/s: ~190 ms on the air, far too late
    sim = Simulator(p, 0)
    cat = sim.catalogue
    view = next_view(sim)
    mode = cat.offload_all(view.scene)
    local = sim.actions.fallback_mode[view.scene]  # the cheapest tier robust enough (fallback.tier)
    assert local == cat.cheapest_robust_local(view.scene) != cat.local_robust(view.scene)
    (jit, early) = view.fallback_times_ms()
    fusion, margin = p.pipeline.fusion_ms, p.fallback.margin_ms
    fb_ms = cat.modes[local].vehicle_ms
    assert jit == pytest.approx(p.deadline_ms - fusion - margin - fb_ms, abs=1e-9)
    assert early == pytest.approx(jit - 20.0, abs=1e-9)
    predicted = sim.predict(mode, 1)
    sim.step(sim.actions.index(mode, 1))
    sim.drain()
    (r,) = sim.records
    assert r.fell_back and r.fallback == 1 and r.deadline_met and not r.risky
    assert r.latency_ms == pytest.approx(jit + fb_ms + fusion, abs=1e-6)  # = deadline - margin
    own_ms = cat.modes[mode].vehicle_ms
    assert r.compute_mj == pytest.approx(7.0 * (own_ms + fb_ms), rel=1e-9)
    # the discarded attempt: its vehicle work and what it sent until the fallback time
    assert r.wasted_mj == pytest.approx(r.radio_transfer_mj + 7.0 * own_ms, rel=1e-9)
    assert 0 < r.uplink_bytes < cat.modes[mode].uplink_bytes  # cut at the fallback time
    assert r.robustness == cat.modes[local].robustness[r.scene]
    assert predicted.fell_back and predicted.latency_ms == pytest.approx(r.latency_ms, abs=1e-6)
    assert predicted.compute_mj == pytest.approx(r.compute_mj, rel=1e-9)


def test_a_result_in_time_does_not_fall_back_and_costs_what_the_mode_costs() -> None:
    p = steady(200.0)
    hedged, plain = Simulator(p, 0), Simulator(p, 0)
    mode = hedged.catalogue.offload_all(next_view(hedged).scene)
    next_view(plain)
    hedged.step(hedged.actions.index(mode, 1))
    plain.step(mode)
    hedged.drain()
    plain.drain()
    (a,), (b,) = hedged.records, plain.records
    assert not a.fell_back and a.wasted_mj == 0.0 and a.fallback == 1 and b.fallback == 0
    assert a._replace(fallback=0) == b


def test_a_fallback_preempts_later_work_which_resumes_and_may_miss() -> None:
    """Deadline 250 ms, period 100 ms: frame 0 offloads over a hopeless link with a fallback;
    frame 1 runs the full tier locally from 100 ms. Frame 0's fallback preempts it at its
    just-in-time time; frame 1 resumes afterwards and is cut at its abandon time."""
    p = steady(0.5, deadline_ms=250.0)
    sim = Simulator(p, 0)
    sim._acc = Monitored(sim.env)
    cat = sim.catalogue
    view = next_view(sim)
    jit_ms = view.fallback_times_ms()[0]
    assert jit_ms is not None
    sim.step(sim.actions.index(cat.offload_all(view.scene), 1))
    full = cat.mode_for("full", "local")
    next_view(sim)
    sim.step(full.index)
    for _ in range(3):
        next_view(sim)
        sim.step(cat.local_robust(0))
    sim.drain()
    rec = {r.frame: r for r in sim.records}
    fb_ms = cat.modes[sim.actions.fallback_mode[0]].vehicle_ms
    assert rec[0].fell_back and rec[0].deadline_met
    assert rec[0].latency_ms == pytest.approx(jit_ms + fb_ms + p.pipeline.fusion_ms, abs=1e-6)
    # frame 1 ran from 100 ms until preempted at the fallback time, then resumed after it
    preempted_ms = jit_ms - 100.0
    resumed_at = jit_ms + fb_ms
    assert not rec[1].completed and not rec[1].deadline_met
    assert rec[1].compute_mj == pytest.approx(7.0 * (preempted_ms + 350.0 - resumed_at), rel=1e-9)
    # one holder at a time, and every busy interval is accounted as compute
    held = sorted(sim._acc.held)
    assert all(b0 >= a1 - 1e-12 for (_, a1), (b0, _) in itertools.pairwise(held))
    busy_ms = sum(b - a for a, b in held) * 1000.0
    assert sum(r.compute_mj for r in sim.records) == pytest.approx(7.0 * busy_ms, rel=1e-9)


def test_the_fallback_tier_is_a_setting() -> None:
    cheapest, robust = Simulator(steady(2.0), 0), Simulator(steady(2.0, fallback={"tier": "most_robust"}), 0)
    cat = cheapest.catalogue
    assert cheapest.actions.fallback_mode == [cat.cheapest_robust_local(s) for s in range(len(cat.scenes))]
    assert robust.actions.fallback_mode == [cat.local_robust(s) for s in range(len(cat.scenes))]
    # a cheaper fallback leaves more time: its just-in-time time is later by the work it saves
    a, b = next_view(cheapest).fallback_times_ms()[0], next_view(robust).fallback_times_ms()[0]
    assert a is not None and b is not None
    saved = cat.modes[cat.local_robust(0)].vehicle_ms - cat.modes[cat.cheapest_robust_local(0)].vehicle_ms
    assert a - b == pytest.approx(saved, abs=1e-9) and saved > 0


def test_no_fallback_is_offered_that_could_not_finish() -> None:
    p = steady(0.5, deadline_ms=250.0)
    sim = Simulator(p, 0)
    cat = sim.catalogue
    off = cat.offload_all(0)
    next_view(sim)
    sim.step(sim.actions.index(off, 1))
    # frame 1: frame 0's fallback (earlier deadline) will hold the accelerator until
    # 211 + 36 = 247 ms; frame 1's own just-in-time time is 311 ms: still feasible
    view = next_view(sim)
    assert view.fallback_times_ms()[0] is not None
    # a deadline too short for the fallback itself: nothing offered, and stepping one refuses
    q = steady(0.5, deadline_ms=35.0, abandon_after_ms=100.0)
    sim = Simulator(q, 0)
    view = next_view(sim)
    assert view.fallback_times_ms() == [None, None]
    a = sim.actions.index(cat.offload_all(0), 1)
    assert not view.action_mask[a] and view.action_mask[cat.offload_all(0)]
    with pytest.raises(ValueError, match="cannot finish by the deadline"):
        sim.step(a)


def test_predict_foresees_every_action_exactly() -> None:
    """Deadline = period (frames resolve before the next capture): the oracle's prediction
    of any action, fallbacks included, is what the frame then does."""
    p = load_preset("default_shielded")
    sim = Simulator(p, 5)
    rng = np.random.default_rng(2)
    fell = 0
    for _ in range(400):
        view = next_view(sim, oracle=True)
        a = int(rng.choice(np.flatnonzero(view.action_mask)))
        pred = sim.predict(sim.actions.mode_list[a], sim.actions.fallback_list[a])
        (r,) = sim.step(a) or sim.drain()
        assert r.frame == view.frame
        assert (r.fell_back, r.deadline_met, r.completed, r.risky) == (
            pred.fell_back,
            pred.deadline_met,
            pred.completed,
            pred.risky,
        )
        assert r.latency_ms == pytest.approx(pred.latency_ms, abs=1e-6)
        assert r.compute_mj == pytest.approx(pred.compute_mj, rel=1e-9, abs=1e-9)
        fell += r.fell_back
    assert fell > 10


@pytest.mark.parametrize("deadlines", ["fixed", "scene"])
def test_a_hedged_offload_is_never_riskier_than_running_locally(deadlines: str) -> None:
    p = load_preset("default", {"deadlines": {"model": deadlines}})
    sims = {name: Simulator(p, 3) for name in ("local-robust", "offload-all", "offload-all+fallback")}
    logs = {name: drive(sim, policy_for(sim, name), 3000) for name, sim in sims.items()}
    k = {name: kpis(log) for name, log in logs.items()}
    assert k["offload-all+fallback"]["risky_rate"] <= k["local-robust"]["risky_rate"] + 0.001
    assert k["offload-all"]["risky_rate"] > 0.05  # the hedge has something to do
    hedged = logs["offload-all+fallback"]
    assert (hedged["fallback"] > 0).all()  # it offloads only hedged
    assert not (hedged["risky"] & (hedged["fallback"] > 0)).any()
    # wasted energy is part of the energy, not on top of it
    assert (hedged["wasted_mj"] <= hedged["compute_mj"] + hedged["radio_mj"] + 1e-9).all()


def test_scene_deadlines_follow_the_scene_table() -> None:
    p = load_preset("default", {"deadlines": {"model": "scene"}})
    sim = Simulator(p, 1)
    log = drive(sim, policy_for(sim, "local-robust"), 2000)
    scenes = sim.catalogue.scenes
    table = p.deadlines.scene_ms
    expected = np.array([table[scenes[s]] for s in log["scene"]])
    assert np.array_equal(log["deadline_ms"], expected)
    assert len(set(expected.tolist())) > 1
    # a frame may take its scene's deadline: latencies beyond 100 ms are met in a 200 ms scene
    assert (log["deadline_met"]).all()
    fixed = drive(Simulator(load_preset("default"), 1), policy_for(Simulator(load_preset("default"), 1), "oracle"), 10)
    assert (fixed["deadline_ms"] == 100.0).all()


class _Place:
    def __init__(self, speed: float) -> None:
        self.speed = speed

    def speed_mps(self, t: float) -> float:
        return self.speed


@pytest.mark.parametrize(("speed", "expected"), [(30.0, 100.0), (15.0, 200.0), (5.0, 300.0), (0.0, 300.0)])
def test_speed_deadlines_give_the_time_to_cover_the_budget_distance(speed: float, expected: float) -> None:
    p = load_preset("default", {"deadlines": {"model": "speed"}})
    sim0 = Simulator(load_preset("default"), 0)
    world = synthetic_world(p, sim0.seeds, sim0.catalogue.scenes)
    world.place = _Place(speed)  # type: ignore[attr-defined]
    sim = Simulator(p, 0, world=world)
    view = next_view(sim)
    # 3 m at the speed, within [100, 300] ms
    assert view.deadline_ms == pytest.approx(expected)
    assert math.isclose(sim.frame_deadline_ms(0), expected)


def test_speed_deadlines_need_a_world_with_speed() -> None:
    with pytest.raises(ValueError, match=r"deadlines\.model is 'speed'"):
        Simulator(load_preset("default", {"deadlines": {"model": "speed"}}), 0)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"fallback": {"options_ms": [0, 0]}}, "options must differ"),
        ({"fallback": {"options_ms": [-1]}}, ">= 0"),
        ({"deadlines": {"model": "scene", "scene_ms": {"citty": 100}}}, "scene_ms.citty"),
        ({"deadlines": {"scene_ms": {"city": 0}}}, "in \\[1, 10000\\]"),
        ({"deadlines": {"model": "scene"}, "abandon_after_ms": 150}, "longest dynamic deadline"),
        ({"deadlines": {"min_ms": 200, "max_ms": 100}}, "max_ms"),
    ],
)
def test_bad_deadline_and_fallback_settings_are_refused(override: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_preset("default", override)


def test_hedged_policies_need_a_preset_that_offers_a_fallback() -> None:
    sim = Simulator(load_preset("default", {"fallback": {"options_ms": []}}), 0)
    assert len(sim.actions) == len(sim.catalogue)
    with pytest.raises(ValueError, match="offers no fallback"):
        policy_for(sim, "offload-all+fallback")
    with pytest.raises(ValueError, match="have a \\+fallback variant"):
        policy_for(Simulator(load_preset("default"), 0), "oracle+fallback")
