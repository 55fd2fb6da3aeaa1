"""The study's learner: MaskablePPO on the training days' drive windows (a recorded suite).

``romanus train`` trains on a live preset (one drive, random start); the study trains on every
window of every training-day drive instead, each of the ``n_envs`` environments replaying the
suite in its own shuffled order (``RomanusEnv(preset, scenario=[...])``), so the learner sees
all training drives and none of the validation or test days. The run folder it writes is a
policy for ``romanus compare`` (``maskable_ppo:RUN_DIR``): ``final_model.zip`` and a
``config.yml`` with the algorithm, the env's decision stack (observation, energy scale and
the shield's budget, if the preset has a shield) and the network, as ``romanus train`` writes
them. ``train.json`` holds the wall time, the process CPU time and the steps per second.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from romanus.fileio import atomic_write_bytes

log = logging.getLogger("place-study")

ALGO = "maskable_ppo"
#: the shipped MaskablePPO hyper-parameters (experiments/hyperparams/maskable_ppo.yml)
HYPERPARAMS_ENV_ID = "romanus/Default-v2"


def train_learner(
    preset: Path, scenarios: list[Path], run: Path, *, seed: int, timesteps: int, threads: int = 1
) -> dict[str, Any]:
    """Train one seed into ``run`` (skipped when ``run/train.json`` exists: resumable study);
    returns ``train.json``'s content."""
    done = run / "train.json"
    if done.is_file():
        return dict(json.loads(done.read_text()))
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import DummyVecEnv

    from romanus.env.core import RomanusEnv
    from romanus.train.agent import save_model
    from romanus.train.hyperparams import algo_kwargs, load_hyperparams

    torch.set_num_threads(threads)
    set_random_seed(seed)
    params = load_hyperparams(ALGO, HYPERPARAMS_ENV_ID)
    n_envs = int(getattr(params, "n_envs", 4))
    rng = np.random.default_rng(seed)
    orders = [[scenarios[i] for i in rng.permutation(len(scenarios))] for _ in range(n_envs)]

    def make(order: list[Path]) -> Any:
        return lambda: RomanusEnv(str(preset), scenario=[str(p) for p in order])

    venv = DummyVecEnv([make(o) for o in orders])
    venv.seed(seed)
    first = venv.envs[0]
    run.mkdir(parents=True, exist_ok=True)
    model = MaskablePPO(params.policy, venv, seed=seed, device="cpu", verbose=0, **algo_kwargs(params))
    log.info("training %s seed %d: %d steps on %d scenarios", run.name, seed, timesteps, len(scenarios))
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=timesteps)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    save_model(model, run / "final_model.zip")
    config = {
        "algo": ALGO,
        "seed": seed,
        "timesteps": int(model.num_timesteps),
        "preset_ref": str(preset),
        "env_config": {
            "observation": first.stack.observation.name,
            "energy_scale_mj": float(first.energy_scale_mj),
            "shield": first.stack.shield_budget,
        },
        "hyperparams": {"policy_kwargs": {"net_arch": list(params.policy_kwargs.net_arch)}},
        "train_scenarios": [str(p) for p in scenarios],
    }
    atomic_write_bytes(run / "config.yml", yaml.safe_dump(config, sort_keys=False).encode())
    out = {
        "seed": seed,
        "timesteps": int(model.num_timesteps),
        "wall_s": wall,
        "cpu_s": cpu,
        "steps_per_s": model.num_timesteps / wall,
        "observation": config["env_config"]["observation"],
    }
    atomic_write_bytes(done, json.dumps(out, indent=1).encode())
    log.info("trained %s: %.0f s wall, %.0f steps/s", run.name, wall, out["steps_per_s"])
    return out
