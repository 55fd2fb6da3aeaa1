"""Parameter sharing on a fleet: one stable-baselines3 policy drives every vehicle.

:class:`FleetVecEnv` presents the N agents of a :class:`~romanus.env.parallel.FleetParallelEnv`
as the N sub-environments of one SB3 ``VecEnv`` (what supersuit's ``pettingzoo_env_to_vec_env``
does, written here without the dependency): one ``step`` of the VecEnv is one fleet decision,
each agent's transition is one sample of the shared policy, and an episode's end auto-resets
the whole fleet (every agent truncated at once, with ``terminal_observation`` and
``TimeLimit.truncated`` in its info, as SB3 expects).

:func:`train_fleet` trains PPO (or MaskablePPO, which reads the per-agent action masks
through ``env_method("action_masks")``) with parameter sharing and writes a run folder whose
``config.yml`` records the algorithm, network and decision stack, so the agent is a policy
anywhere a policy name is taken: ``make_policy("ppo:RUN_DIR", ...)``, ``romanus compare``,
``romanus fleet compare``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from romanus import __version__
from romanus.env.parallel import FleetParallelEnv, fleet_preset, parallel_env
from romanus.fileio import atomic_write_bytes
from romanus.train.agent import save_model
from romanus.train.algorithms import algorithm

__all__ = ["FLEET_PPO_DEFAULTS", "FleetVecEnv", "train_fleet"]

log = logging.getLogger(__name__)

#: PPO hyper-parameters for fleet training: the shipped single-vehicle MaskablePPO set
#: (experiments/hyperparams/maskable_ppo.yml; a rollout is N agents x n_steps samples)
FLEET_PPO_DEFAULTS: dict[str, Any] = {
    "n_steps": 256,
    "batch_size": 256,
    "n_epochs": 10,
    "gamma": 0.9,
    "gae_lambda": 0.9,
    "learning_rate": 3e-4,
    "ent_coef": 0.01,
    "clip_range": 0.2,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
    "policy_kwargs": {"net_arch": [128, 128]},
}


class FleetVecEnv(VecEnv):
    """The agents of one fleet env as the sub-environments of an SB3 ``VecEnv``."""

    def __init__(self, env: FleetParallelEnv, seed: int = 0) -> None:
        self.env = env
        self.agent_ids = list(env.possible_agents)
        super().__init__(
            len(self.agent_ids), env.observation_space(self.agent_ids[0]), env.action_space(self.agent_ids[0])
        )
        self._seed: int | None = seed
        self._actions: np.ndarray | None = None
        self._returns = np.zeros(self.num_envs)
        self._length = 0

    def _stack(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.stack([obs[a] for a in self.agent_ids])

    def reset(self) -> VecEnvObs:
        return self._reset()

    def _reset(self) -> np.ndarray:
        seed, self._seed = self._seed, None  # seeded once; later episodes continue its stream
        obs, infos = self.env.reset(seed=seed)
        self.reset_infos = [infos[a] for a in self.agent_ids]
        self._returns[:] = 0.0
        self._length = 0
        return self._stack(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async first"
        acts = {a: int(x) for a, x in zip(self.agent_ids, np.asarray(self._actions).reshape(-1), strict=True)}
        obs, rewards, terms, truncs, infos = self.env.step(acts)
        rew = np.array([rewards[a] for a in self.agent_ids], dtype=np.float32)
        self._returns += rew
        self._length += 1
        done = np.array([terms[a] or truncs[a] for a in self.agent_ids])
        info_list = [dict(infos[a]) for a in self.agent_ids]
        stacked = self._stack(obs)
        if done.all():
            for i, a in enumerate(self.agent_ids):
                info_list[i]["terminal_observation"] = stacked[i]
                info_list[i]["TimeLimit.truncated"] = bool(truncs[a] and not terms[a])
                info_list[i]["episode"] = {"r": float(self._returns[i]), "l": self._length, "t": 0.0}
            stacked = self._reset()
        elif done.any():
            raise RuntimeError("fleet agents ended at different steps: FleetVecEnv needs them to end together")
        return stacked, rew, done, info_list

    def close(self) -> None:
        self.env.close()

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return list(indices)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        idx = self._indices(indices)
        if attr_name == "action_masks":  # what MaskablePPO checks for: each agent's own mask
            return [partial(self.env.action_mask, self.agent_ids[i]) for i in idx]
        return [getattr(self.env, attr_name) for _ in idx]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kwargs: Any
    ) -> list[Any]:
        idx = self._indices(indices)
        if method_name == "action_masks":  # MaskablePPO's per-sub-env masks: each agent's own
            return [self.env.action_mask(self.agent_ids[i]) for i in idx]
        return [getattr(self.env, method_name)(*method_args, **kwargs) for _ in idx]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        self._seed = seed
        return [seed for _ in range(self.num_envs)]


class _Progress(BaseCallback):
    def __init__(self, total: int) -> None:
        super().__init__()
        self._total = total
        self._bar: Any = None

    def _on_training_start(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=self._total, unit="step", desc="fleet training", leave=False)

    def _on_step(self) -> bool:
        self._bar.update(self.training_env.num_envs)
        return True

    def _on_training_end(self) -> None:
        self._bar.close()


def train_fleet(
    preset: str = "fleet8",
    vehicles: int | None = None,
    *,
    timesteps: int = 50_000,
    seed: int = 0,
    algo: str = "ppo",
    out: str | Path = "runs",
    episode_s: float | None = None,
    hyperparams: dict[str, Any] | None = None,
    threads: int = 1,
    progress: bool = True,
    env_options: dict[str, Any] | None = None,
) -> Path:
    """Train one policy shared by every vehicle of a fleet; returns the run folder (with
    ``final_model.zip`` and ``config.yml``). ``timesteps`` counts agent transitions (a fleet
    decision of N vehicles is N of them)."""
    import torch

    spec = algorithm(algo)
    if spec.family != "ppo":
        raise ValueError(f"algo: fleet training supports ppo and maskable_ppo, not {algo!r}")
    torch.set_num_threads(threads)
    base, n = fleet_preset(preset, vehicles)
    env = parallel_env(base, n, episode_s=episode_s, **(env_options or {}))
    venv = FleetVecEnv(env, seed=seed)
    hp = {**FLEET_PPO_DEFAULTS, **(hyperparams or {})}
    cls = spec.load_class()
    model = cls("MlpPolicy", venv, seed=seed, verbose=0, device="cpu", **hp)
    callbacks: list[BaseCallback] = [_Progress(timesteps)] if progress else []
    model.learn(total_timesteps=timesteps, callback=callbacks)
    run = Path(out) / f"fleet-{Path(str(base)).stem}-N{n}__{algo}__{seed}"
    run.mkdir(parents=True, exist_ok=True)
    save_model(model, run / "final_model.zip")
    stack = env.stacks[0]
    config = {
        "kind": "fleet",
        "romanus_version": __version__,
        "env": str(base),
        "vehicles": n,
        "overrides": json.loads(json.dumps((env_options or {}).get("overrides") or {})),
        "cell": {"scheduler": env.cell.scheduler, "pf_fading": env.cell.pf_fading},
        "episode_s": env.preset.env.episode_s,
        "algo": algo,
        "seed": seed,
        "timesteps": timesteps,
        "hyperparams": json.loads(json.dumps(hp)),
        "env_config": stack.env_config(),
    }
    atomic_write_bytes(run / "config.yml", yaml.safe_dump(config, sort_keys=False).encode())
    log.info("fleet training done: %s", run)
    return run
