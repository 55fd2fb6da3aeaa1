"""Training on a recorded scenario suite: the learner sees exactly the scenarios it is given.

``romanus train`` trains on a live preset (one drive, random start); :func:`train_on_suite`
trains on every scenario of a recorded suite instead (every window of every training-day drive,
say), each of the ``n_envs`` environments replaying the suite in its own shuffled order
(``RomanusEnv(preset, scenario=[...])``), so the learner sees all training scenarios and none of
the validation or test ones. The run folder it writes is a policy for ``romanus compare``
(``<algo>:RUN_DIR``): ``final_model.zip`` and a ``config.yml`` with the algorithm, the env's
decision stack (observation, energy scale and the shield's budget, if the preset has a shield)
and the network, as ``romanus train`` writes them. ``train.json`` holds the wall time, the
process CPU time and the steps per second; a run folder that has it is not trained again.

Used by ``romanus reproduce --drives`` (agents trained on the drives' training days) and by
the experiments in ``experiments/place`` and ``experiments/learner``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from romanus.fileio import atomic_write_bytes

__all__ = ["HYPERPARAMS_ENV_ID", "train_on_suite"]

log = logging.getLogger(__name__)

#: the hyper-parameter entry used unless told otherwise (experiments/hyperparams/<algo>.yml)
HYPERPARAMS_ENV_ID = "romanus/Default-v2"


def train_on_suite(
    preset: Path,
    scenarios: Sequence[Path],
    run: Path,
    *,
    seed: int,
    timesteps: int,
    algo: str = "maskable_ppo",
    hyperparams_env_id: str = HYPERPARAMS_ENV_ID,
    hyperparams_file: Path | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Train one seed of ``algo`` on ``preset`` replaying ``scenarios`` into the folder ``run``
    and return ``run/train.json``'s content (seed, timesteps, wall_s, cpu_s, steps_per_s,
    observation). Skipped when ``run/train.json`` exists (its content is returned): a study that
    calls this again resumes. ``hyperparams_env_id`` names the entry of the hyper-parameter file
    (``hyperparams_file``, default the shipped ``<algo>.yml``) whose settings are used; the
    network, ``n_envs`` and the algorithm's keyword arguments come from it. ``threads``: torch
    threads of this process. ``ValueError`` for an unknown algorithm, no scenarios or a
    non-positive budget."""
    from romanus.train.algorithms import algorithm

    spec = algorithm(algo)  # ValueError naming the known ones
    if not scenarios:
        raise ValueError(f"{run}: no scenarios to train on")
    if timesteps < 1:
        raise ValueError(f"{run}: timesteps must be positive, got {timesteps}")
    if threads < 1:
        raise ValueError(f"{run}: threads must be positive, got {threads}")
    done = run / "train.json"
    if done.is_file():
        return dict(json.loads(done.read_text()))
    import torch
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import DummyVecEnv

    from romanus.env.core import RomanusEnv
    from romanus.train.agent import save_model
    from romanus.train.hyperparams import algo_kwargs, load_hyperparams

    scenarios = list(scenarios)
    torch.set_num_threads(threads)
    set_random_seed(seed)
    params = load_hyperparams(algo, hyperparams_env_id, hyperparams_file)
    n_envs = int(getattr(params, "n_envs", 4))
    rng = np.random.default_rng(seed)
    orders = [[scenarios[i] for i in rng.permutation(len(scenarios))] for _ in range(n_envs)]

    def make(order: list[Path]) -> Any:
        return lambda: RomanusEnv(str(preset), scenario=[str(p) for p in order])

    venv = DummyVecEnv([make(o) for o in orders])
    venv.seed(seed)
    first = venv.envs[0]
    assert isinstance(first, RomanusEnv)
    run.mkdir(parents=True, exist_ok=True)
    model = spec.load_class()(params.policy, venv, seed=seed, device="cpu", verbose=0, **algo_kwargs(params))
    log.info("training %s seed %d: %d steps on %d scenarios", run.name, seed, timesteps, len(scenarios))
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=timesteps)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    save_model(model, run / "final_model.zip")
    observation = first.stack.observation.name
    config: dict[str, Any] = {
        "algo": algo,
        "seed": seed,
        "timesteps": int(model.num_timesteps),
        "preset_ref": str(preset),
        "env_config": {
            "observation": observation,
            "energy_scale_mj": float(first.energy_scale_mj),
            "shield": first.stack.shield_budget,
        },
        "hyperparams": {"policy_kwargs": {"net_arch": list(params.policy_kwargs.net_arch)}},
        "hyperparams_env_id": hyperparams_env_id,
        "hyperparams_file": None if hyperparams_file is None else str(hyperparams_file),
        "train_scenarios": [str(p) for p in scenarios],
    }
    atomic_write_bytes(run / "config.yml", yaml.safe_dump(config, sort_keys=False).encode())
    out = {
        "seed": seed,
        "timesteps": int(model.num_timesteps),
        "wall_s": wall,
        "cpu_s": cpu,
        "steps_per_s": model.num_timesteps / wall,
        "observation": observation,
    }
    atomic_write_bytes(done, json.dumps(out, indent=1).encode())
    log.info("trained %s: %.0f s wall, %.0f steps/s", run.name, wall, out["steps_per_s"])
    return out
