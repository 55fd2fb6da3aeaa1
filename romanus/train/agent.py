"""Trained agents as policies: the same ``act(ctx)`` face as every fixed policy.

A policy spec names a model: ``ppo:RUN_DIR`` (the run's best model, else its final model,
else its newest checkpoint), ``ppo:path/to/model.zip``, or ``agent:RUN_DIR`` (the algorithm
read from the run's ``config.yml``). Model files are zip archives that contain pickled
Python objects: load only models you trust; romanus loads exactly the file named, nothing
found by searching elsewhere.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

from romanus.env.core import default_energy_scale_mj
from romanus.env.observations import make_observation
from romanus.policies import Policy
from romanus.risk import RiskAssessor, Shield
from romanus.sim.simulator import DecisionContext, Simulator

__all__ = ["AgentPolicy", "algo_class", "is_agent_spec", "load_agent", "resolve_model"]

_ALGOS = ("ppo", "maskable_ppo", "a2c", "dqn")


def algo_class(algo: str) -> Any:
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import A2C, DQN, PPO

    classes = {"ppo": PPO, "maskable_ppo": MaskablePPO, "a2c": A2C, "dqn": DQN}
    if algo not in classes:
        raise ValueError(f"unknown algorithm {algo!r} (known: {', '.join(classes)})")
    return classes[algo]


def is_agent_spec(spec: str) -> bool:
    return ":" in spec and spec.split(":", 1)[0] in (*_ALGOS, "agent")


def _steps(path: Path) -> int:
    m = re.search(r"_(\d+)_steps\.zip$", path.name)
    return int(m.group(1)) if m else -1


def resolve_model(spec: str) -> tuple[str, Path, dict[str, Any]]:
    """(algorithm, model file, run config or {}) of a policy spec."""
    algo, _, target = spec.partition(":")
    path = Path(target)
    config: dict[str, Any] = {}
    run_dir = path if path.is_dir() else (path.parent if (path.parent / "config.yml").is_file() else None)
    if run_dir is not None and (run_dir / "config.yml").is_file():
        loaded = yaml.safe_load((run_dir / "config.yml").read_text())
        config = loaded if isinstance(loaded, dict) else {}
    if path.is_dir():
        candidates = [path / "best_model.zip", path / "final_model.zip"]
        ckpts = (
            sorted((path / "checkpoints").glob("*_steps.zip"), key=_steps) if (path / "checkpoints").is_dir() else []
        )
        found = next((c for c in candidates if c.is_file()), ckpts[-1] if ckpts else None)
        if found is None:
            raise ValueError(f"{path}: no best_model.zip, final_model.zip or checkpoint in this run folder")
        path = found
    elif not path.is_file():
        raise ValueError(f"{spec}: no such model file or run folder")
    if algo == "agent":
        algo = str(config.get("algo", ""))
        if algo not in _ALGOS:
            raise ValueError(f"{spec}: the run's config.yml does not name an algorithm; use <algo>:{target}")
    return algo, path, config


@functools.lru_cache(maxsize=4)
def load_agent(algo: str, path: str) -> Any:
    """Load a model once per process (its zip holds pickles: only load what you trust)."""
    return algo_class(algo).load(path, device="cpu")


class AgentPolicy(Policy):
    """A trained stable-baselines3 model choosing modes from the env's observation.

    It sees the world as it did in training: the same observation function and, if it was
    trained behind a shield, the same shield (the run's ``env_config``), whatever world it
    is evaluated in."""

    def __init__(self, spec: str, sim: Simulator) -> None:
        algo, path, config = resolve_model(spec)
        self.name = spec
        self._sim = sim
        self._maskable = algo == "maskable_ppo"
        self.model = load_agent(algo, str(path))
        env_cfg = config.get("env_config", {}) if config else {}
        observation = env_cfg.get("observation", sim.preset.env.observation)
        scale = env_cfg.get("energy_scale_mj") or default_energy_scale_mj(sim.preset, sim.catalogue)
        self._obs = make_observation(observation, sim.preset, sim.catalogue, float(scale))
        budget = env_cfg.get("shield")
        self._budget = None if budget is None else float(budget)
        self._shield: Shield | None = None
        self.reset()
        want = self._obs.space.shape
        got = self.model.observation_space.shape
        if got != want or self.model.action_space.n != len(sim.catalogue):
            raise ValueError(
                f"{spec}: the model expects observations {got} and {self.model.action_space.n} actions; this world "
                f"gives {want} and {len(sim.catalogue)} (trained on another preset or observation?)"
            )

    def reset(self, seed: int | None = None) -> None:
        if self._obs.needs_risk or self._budget is not None:
            assessor = RiskAssessor(self._sim.preset, self._sim.catalogue)
            self._obs.assessor = assessor
            self._shield = None if self._budget is None else Shield(assessor, self._budget)

    def act(self, ctx: DecisionContext) -> int:
        if self._obs.assessor is not None:
            self._obs.assessor(ctx)
        obs = self._obs.observe(self._sim, ctx)
        mask = ctx.mask if self._shield is None else self._shield.mask(ctx)
        if self._maskable:
            action, _ = self.model.predict(obs, deterministic=True, action_masks=mask)
        else:
            action, _ = self.model.predict(obs, deterministic=True)
        a = int(action)
        if self._shield is not None and not mask[a]:
            return self._shield.fallback(ctx)
        return a
