"""Parameter sharing: one SB3 policy for every vehicle of a fleet, through FleetVecEnv."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from romanus.env.parallel import parallel_env
from romanus.policies import make_policy
from romanus.train.fleet import FleetVecEnv, train_fleet


def test_the_vec_env_presents_agents_as_sub_envs_and_auto_resets() -> None:
    env = parallel_env("fleet4", episode_s=0.5)  # 5 decisions an episode
    venv = FleetVecEnv(env, seed=3)
    obs = venv.reset()
    assert obs.shape == (4, *env.observation_space("vehicle_0").shape)
    masks = venv.env_method("action_masks")
    assert len(masks) == 4 and all(m.dtype == bool for m in masks)
    assert venv.has_attr("action_masks")  # MaskablePPO's check
    assert np.array_equal(venv.get_attr("action_masks", 2)[0](), masks[2])
    for step in range(5):
        venv.step_async(np.zeros(4, dtype=np.int64))  # local-right on every vehicle
        obs, rewards, dones, infos = venv.step_wait()
        assert rewards.shape == (4,) and rewards.dtype == np.float32
        assert dones.all() == (step == 4)
    assert all(i["TimeLimit.truncated"] and "terminal_observation" in i for i in infos)
    assert all("jain_energy" in i and "episode" in i for i in infos)
    assert obs.shape == (4, *env.observation_space("vehicle_0").shape)  # the fleet's next episode
    assert env.agents == env.possible_agents


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ppo", "maskable_ppo"])
def test_ppo_trains_one_shared_policy_on_eight_vehicles_and_it_drives_a_fleet(tmp_path, algo: str) -> None:  # type: ignore[no-untyped-def]
    torch.set_num_threads(1)
    run = train_fleet("fleet8", timesteps=4096, out=tmp_path, episode_s=10.0, progress=False, seed=1, algo=algo)
    assert (run / "final_model.zip").is_file() and (run / "config.yml").is_file()
    env = parallel_env("fleet8", episode_s=3.0)
    env.reset(seed=2)
    policies = [make_policy(f"{algo}:{run}", env.catalogue, env.preset) for _ in env.possible_agents]
    steps = 0
    while env.agents:
        acts = {a: p.act(v) for a, p, v in zip(env.agents, policies, env.views, strict=True)}
        assert all(env.action_mask(a)[m] for a, m in acts.items())
        *_, infos = env.step(acts)
        steps += 1
    assert steps == 30 and "fleet_energy_per_frame_mj" in infos["vehicle_0"]


@pytest.mark.slow
def test_a_sweep_over_fleet_size_trains_and_evaluates_shared_policies(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import csv

    from romanus.cli import main

    sweep = tmp_path / "fleet.yml"
    sweep.write_text(
        "name: fleet\npresets: [default]\nalgos: [ppo]\nseeds: '0:1'\ntimesteps: 512\nvehicles: [1, 3]\n"
        "hyperparams: {n_steps: 64, batch_size: 64, n_epochs: 1, policy_kwargs: {net_arch: [16]}}\n"
        "eval: {seeds: '100:102', duration_s: 2, baselines: [local-robust]}\n"
    )
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "out"), "-q"]) == 0
    with (tmp_path / "out" / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["config"] for r in rows) == ["vehicles=1,base", "vehicles=3,base"]
    assert all(r["status"] == "ok" and float(r["energy_per_frame_mj"]) > 0 for r in rows)


def test_bad_fleet_sizes_in_a_sweep_name_the_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from romanus.configio import ConfigError
    from romanus.sweep import load_sweep

    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\npresets: [default]\nalgos: [ppo]\nseeds: '0:1'\nvehicles: [0]\n")
    with pytest.raises(ConfigError, match=r"vehicles\[0\]"):
        load_sweep(bad)
