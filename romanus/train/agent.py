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

from romanus.config import Preset
from romanus.pipeline.modes import ModeCatalogue
from romanus.policies import Policy
from romanus.train.algorithms import ALGORITHMS, algorithm
from romanus.vehicle.decision import DecisionStack
from romanus.vehicle.view import VehicleView

__all__ = ["AgentPolicy", "algo_class", "is_agent_spec", "load_agent", "resolve_model"]


def algo_class(algo: str) -> Any:
    """The learner class of a registered algorithm."""
    return algorithm(algo).load_class()


def is_agent_spec(spec: str) -> bool:
    return ":" in spec and spec.split(":", 1)[0] in (*ALGORITHMS, "agent")


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
        if algo not in ALGORITHMS:
            raise ValueError(f"{spec}: the run's config.yml does not name an algorithm; use <algo>:{target}")
    else:
        algorithm(algo)
    return algo, path, config


@functools.lru_cache(maxsize=4)
def load_agent(algo: str, path: str) -> Any:
    """Load a model once per process (its zip holds pickles: only load what you trust)."""
    return algo_class(algo).load(path, device="cpu")


class AgentPolicy(Policy):
    """A trained stable-baselines3 model choosing modes from the env's observation.

    It decides through the same :class:`~romanus.vehicle.decision.DecisionStack` it was
    trained through (the observation, energy scale and shield recorded in the run's
    ``env_config``), whatever world it is evaluated in, so it sees the same observations,
    masks and shield decisions as in training."""

    def __init__(self, spec: str, preset: Preset, catalogue: ModeCatalogue) -> None:
        if not is_agent_spec(spec):
            raise ValueError(
                f"unknown policy {spec!r}: a trained agent is <algo>:RUN_DIR with <algo> one of "
                f"{', '.join((*ALGORITHMS, 'agent'))}"
            )
        algo, path, config = resolve_model(spec)
        self.name = spec
        self._maskable = algorithm(algo).maskable
        self.model = load_agent(algo, str(path))
        env_cfg = config.get("env_config", {}) if config else {}
        budget = env_cfg.get("shield")
        scale = env_cfg.get("energy_scale_mj")
        self.stack = DecisionStack(
            preset,
            catalogue,
            env_cfg.get("observation", preset.env.observation),
            energy_scale_mj=None if scale is None else float(scale),
            shield_budget=None if budget is None else float(budget),
        )
        self.sees_future = self.stack.sees_future
        self.reset()
        want = self.stack.observation.space.shape
        got = self.model.observation_space.shape
        if got != want or self.model.action_space.n != len(catalogue):
            raise ValueError(
                f"{spec}: the model expects observations {got} and {self.model.action_space.n} actions; this world "
                f"gives {want} and {len(catalogue)} (trained on another preset or observation?)"
            )

    def reset(self, seed: int | None = None) -> None:
        self.stack.reset()

    def act(self, view: VehicleView) -> int:
        obs = self.stack.observe(view)
        mask = self.stack.mask(view)
        if self._maskable:
            action, _ = self.model.predict(obs, deterministic=True, action_masks=mask)
        else:
            action, _ = self.model.predict(obs, deterministic=True)
        mode, _ = self.stack.apply(view, int(action))
        return mode
