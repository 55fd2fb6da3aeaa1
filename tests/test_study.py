"""The study's frontier arithmetic (the rest runs end to end in test_cli)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from romanus.study import frontier_energy_at
from romanus.vehicle.view import drive


def test_frontier_takes_the_cheapest_point_or_mixture_within_the_risk() -> None:
    points = [(369.0, 0.0), (359.0, 0.0006), (284.0, 0.0072), (126.0, 0.0353)]
    # exactly at a point
    assert frontier_energy_at(points, 0.0006)[0] == pytest.approx(359.0)
    # between two points: a frame-by-frame mixture of them
    e, how = frontier_energy_at(points, 0.0039)
    assert e == pytest.approx(359.0 + (0.0039 - 0.0006) / (0.0072 - 0.0006) * (284.0 - 359.0))
    assert how == "mix of points 1 and 2"
    # beyond the riskiest point: that point
    assert frontier_energy_at(points, 0.05)[0] == pytest.approx(126.0)
    # safer than every point: unreachable
    assert math.isinf(frontier_energy_at([(300.0, 0.01)], 0.001)[0])


def test_a_dominated_point_never_sets_the_frontier() -> None:
    # the middle point is worse than mixing its neighbours
    points = [(400.0, 0.0), (390.0, 0.005), (200.0, 0.01)]
    e, _ = frontier_energy_at(points, 0.005)
    assert e == pytest.approx(300.0)


def test_outage_onset_rate_matches_the_outage_chain(tmp_path: Path) -> None:
    """Gilbert-Elliott outages on slots of one period: a good slot turns bad with probability
    slot / mean_good_s, which is the onset rate the study reports."""
    from romanus.config import load_preset
    from romanus.scenario import record_scenario
    from romanus.study import outage_onset_rate

    over = {"uplink": {"model": "constant", "capacity_mbps": 20.0, "outage": {"mean_good_s": 2.0, "mean_bad_s": 0.5}}}
    preset = load_preset("default", over)
    files = [record_scenario(preset, seed, 600.0).save(tmp_path / f"s{seed}.scenario") for seed in (1, 2)]
    rate = outage_onset_rate(files)
    assert rate == pytest.approx(0.1 / 2.0, rel=0.15)


def test_local_cheapest_robust_never_offloads_never_risks_and_saves() -> None:
    from romanus.config import load_preset
    from romanus.policies import make_policy
    from romanus.sim.simulator import Simulator

    preset = load_preset("default")
    lean = drive(
        Simulator(preset, 3), make_policy("local-cheapest-robust", Simulator(preset, 3).catalogue, preset), 3000
    )
    robust = drive(Simulator(preset, 3), make_policy("local-robust", Simulator(preset, 3).catalogue, preset), 3000)
    assert not lean["offloaded"].any() and not lean["risky"].any()
    assert np.all(lean["compute_mj"] <= robust["compute_mj"] + 1e-9)
    assert lean["compute_mj"].sum() < robust["compute_mj"].sum()
