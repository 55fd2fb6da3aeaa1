"""Fuzz property (issue 17): every configuration the schema accepts simulates without a
crash, a hang or a non-finite KPI; every one it refuses is a one-line ConfigError.

Configurations are the shipped default preset with one to four fields perturbed, within and
beyond their accepted ranges (the bounds declared on the fields). The fast tier runs a few
dozen examples; the slow tier (``-m slow``, run in CI) runs over a thousand.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Union, get_args, get_origin, get_type_hints

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from romanus.config import ConfigError, Preset, load_preset
from romanus.policies import make_policy
from romanus.sim.records import kpis
from romanus.sim.simulator import Simulator
from romanus.vehicle.view import drive

SCENES = ("city", "junction", "motorway", "rural", "rain", "snow", "fog", "night")
POLICIES = ("random", "local-robust", "offload-all", "scene-aware-greedy", "risk-budget-greedy")
WALL_LIMIT_S = 20  # per example: far above the ~0.1 s a run takes; reaching it is a hang


def _unwrap(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        return inner[0] if len(inner) == 1 else None
    return tp


def numeric_fields(cls: Any = Preset, prefix: str = "") -> list[tuple[str, type, dict[str, Any]]]:
    """(dotted path, int or float, bound metadata) of every numeric field under ``cls``."""
    out: list[tuple[str, type, dict[str, Any]]] = []
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = _unwrap(hints[f.name])
        path = f"{prefix}{f.name}"
        if tp in (int, float):
            out.append((path, tp, dict(f.metadata)))
        elif dataclasses.is_dataclass(tp) and f.name not in ("sensors", "stems"):
            out.extend(numeric_fields(tp, path + "."))
    return out


FIELDS = numeric_fields()
OUTAGE = ("uplink.outage.", "downlink.outage.")


def values_for(tp: type, md: dict[str, Any]) -> st.SearchStrategy[Any]:
    lo = md.get("gt") if md.get("gt") is not None else md.get("ge")
    hi = md.get("lt") if md.get("lt") is not None else md.get("le")
    lo_f = float(lo) if lo is not None else 0.0
    hi_f = float(hi) if hi is not None else max(1e4, lo_f * 100 + 1)
    inside: st.SearchStrategy[Any]
    if tp is int:
        first = math.floor(lo_f) + 1 if md.get("gt") is not None else math.ceil(lo_f)
        last = int(min(hi_f, 10**9))
        inside = st.integers(first, last)
        beyond: st.SearchStrategy[Any] = st.sampled_from([-1, 0, 10**9, 10**12, 2**63, last + 1])
        edges: st.SearchStrategy[Any] = st.sampled_from([first, last])
    else:
        low = max(lo_f, 1e-12)
        log_inside = st.floats(math.log10(low), math.log10(max(hi_f, low))).map(lambda e: 10.0**e)
        inside = st.one_of(st.floats(lo_f, hi_f), log_inside).filter(
            lambda v: (md.get("gt") is None or v > md["gt"]) and (md.get("lt") is None or v < md["lt"])
        )
        beyond = st.sampled_from(
            [0.0, -1.0, 1e-320, 1e-300, 1e-6, 1e300, 1e308, float("inf"), float("nan"), hi_f * 1.0001 + 1e-9]
        )
        edges = st.sampled_from([lo_f, hi_f, math.nextafter(lo_f, math.inf), math.nextafter(hi_f, -math.inf)])
    return st.one_of(inside, inside, edges, beyond)


def set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    *heads, last = path.split(".")
    for h in heads:
        tree = tree.setdefault(h, {})
    tree[last] = value


@st.composite
def perturbed(draw: st.DrawFn) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for _ in range(draw(st.integers(1, 4))):
        path, tp, md = draw(st.sampled_from(FIELDS))
        set_path(overrides, path, draw(values_for(tp, md)))
        for prefix in OUTAGE:  # an outage section needs both of its means
            if path.startswith(prefix):
                section = overrides[prefix.split(".")[0]]["outage"]
                section.setdefault("mean_good_s", 60.0)
                section.setdefault("mean_bad_s", 0.5)
    if "pipeline" in overrides:  # the shipped latency profile is pinned to the shipped pipeline
        set_path(overrides, "pipeline.profile", None)
    if draw(st.booleans()):
        set_path(overrides, "uplink.model", draw(st.sampled_from(["constant", "rayleigh", "markov"])))
        if overrides["uplink"]["model"] == "markov":
            states = st.lists(st.floats(0.0, 100_000.0), min_size=2, max_size=4)
            set_path(overrides, "uplink.states_mbps", draw(states))
    if draw(st.integers(0, 9)) == 0:
        set_path(overrides, "server.enabled", False)
    if draw(st.integers(0, 4)) == 0:  # user-keyed tables: load levels and the scene mix
        utilisation = st.one_of(st.floats(0.0, 0.999), st.sampled_from([1.0, -0.1, 1e-320, 0.999999999]))
        levels = draw(st.dictionaries(st.sampled_from(["low", "mid", "high"]), utilisation, min_size=1))
        set_path(overrides, "server.background.levels", levels)
        set_path(overrides, "server.background.initial", sorted(levels)[0])
    if draw(st.integers(0, 4)) == 0:
        weight = st.one_of(st.floats(0.0, 10.0), st.sampled_from([0.0, 1e-320, 1e300, -1.0]))
        set_path(overrides, "scene.mix", draw(st.dictionaries(st.sampled_from(SCENES), weight, min_size=1)))
    return overrides


class Hang(Exception):
    pass


@contextmanager
def wall_limit(seconds: int) -> Iterator[None]:
    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no result within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check(overrides: dict[str, Any], seed: int, policy: str, frames: int) -> bool:
    """Simulate an accepted configuration; returns whether it was accepted."""
    try:
        preset = load_preset("default", overrides)
    except ConfigError as exc:
        assert "\n" not in str(exc) and exc.key, str(exc)
        return False
    with wall_limit(WALL_LIMIT_S):
        sim = Simulator(preset, seed)
        log = drive(sim, make_policy(policy, sim.catalogue, sim.preset, seed), frames)
        result = kpis(log)
    assert len(log) == frames
    for name, col in log.columns.items():
        if col.dtype.kind == "f":
            assert np.isfinite(col).all(), (name, overrides)
    bad = {k: v for k, v in result.items() if not math.isfinite(v)}
    assert not bad, (bad, overrides)
    reward = preset.env.reward
    if reward.energy_scale_mj is not None:  # the per-frame reward stays finite too
        energy = log["compute_mj"] + log["radio_mj"]
        r = -reward.energy_weight * energy / reward.energy_scale_mj - reward.risk_penalty * log["risky"]
        assert np.isfinite(r).all(), overrides
    return True


def test_fields_to_perturb_cover_the_audits_cases() -> None:
    paths = {p for p, _, _ in FIELDS}
    for audited in (
        "vehicle.active_power_w",
        "server.service_cv",
        "server.telemetry_delay_ms",
        "server.workers",
        "server.background.service_ms",
        "scene.mean_dwell_s",
        "server.telemetry_period_ms",
        "deadline_ms",
        "env.reward.energy_scale_mj",
        "uplink.outage.mean_good_s",
    ):
        assert audited in paths
    assert all(md.get("le") is not None or md.get("lt") is not None for _, tp, md in FIELDS if tp is float), [
        p for p, tp, md in FIELDS if tp is float and md.get("le") is None and md.get("lt") is None
    ]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(overrides=perturbed(), seed=st.integers(0, 2**32 - 1), policy=st.sampled_from(POLICIES))
def test_accepted_configs_simulate_fast_tier(overrides: dict[str, Any], seed: int, policy: str) -> None:
    check(overrides, seed, policy, frames=200)


@pytest.mark.slow
@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(overrides=perturbed(), seed=st.integers(0, 2**32 - 1), policy=st.sampled_from(POLICIES))
def test_accepted_configs_simulate(overrides: dict[str, Any], seed: int, policy: str) -> None:
    check(overrides, seed, policy, frames=300)
