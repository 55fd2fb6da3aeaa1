"""The fleet's PettingZoo ParallelEnv and its single-learner Gymnasium view."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test

import romanus
from romanus.env.core import RomanusEnv
from romanus.env.parallel import FLEET_PRESETS, FleetLearnerEnv, FleetParallelEnv, parallel_env
from romanus.sim.fleet import FLEET_KPIS


@pytest.mark.parametrize("name", sorted(FLEET_PRESETS))
def test_parallel_api_test_passes_on_every_fleet_preset(name: str) -> None:
    env = romanus.parallel_env(name, episode_s=2.0)
    assert isinstance(env, FleetParallelEnv) and env.vehicles == FLEET_PRESETS[name][1]
    parallel_api_test(env, num_cycles=30)


def test_a_fleet_of_one_is_the_single_vehicle_env() -> None:
    """Same seed, same actions: the same observations, rewards and reward terms."""
    fleet = parallel_env("default", vehicles=1, episode_s=8.0)
    single = RomanusEnv("default", episode_s=8.0)
    obs, infos = fleet.reset(seed=9)
    o, _ = single.reset(seed=9)
    assert np.array_equal(obs["vehicle_0"], o)
    rng = np.random.default_rng(1)
    offloaded = 0
    for _ in range(80):
        mask = single.action_masks()
        assert np.array_equal(infos["vehicle_0"]["action_mask"].astype(bool), mask)
        a = int(rng.choice(np.flatnonzero(mask)))
        obs, rewards, _, truncs, infos = fleet.step({"vehicle_0": a})
        o, r, _, trunc, info = single.step(a)
        assert np.array_equal(obs["vehicle_0"], o)
        assert rewards["vehicle_0"] == r
        assert truncs["vehicle_0"] == trunc
        for key in (
            "energy_mj",
            "reward_energy",
            "reward_risk",
            "reward_miss",
            "offloaded",
            "fell_back",
            "fallback",
            "mode",
        ):
            assert infos["vehicle_0"][key] == info[key]
        offloaded += info["offloaded"]
    assert trunc and offloaded > 20
    for key in ("episode_energy_per_frame_mj", "episode_risky_rate", "episode_latency_p95_ms"):
        assert infos["vehicle_0"][key] == pytest.approx(info[key])
    assert fleet.agents == []


def test_fleet_episodes_are_deterministic_and_report_fleet_kpis() -> None:
    def run() -> list[tuple[dict[str, float], dict[str, dict[str, object]]]]:
        env = parallel_env("fleet4", episode_s=3.0)
        env.reset(seed=3)
        rng = np.random.default_rng(0)
        out = []
        while env.agents:
            acts = {a: int(rng.choice(np.flatnonzero(env.action_mask(a)))) for a in env.agents}
            _, rewards, _, _, infos = env.step(acts)
            out.append((rewards, infos))
        return out

    first, second = run(), run()
    assert [r for r, _ in first] == [r for r, _ in second]
    last = first[-1][1]
    for agent in last:
        for key in FLEET_KPIS:
            assert key in last[agent]
        assert 0.0 < last[agent]["jain_energy"] <= 1.0
    # vehicles' rewards differ (their own frames), the fleet KPIs are shared
    assert len({first[5][0][a] for a in first[5][0]}) > 1
    assert len({last[a]["fleet_energy_per_frame_mj"] for a in last}) == 1


def test_shielded_fleet_and_bad_actions() -> None:
    env = parallel_env("default_shielded", vehicles=2, episode_s=2.0)
    _, infos = env.reset(seed=0)
    assert infos["vehicle_0"]["action_mask"].dtype == np.int8
    _, _, _, _, infos = env.step({"vehicle_0": 30, "vehicle_1": 0})  # a full-tier offload, likely shielded
    assert "shielded" in infos["vehicle_0"]
    with pytest.raises(ValueError, match="no action for vehicle_1"):
        env.step({"vehicle_0": 0})
    with pytest.raises(ValueError, match=r"actions\['vehicle_0'\]"):
        env.step({"vehicle_0": 999, "vehicle_1": 0})
    with pytest.raises(ValueError, match="not a fleet preset"):
        parallel_env("default")
    with pytest.raises(ValueError, match="vehicles"):
        parallel_env("default", vehicles=0)


def test_one_learner_among_fixed_policy_vehicles_passes_the_gymnasium_checker() -> None:
    env = FleetLearnerEnv("default", vehicles=3, others="offload-all", episode_s=2.0)
    check_env(env, skip_render_check=True)
    env.reset(seed=1)
    done = False
    while not done:
        _, _, _, done, info = env.step(int(np.flatnonzero(env.action_masks())[0]))
    assert "jain_risk" in info


def test_a_recorded_fleet_is_replayed_every_episode() -> None:
    from romanus.config import load_preset
    from romanus.fleetscenario import record_fleet_scenario

    sc = record_fleet_scenario(load_preset("default"), 2, 7, 2.0)
    env = parallel_env("default", vehicles=2, episode_s=2.0, worlds=sc.vehicles)

    def episode(seed: int) -> list[dict[str, float]]:
        env.reset(seed=seed)
        out = []
        while env.agents:
            out.append(env.step({a: 9 for a in env.agents})[1])  # an offloading mode for everyone
        return out

    assert episode(0) == episode(1)  # another seed, the same recorded world
    assert sum(r["vehicle_0"] != 0.0 for r in episode(2)) == 20
    with pytest.raises(ValueError, match="recorded scenarios"):
        parallel_env("default", vehicles=1, worlds=[object()])
