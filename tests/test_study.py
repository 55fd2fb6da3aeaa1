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


def _result(table: dict[str, list[tuple[float, float]]]):  # type: ignore[no-untyped-def]
    """A CompareResult from (energy/frame, risky rate) per scenario and policy (100 frames each)."""
    from romanus.compare import CompareResult, RunOutput

    empty = np.zeros(0)
    outputs = [
        RunOutput(
            {
                "policy": p,
                "scenario": f"s{i}",
                "frames": 100,
                "energy_per_frame_mj": e,
                "risky_rate": r,
                "fallback_rate": 0.0,
            },
            empty,
            empty,
            empty,
            empty,
            empty,
            empty,
        )
        for p, runs in table.items()
        for i, (e, r) in enumerate(runs)
    ]
    return CompareResult(list(table), [f"s{i}" for i in range(len(next(iter(table.values()))))], outputs)


def test_calibration_keeps_the_cheapest_setting_whose_upper_risk_bound_is_within_the_tolerance() -> None:
    from romanus.study import calibrate

    res = _result(
        {
            "local-robust": [(400.0, 0.0)] * 4,
            # cheapest, but its risk interval's upper end exceeds 0.05 points: one bad scenario
            "risk-budget-greedy@0.05": [(100.0, 0.0), (100.0, 0.0), (100.0, 0.0), (100.0, 0.0016)],
            # 0.02 points on every scenario: upper bound 0.0002 < 0.0005, kept
            "risk-budget-greedy@0.01": [(200.0, 0.0002)] * 4,
            "risk-budget-greedy@0.002": [(300.0, 0.0)] * 4,
            # every hedged setting too risky: the least risky one is kept
            "risk-budget-greedy+fallback@0.01": [(150.0, 0.01)] * 4,
            "risk-budget-greedy+fallback@0.002": [(180.0, 0.002)] * 4,
        }
    )
    # pooled risky of @0.05 is 0.0004 < tolerance: a point estimate would have kept it
    kept = calibrate(res, ("risk-budget-greedy",))
    assert kept == {
        "risk-budget-greedy": "risk-budget-greedy@0.01",
        "risk-budget-greedy+fallback": "risk-budget-greedy+fallback@0.002",
    }


def test_regret_share_and_saving_against_hand_computed_values() -> None:
    from romanus.study import agent_rows, policy_rows

    res = _result(
        {
            "local-robust": [(400.0, 0.0), (300.0, 0.0)],
            "robust-agnostic": [(50.0, 0.5), (50.0, 0.3)],
            "oracle": [(100.0, 0.0), (100.0, 0.0)],
            "h": [(250.0, 0.01), (200.0, 0.0)],
            "maskable_ppo:a": [(220.0, 0.0), (200.0, 0.0)],
            "maskable_ppo:b": [(260.0, 0.0), (240.0, 0.0)],
        }
    )
    row = policy_rows(res, ["h"])["h"]
    assert row["saving_pct"]["mean"] == pytest.approx(100 * (1 - 450 / 700))
    assert row["regret_share"]["mean"] == pytest.approx((150 + 100) / (300 + 200))
    assert row["risk_cut_pct"]["mean"] == pytest.approx(100 * (1 - 0.01 / 0.8))
    assert row["energy_mj"]["mean"] == pytest.approx(225.0)
    agents = agent_rows(res, ["maskable_ppo:a", "maskable_ppo:b"])
    # per agent, then the mean over agents (seeds)
    assert agents["regret_share"]["mean"] == pytest.approx(((220.0 / 500) + (300.0 / 500)) / 2)
    assert agents["saving_pct"]["mean"] == pytest.approx(100 * ((1 - 420 / 700) + (1 - 500 / 700)) / 2)
    assert agents["per_seed"]["energy_mj"] == [210.0, 250.0]


def test_agents_are_ahead_of_a_frontier_only_by_more_than_the_margin() -> None:
    from romanus.study import ahead_of_frontier, comparison_margin

    frontier = {
        "risk-budget-greedy@0.002": [(300.0, 0.0)] * 4,
        "risk-budget-greedy@0.05": [(100.0, 0.02)] * 4,
    }
    # two seeds that learnt the same policy (seed CI 0), 10 mJ below the frontier on every scenario
    same = [(190.0, 0.01)] * 4
    res = _result({**frontier, "ppo:a": same, "ppo:b": same})
    # at 1 % risky the frontier mixes its two points half and half: 200 mJ
    ok, why = ahead_of_frontier(res, ["ppo:a", "ppo:b"], "risk-budget-greedy")
    assert ok and "200 mJ" in why and "margin 0.0" in why
    # the same mean, but the agents' lead swings by scenario: the paired CI decides
    swing = [(150.0, 0.01), (230.0, 0.01), (150.0, 0.01), (230.0, 0.01)]
    res = _result({**frontier, "ppo:a": swing, "ppo:b": swing})
    ref = {f"s{i}": 200.0 for i in range(4)}
    diffs = np.array([-50.0, 30.0, -50.0, 30.0])
    half = 3.182446305284263 * diffs.std(ddof=1) / 2  # t(0.975, 3) * s / sqrt(4)
    assert comparison_margin(res, ["ppo:a", "ppo:b"], ref) == pytest.approx(half)
    assert not ahead_of_frontier(res, ["ppo:a", "ppo:b"], "risk-budget-greedy")[0]
    # safer than every point: ahead only when cheaper than the safest point by the margin
    res2 = _result({"risk-budget-greedy@0.05": [(100.0, 0.02)] * 2, "ppo:a": [(150.0, 0.0)] * 2})
    assert not ahead_of_frontier(res2, ["ppo:a"], "risk-budget-greedy")[0]
    res3 = _result({"risk-budget-greedy@0.05": [(100.0, 0.02)] * 2, "ppo:a": [(90.0, 0.0)] * 2})
    assert ahead_of_frontier(res3, ["ppo:a"], "risk-budget-greedy")[0]


def test_drive_learner_preset_credits_each_frame_at_the_learners_discount_unless_ablated(tmp_path: Path) -> None:
    import dataclasses

    import yaml

    from romanus.config import load_preset
    from romanus.study import StudySpec, _drive_learner_preset, _preset_file
    from romanus.train.hyperparams import load_hyperparams

    spec = StudySpec(out=str(tmp_path))
    world = _preset_file(spec, "drives", {"radio": {"accounting": "connected"}})
    entry = "romanus/DefaultShielded-v2"
    credited = load_preset(str(_drive_learner_preset(spec, world, None, entry)))
    assert credited.env.reward.credit_gamma == load_hyperparams("maskable_ppo", entry).gamma == 0.9
    # the rest of the reward is the world's (the overlay merges, it does not replace)
    plain_world = load_preset(str(world)).env.reward
    assert dataclasses.replace(credited.env.reward, credit_gamma=None) == plain_world
    assert credited.env.shield.risk_budget == 0.002 and credited.env.observation == "risk"
    ablated = _drive_learner_preset(dataclasses.replace(spec, drive_credit=False), world, None, entry)
    assert "reward" not in yaml.safe_load(ablated.read_text())["env"]
    assert load_preset(str(ablated)).env.reward.credit_gamma is None
