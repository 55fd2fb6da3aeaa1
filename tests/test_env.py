"""The Gymnasium environment: API sweep over every registered id, determinism, masks, training."""

from __future__ import annotations

import ast
import multiprocessing as mp
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import romanus
from romanus.env.core import EPISODE_KPIS, RomanusEnv

IDS = romanus.registered_ids
ALLOWED_WARNINGS: tuple[str, ...] = ()  # none needed today


def test_every_shipped_preset_is_registered() -> None:
    assert set(IDS) == {
        "romanus/Default-v2",
        "romanus/DefaultShielded-v2",
        "romanus/Highway5G-v2",
        "romanus/AdverseWeather-v2",
        "romanus/RuralLTE-v2",
    }
    romanus.env.registration.register_envs()  # idempotent
    assert all(i in gym.registry for i in IDS)


@pytest.mark.parametrize("env_id", IDS)
def test_both_checkers_pass_without_warnings(env_id: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for pattern in ALLOWED_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        gym_check_env(gym.make(env_id).unwrapped, skip_render_check=True)
        sb3_check_env(gym.make(env_id).unwrapped, warn=True)


def rollout(env: gym.Env, steps: int, seed: int, actions_seed: int = 1) -> list[tuple[Any, ...]]:
    obs, info = env.reset(seed=seed)
    out: list[tuple[Any, ...]] = [(obs.tobytes(), sorted(info.items()))]
    rng = np.random.default_rng(actions_seed)
    for _ in range(steps):
        allowed = np.flatnonzero(env.unwrapped.action_masks())
        a = int(rng.choice(allowed))
        obs, reward, terminated, truncated, info = env.step(a)
        out.append((a, obs.tobytes(), reward, terminated, truncated, sorted(info.items())))
        if truncated:
            obs, info = env.reset()
            out.append((obs.tobytes(), sorted(info.items())))
    return out


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_rollout_exactly(env_id: str) -> None:
    a = rollout(gym.make(env_id, episode_s=12.0), 200, seed=3)
    b = rollout(gym.make(env_id, episode_s=12.0), 200, seed=3)
    assert a == b
    c = rollout(gym.make(env_id, episode_s=12.0), 200, seed=4)
    assert a != c


def test_info_is_flat_deterministic_scalars_with_kpis_on_the_last_step() -> None:
    env = gym.make("romanus/Default-v2", episode_s=30.0)
    env.reset(seed=0)
    infos = []
    truncated = False
    while not truncated:
        _, reward, terminated, truncated, info = env.step(0)
        assert not terminated
        infos.append(info)
        assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in info.values()), info
        assert reward == pytest.approx(info["reward_energy"] + info["reward_risk"] + info["reward_miss"])
    assert len(infos) == 300
    assert all(k in infos[-1] for k in EPISODE_KPIS)
    assert not any(k in infos[0] for k in EPISODE_KPIS)
    # with deadline = period every step credits exactly its own frame
    assert all(i["frames_resolved"] == 1 for i in infos)


def test_pickle_round_trip_continues_the_same_rollout() -> None:
    env = RomanusEnv("default", episode_s=10.0)
    env.reset(seed=11)
    rng = np.random.default_rng(0)
    for a in rng.integers(0, env.action_space.n, 37):
        env.step(int(a))
    clone = pickle.loads(pickle.dumps(env))
    for a in rng.integers(0, env.action_space.n, 120):
        o1, r1, _, t1, i1 = env.step(int(a))
        o2, r2, _, t2, i2 = clone.step(int(a))
        assert o1.tobytes() == o2.tobytes() and r1 == r2 and t1 == t2 and i1 == i2
        if t1:
            assert env.reset()[0].tobytes() == clone.reset()[0].tobytes()
    fresh = pickle.loads(pickle.dumps(RomanusEnv("rural_lte")))
    assert fresh.reset(seed=1)[0].tobytes() == RomanusEnv("rural_lte").reset(seed=1)[0].tobytes()


def _make_in_child(queue: Any) -> None:
    env = gym.make("romanus:romanus/Default-v2")
    obs, _ = env.reset(seed=5)
    queue.put((obs.tobytes(), env.action_space.n))


@pytest.mark.slow
def test_make_works_in_a_spawned_subprocess() -> None:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_make_in_child, args=(queue,))
    proc.start()
    obs, n = queue.get(timeout=120)
    proc.join(timeout=60)
    assert proc.exitcode == 0
    env = gym.make("romanus/Default-v2")
    assert obs == env.reset(seed=5)[0].tobytes() and n == env.action_space.n


def test_vector_envs() -> None:
    from stable_baselines3.common.env_util import make_vec_env

    vec = gym.vector.SyncVectorEnv([lambda: gym.make("romanus/Highway5G-v2") for _ in range(2)])
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (2, *vec.single_observation_space.shape)
    obs, rew, *_ = vec.step(np.array([0, 3]))
    assert rew.shape == (2,)
    venv = make_vec_env("romanus/Default-v2", n_envs=2, seed=0)
    venv.reset()
    obs, rew, _done, infos = venv.step(np.array([1, 2]))
    assert obs.shape[0] == 2 and len(infos) == 2


def test_masks_are_exactly_the_modes_that_cannot_run() -> None:
    env = RomanusEnv("default", overrides={"server": {"enabled": False}})
    env.reset(seed=0)
    mask = env.action_masks()
    assert np.array_equal(mask, env.actions.extend(~env.catalogue.offload_mask))
    assert len(mask) == len(env.catalogue) + len(env.preset.fallback.options_ms) * env.catalogue.offload_mask.sum()
    assert mask.any() and not mask.all()
    with pytest.raises(ValueError, match="is masked"):
        env.step(int(np.flatnonzero(~mask)[0]))
    env.step(int(np.flatnonzero(mask)[0]))  # still usable after the refusal
    with pytest.raises(ValueError, match="outside Discrete"):
        env.step(env.action_space.n)
    assert RomanusEnv("default").action_masks().all()


@pytest.mark.slow
@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("observation", ["vehicle", "oracle", "risk"])
def test_random_actions_keep_observations_finite_and_in_bounds(env_id: str, observation: str) -> None:
    env = gym.make(env_id, observation=observation)
    space = env.observation_space
    obs, _ = env.reset(seed=42)
    rng = np.random.default_rng(7)
    lo, hi = space.low, space.high
    seen = np.zeros(space.shape, dtype=bool)
    for _ in range(10_000 if observation == "vehicle" else 2_000):
        assert obs.dtype == np.float32 and np.isfinite(obs).all()
        assert (obs >= lo).all() and (obs <= hi).all()
        seen |= obs > 0
        obs, reward, _, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        assert np.isfinite(reward)
        if truncated:
            obs, _ = env.reset()
    # every feature moves at some point (a constant feature would be dead weight); the own-queue
    # features stay 0 when every frame resolves before the next decision (abandon = period)
    names = [f.name for f in env.unwrapped.stack.observation.features]
    preset = env.unwrapped.preset
    queues = ("uplink_backlog", "accelerator_backlog", "frames_in_flight")
    quiet = queues if preset.abandon_ms <= preset.period_ms else ()
    if preset.radio.accounting == "connected":  # a modem kept connected is never idle nor promoting
        quiet = (*quiet, "radio_idle", "radio_promotion")
    if env.unwrapped.stack.shield is not None:  # a 0.2 % shield keeps 2,000 random frames safe
        quiet = (*quiet, "last_risky")
    dead = [n for n, s in zip(names, seen, strict=True) if not s and not n.startswith(("scene_", "gate_", *quiet))]
    assert not dead, dead
    if quiet:
        assert not any(s for n, s in zip(names, seen, strict=True) if n in queues)


def test_queue_features_move_when_frames_outlive_the_period() -> None:
    env = RomanusEnv("default", overrides={"abandon_after_ms": 400.0})
    env.reset(seed=0)
    idx = [
        i for i, f in enumerate(env.stack.observation.features) if f.name in ("frames_in_flight", "accelerator_backlog")
    ]
    full = env.catalogue.by_name["full|camera=local,range=local"].index  # 250 ms of compute per frame
    seen = np.zeros(len(idx))
    for _ in range(30):
        obs, *_ = env.step(full)
        seen = np.maximum(seen, obs[idx])
    assert (seen > 0).all()


def test_oracle_sees_the_future_and_vehicle_does_not() -> None:
    env = RomanusEnv("default", observation="oracle")
    names = [f.name for f in env.stack.observation.features]
    assert names[-3:] == ["true_uplink_now", "true_uplink_next", "true_server_wait"]
    assert len(names) == RomanusEnv("default").observation_space.shape[0] + 3


def test_simulator_core_imports_no_gymnasium() -> None:
    root = Path(romanus.__file__).parent
    for folder in ("sim", "pipeline"):
        for path in (root / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    assert not name.startswith(("gymnasium", "stable_baselines3", "sb3_contrib")), (path, name)


def test_docstring_lists_the_default_catalogue() -> None:
    cat = RomanusEnv("default").catalogue
    doc = " ".join((RomanusEnv.__doc__ or "").split())
    by_tier: dict[str, list[int]] = {}
    for m in cat.modes:
        by_tier.setdefault(m.tier, []).append(m.index)
    assert f"catalogue ({len(cat)} modes)" in doc
    for tier, idx in by_tier.items():
        assert re.search(rf"\b{idx[0]}(-{idx[-1]})? {tier} \|", doc), tier
    for tier in ("camera_right", "camera_both", "radar_fusion", "lidar_fusion"):
        placements = ", ".join(dict(m.placement)[next(iter(dict(m.placement)))] for m in cat.modes if m.tier == tier)
        assert placements in doc.replace("the same eight placements", placements) or tier == "camera_both"


def test_docs_describe_every_feature() -> None:
    text = (Path(__file__).parent.parent / "docs" / "env.md").read_text()
    for obs in ("vehicle", "oracle", "risk"):
        for f in RomanusEnv("default", observation=obs).stack.observation.features:
            key = re.sub(r"_(city|junction|motorway|rural|rain|snow|fog|night)$", "_<scene>", f.name)
            key = re.sub(r"^gate_.*", "gate_<branch>", key)
            key = re.sub(r"^(risk_min|risk_cheapest|energy_cheapest)_.*", r"\1_<tier>", key)
            key = re.sub(r"^fallback_time_\d+$", "fallback_time_<k>", key)
            assert f"`{key}`" in text, key


@pytest.mark.slow
def test_tiny_ppo_and_maskable_ppo_train() -> None:
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    for algo in (PPO, MaskablePPO):
        env = gym.make("romanus/Default-v2", episode_s=20.0)
        model = algo("MlpPolicy", env, n_steps=256, batch_size=64, n_epochs=2, seed=0, device="cpu")
        model.learn(total_timesteps=2048)
        assert model.num_timesteps >= 2048


def test_pickle_keeps_the_scenario_being_replayed(tmp_path: Path) -> None:
    from romanus.config import load_preset
    from romanus.scenario import record_scenario

    record_scenario(load_preset("default"), 3, 8.0).save(tmp_path / "a.scenario")
    env = RomanusEnv(scenario=tmp_path / "a.scenario", observation="oracle")  # env overrides on a scenario
    env.reset(seed=0)
    for _ in range(10):
        env.step(3)
    clone = pickle.loads(pickle.dumps(env))
    assert clone._episode_scenario is not None and clone._episode_frames == 80
    for _ in range(70):
        o1, r1, _, t1, _ = env.step(3)
        o2, r2, _, t2, _ = clone.step(3)
        assert o1.tobytes() == o2.tobytes() and r1 == r2 and t1 == t2
    assert t1


def test_short_estimate_windows_keep_enough_history() -> None:
    env = RomanusEnv("highway_5g", overrides={"estimate_window_ms": 200.0}, episode_s=150.0)
    env.reset(seed=0)
    for _ in range(1500):
        env.step(3)


def test_credit_gamma_counts_a_late_frame_in_full_at_its_decision() -> None:
    """``reward.credit_gamma``: a frame resolved k steps after its decision is credited divided by
    gamma**k, so gamma**(its step) x its credit = gamma**(its decision) x its reward; on time it
    is credited as without; the info's energy stays the frame's own."""
    from romanus.config import load_preset
    from romanus.env.core import credit
    from romanus.sim.simulator import Simulator

    sim = Simulator(load_preset("default"), 0)
    records = []
    while not records:
        records = sim.step(0)
    r = records[0]
    plain, info = credit([r], 0.01, 50.0, 1.0)
    on_time, _ = credit([r], 0.01, 50.0, 1.0, frame=r.frame, credit_gamma=0.9)
    late, late_info = credit([r], 0.01, 50.0, 1.0, frame=r.frame + 2, credit_gamma=0.9)
    assert plain < 0 and on_time == plain
    assert late == pytest.approx(plain / 0.81, rel=1e-12)
    assert 0.9 ** (r.frame + 2) * late == pytest.approx(0.9**r.frame * plain, rel=1e-12)
    assert late_info["energy_mj"] == info["energy_mj"]
    missed = r._replace(deadline_met=False, risky=True)
    _, terms = credit([missed], 0.01, 50.0, 1.0, frame=r.frame + 1, credit_gamma=0.9)
    assert terms["reward_risk"] == pytest.approx(-50.0 / 0.9) and terms["reward_miss"] == pytest.approx(-1.0 / 0.9)
    env = RomanusEnv("default", reward={"credit_gamma": 0.9})
    assert env.preset.env.reward.credit_gamma == 0.9
