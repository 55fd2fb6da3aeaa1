"""Trained agents as policies: the same ``act(view)`` face as every fixed policy.

A policy spec names a model: ``ppo:RUN_DIR`` (the run's best model, else its final model,
else its newest checkpoint), ``ppo:path/to/model.zip``, or ``agent:RUN_DIR`` (the algorithm
read from the run's ``config.yml``). Model files are zip archives that contain pickled
Python objects: load only models you trust; romanus loads exactly the file named, nothing
found by searching elsewhere.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from romanus.config import Preset
from romanus.pipeline.modes import ModeCatalogue
from romanus.policies import Policy
from romanus.sim.actions import ActionTable
from romanus.train.algorithms import ALGORITHMS, algorithm
from romanus.vehicle.decision import DecisionStack
from romanus.vehicle.view import VehicleView

__all__ = [
    "TRUST_ENV",
    "AgentPolicy",
    "algo_class",
    "is_agent_spec",
    "load_agent",
    "load_training_state",
    "resolve_model",
    "save_model",
    "valid_model_file",
]

log = logging.getLogger(__name__)


def algo_class(algo: str) -> Any:
    """The learner class of a registered algorithm."""
    return algorithm(algo).load_class()


def is_agent_spec(spec: str) -> bool:
    return ":" in spec and spec.split(":", 1)[0] in (*ALGORITHMS, "agent")


def _steps(path: Path) -> int:
    m = re.search(r"_(\d+)_steps\.zip$", path.name)
    return int(m.group(1)) if m else -1


def valid_model_file(path: Path) -> bool:
    """Whether ``path`` is a whole model zip (a file cut short by a full disk is not)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {"data", "policy.pth"} <= set(archive.namelist()) and archive.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def save_model(model: Any, path: Path) -> None:
    """Write a model zip atomically: a crash or a full disk leaves the previous file intact."""
    from romanus.fileio import atomic_write_bytes

    buf = io.BytesIO()
    model.save(buf)
    atomic_write_bytes(path, buf.getvalue())


def load_training_state(model: Any, path: Path) -> None:
    """Load a checkpoint's policy and optimizer tensors and its step count into ``model`` (built
    from the run's config), reading the zip's JSON and ``weights_only`` tensors: nothing in the
    file is unpickled."""
    import torch

    with zipfile.ZipFile(path) as archive:
        data = json.loads(_member(archive, "data", str(path)))
        policy = torch.load(io.BytesIO(_member(archive, "policy.pth", str(path))), weights_only=True)
        optimizer = (
            torch.load(io.BytesIO(_member(archive, "policy.optimizer.pth", str(path))), weights_only=True)
            if "policy.optimizer.pth" in archive.namelist()
            else None
        )
    model.policy.load_state_dict(policy)
    if optimizer is not None:
        model.policy.optimizer.load_state_dict(optimizer)
    for key in ("num_timesteps", "_n_updates", "_episode_num"):
        if isinstance(data.get(key), int):
            setattr(model, key, data[key])


def resolve_model(spec: str) -> tuple[str, Path, dict[str, Any]]:
    """(algorithm, model file, run config or {}) of a policy spec."""
    algo, _, target = spec.partition(":")
    path = Path(target)
    config: dict[str, Any] = {}
    run_dir = path if path.is_dir() else next((d for d in path.parents[:2] if (d / "config.yml").is_file()), None)
    if run_dir is not None and (run_dir / "config.yml").is_file():
        loaded = yaml.safe_load((run_dir / "config.yml").read_text())
        config = loaded if isinstance(loaded, dict) else {}
    if path.is_dir():
        candidates = [path / "best_model.zip", path / "final_model.zip"]
        ckpts = (
            sorted((path / "checkpoints").glob("*_steps.zip"), key=_steps) if (path / "checkpoints").is_dir() else []
        )
        found = None
        for c in [*candidates, *reversed(ckpts)]:  # the best, the final, then the newest checkpoint
            if c.is_file() and valid_model_file(c):
                found = c
                break
            if c.is_file():
                log.warning("%s is not a whole model file (cut short?): skipped", c)
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


#: set to 1 (``--trust-model`` does) to let romanus unpickle model files it cannot load safely
TRUST_ENV = "ROMANUS_TRUST_MODELS"
_MAX_MEMBER_BYTES = 256 * 2**20


def _member(archive: zipfile.ZipFile, name: str, path: str) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ValueError(f"{path}: not a stable-baselines3 model (no {name} in the zip)") from None
    if info.file_size > _MAX_MEMBER_BYTES:
        raise ValueError(f"{path}: {name} declares {info.file_size} bytes, more than a romanus model holds")
    return archive.read(info)


def _net_arch(path: str, config: dict[str, Any], data: dict[str, Any]) -> list[int] | None:
    """The hidden layers the model was built with: from its run's config.yml, else from the
    zip's plain-JSON policy kwargs; None when neither says (then only a trusted load works)."""
    hp = config.get("hyperparams") if isinstance(config.get("hyperparams"), dict) else None
    kwargs = hp.get("policy_kwargs") if hp else data.get("policy_kwargs")
    arch = kwargs.get("net_arch") if isinstance(kwargs, dict) else None
    if isinstance(arch, list | tuple) and arch and all(isinstance(n, int) and 0 < n <= 65536 for n in arch):
        return [int(n) for n in arch]
    return None


@functools.lru_cache(maxsize=8)
def _load_cached(algo: str, path: str, net_arch: tuple[int, ...] | None, obs_dim: int, n_actions: int) -> Any:
    import torch
    from gymnasium import spaces

    cls = algo_class(algo)
    if net_arch is None:
        if os.environ.get(TRUST_ENV) != "1":
            raise ValueError(
                f"{path}: cannot rebuild this model without unpickling it (no run config.yml beside it and no "
                "plain net_arch in the zip); pass --trust-model to load it anyway (runs code from the file)"
            )
        log.warning("unpickling %s (--trust-model): only do this for files you trust", path)
        return cls.load(path, device="cpu").policy
    with zipfile.ZipFile(path) as archive:
        weights = _member(archive, "policy.pth", path)
    state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    obs_space = spaces.Box(0.0, 1.0, shape=(obs_dim,), dtype=np.float32)
    policy = cls.policy_aliases["MlpPolicy"](
        obs_space, spaces.Discrete(n_actions), lambda _: 0.0, net_arch=list(net_arch)
    )
    try:
        policy.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(f"{path}: its weights do not fit this world's spaces or network ({first})") from None
    policy.set_training_mode(False)
    return policy


def load_agent(algo: str, path: str, config: dict[str, Any], obs_dim: int, n_actions: int) -> Any:
    """The trained policy network of a model file, loaded without unpickling anything: the
    network is rebuilt from the run's recorded config (or the zip's plain-JSON kwargs) and
    only its tensors are read (``torch.load(..., weights_only=True)``). A file that cannot be
    loaded so needs ``--trust-model`` (environment ``ROMANUS_TRUST_MODELS=1``), which unpickles
    it. Cached per process."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(_member(archive, "data", path))
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable model file ({exc})") from None
    arch = _net_arch(path, config, data if isinstance(data, dict) else {})
    return _load_cached(algo, path, None if arch is None else tuple(arch), obs_dim, n_actions)


class AgentPolicy(Policy):
    """A trained stable-baselines3 model choosing actions (modes, or offloading modes with a
    local fallback) from the env's observation.

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
        self.stack = DecisionStack.from_env_config(preset, catalogue, config.get("env_config", {}) if config else {})
        self.sees_future = self.stack.sees_future
        self.reset()
        #: the trained policy network (an SB3 policy: ``predict(obs, deterministic=True)``)
        n_actions = len(ActionTable(catalogue, preset.fallback.options_ms, preset.fallback.tier))
        self.model = load_agent(algo, str(path), config, len(self.stack.observation.features), n_actions)
        got = self.model.observation_space.shape
        if got != (len(self.stack.observation.features),) or self.model.action_space.n != n_actions:
            raise ValueError(
                f"{spec}: the model expects observations {got} and {self.model.action_space.n} actions; this world "
                f"gives {len(self.stack.observation.features)} and {n_actions} (trained on another preset or "
                "observation?)"
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
        chosen, _ = self.stack.apply(view, int(action))
        return chosen
