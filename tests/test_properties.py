"""Property tests: any valid world and seed keeps the simulator's invariants."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from romanus.config import load_preset
from romanus.policies import policy_for
from romanus.sim.records import kpis
from romanus.sim.simulator import Simulator
from romanus.vehicle.view import drive

SCENES = ["city", "junction", "motorway", "rural", "rain", "snow", "fog", "night"]

capacity = st.one_of(
    st.fixed_dictionaries({"model": st.just("constant"), "capacity_mbps": st.floats(0.0, 200.0)}),
    st.fixed_dictionaries(
        {
            "model": st.just("rayleigh"),
            "sigma_mbps": st.floats(0.5, 60.0),
            "slot_ms": st.floats(5.0, 500.0),
            "coherence_ms": st.floats(0.0, 3000.0),
        }
    ),
    st.fixed_dictionaries(
        {
            "model": st.just("markov"),
            "states_mbps": st.lists(st.floats(0.0, 100.0), min_size=2, max_size=4),
            "mean_dwell_s": st.floats(0.1, 30.0),
        }
    ),
)
outage = st.one_of(
    st.none(), st.fixed_dictionaries({"mean_good_s": st.floats(0.2, 60.0), "mean_bad_s": st.floats(0.05, 5.0)})
)


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    period = draw(st.floats(20.0, 200.0))
    deadline = draw(st.floats(0.5 * period, 2.0 * period))
    uplink = {**draw(capacity), "outage": draw(outage)}
    scenes = draw(st.lists(st.sampled_from(SCENES), min_size=1, max_size=8, unique=True))
    return {
        "period_ms": period,
        "deadline_ms": deadline,
        "abandon_after_ms": draw(st.one_of(st.none(), st.floats(deadline, 4.0 * deadline))),
        "uplink": uplink,
        "downlink": draw(capacity),
        "rtt": {
            "shape": draw(st.floats(0.5, 10.0)),
            "scale_ms": draw(st.floats(0.0, 30.0)),
            "shift_ms": draw(st.floats(0.0, 50.0)),
        },
        "vehicle": {"idle_power_w": draw(st.floats(0.0, 5.0))},
        "server": {
            "enabled": draw(st.booleans()),
            "workers": draw(st.integers(1, 8)),
            "speedup": draw(st.floats(0.5, 20.0)),
            "background": {
                "levels": {
                    "low": draw(st.floats(0.0, 0.5)),
                    "medium": draw(st.floats(0.0, 0.8)),
                    "high": draw(st.floats(0.0, 0.97)),
                },
                "mean_dwell_s": draw(st.floats(0.5, 60.0)),
                "service_ms": draw(st.floats(1.0, 30.0)),
            },
        },
        "scene": {"mix": {s: draw(st.floats(0.1, 5.0)) for s in scenes}, "mean_dwell_s": draw(st.floats(0.5, 60.0))},
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    world=worlds(),
    seed=st.integers(0, 2**32 - 1),
    policy=st.sampled_from(["random", "local-robust", "offload-all", "local-full"]),
    frames=st.integers(1, 250),
)
def test_every_frame_is_recorded_with_sane_values(world: dict[str, Any], seed: int, policy: str, frames: int) -> None:
    preset = load_preset("default", overrides=world)
    if policy == "offload-all" and not preset.server.enabled:
        policy = "local-robust"
    sim = Simulator(preset, seed=seed)
    log = drive(sim, policy_for(sim, policy), frames)
    assert len(log) == frames == sim.frames_finished
    assert sorted(log["frame"].tolist()) == list(range(frames))
    for name, col in log.columns.items():
        if col.dtype.kind == "f":
            assert np.isfinite(col).all(), name
    assert (log["latency_ms"] >= 0).all()
    assert (log["latency_ms"] <= preset.abandon_ms + 1e-9).all()
    assert (log["compute_mj"] >= 0).all() and (log["radio_mj"] >= 0).all() and log.idle_mj >= 0
    met = log["deadline_met"]
    assert (log["completed"][met]).all()
    assert (log["latency_ms"][met] <= preset.deadline_ms + 1e-9).all()
    assert (log["risky"] | met).all()  # every miss is risky
    if not preset.server.enabled:
        assert not log["offloaded"].any()
    assert all(math.isfinite(v) for v in kpis(log).values())
