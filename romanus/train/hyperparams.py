"""Training hyper-parameters: RL Zoo style YAML keyed by env id, parsed into typed classes.

The shipped files live in ``experiments/hyperparams/<algo>.yml`` (installed as the package
``romanus.hyperparams``). A file maps env ids to the algorithm's keyword arguments plus the
RL Zoo keys ``n_timesteps``, ``policy``, ``n_envs`` and ``policy_kwargs`` (a mapping; only
``net_arch`` is understood). Values are checked like presets: an unknown key or a wrong type
is an error naming the file and the key. Nothing is evaluated as code; a learning rate may
be ``lin_<value>`` (linear decay to 0, as in RL Zoo).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from romanus.config import preset_lineage, read_yaml
from romanus.configio import ConfigError, Invalid, build, field
from romanus.train.algorithms import ALGORITHMS, algorithm

log = logging.getLogger(__name__)

__all__ = ["AlgoParams", "entry_id", "hyperparams_path", "load_hyperparams", "read_run_config"]

MAX_N_ENVS = 64
"""Environments stepped in parallel: each is a simulator (and a process with subprocess
vector envs); beyond a machine's cores more only costs memory (100000 hung the launcher)."""
MAX_LAYERS = 16
MAX_LEARNING_RATE = 10.0
MAX_TIMESTEPS = 1_000_000_000


@dataclass(frozen=True)
class PolicyKwargs:
    net_arch: tuple[int, ...] = field(
        (64, 64), ge=1, le=4096, doc="hidden layer sizes of the policy and value networks (each 1 .. 4096)"
    )

    def __post_init__(self) -> None:
        if not self.net_arch or any(n < 1 for n in self.net_arch):
            raise Invalid("net_arch", "needs positive layer sizes")
        if len(self.net_arch) > MAX_LAYERS:
            raise Invalid("net_arch", f"at most {MAX_LAYERS} hidden layers, got {len(self.net_arch)}")


def _check_lr(value: float | str) -> None:
    if isinstance(value, str):
        if not value.startswith("lin_"):
            raise Invalid("learning_rate", f"expected a number or lin_<number>, got {value[:40]!r}")
        try:
            v = float(value[4:])
        except ValueError:
            raise Invalid("learning_rate", f"expected lin_<number>, got {value[:40]!r}") from None
    else:
        v = value
    if not (v > 0 and v <= MAX_LEARNING_RATE):
        raise Invalid("learning_rate", f"must be in (0, {MAX_LEARNING_RATE:g}], got {value!r}")


@dataclass(frozen=True)
class Common:
    n_timesteps: int = field(100_000, gt=0, le=MAX_TIMESTEPS, doc="training budget in environment steps (<= 1e9)")
    policy: Literal["MlpPolicy"] = "MlpPolicy"
    gamma: float = field(0.99, gt=0, le=1)
    learning_rate: float | str = field(3e-4, doc="a number in (0, 10], or lin_<number> for a linear decay")
    policy_kwargs: PolicyKwargs = field(default_factory=PolicyKwargs)

    def __post_init__(self) -> None:
        _check_lr(self.learning_rate)


@dataclass(frozen=True)
class PPOParams(Common):
    n_envs: int = field(1, ge=1, le=MAX_N_ENVS, doc="parallel environments (<= 64)")
    n_steps: int = field(2048, gt=1, le=1_000_000, doc="rollout length per environment")
    batch_size: int = field(64, gt=1, le=1_000_000)
    n_epochs: int = field(10, ge=1, le=1000)
    gae_lambda: float = field(0.95, ge=0, le=1)
    clip_range: float = field(0.2, gt=0, le=10)
    ent_coef: float = field(0.0, ge=0)
    vf_coef: float = field(0.5, ge=0)
    max_grad_norm: float = field(0.5, gt=0)
    normalize_advantage: bool = True
    target_kl: float | None = field(None, gt=0, le=100)


@dataclass(frozen=True)
class A2CParams(Common):
    n_envs: int = field(1, ge=1, le=MAX_N_ENVS, doc="parallel environments (<= 64)")
    n_steps: int = field(5, ge=1, le=1_000_000)
    gae_lambda: float = field(1.0, ge=0, le=1)
    ent_coef: float = field(0.0, ge=0)
    vf_coef: float = field(0.5, ge=0)
    max_grad_norm: float = field(0.5, gt=0)


@dataclass(frozen=True)
class DQNParams(Common):
    n_envs: int = field(1, ge=1, le=MAX_N_ENVS, doc="parallel environments (<= 64)")
    buffer_size: int = field(100_000, gt=0, le=10_000_000, doc="replay buffer transitions (<= 1e7)")
    learning_starts: int = field(1000, ge=0, le=MAX_TIMESTEPS)
    batch_size: int = field(32, gt=0, le=1_000_000)
    tau: float = field(1.0, gt=0, le=1)
    train_freq: int = field(4, ge=1, le=MAX_TIMESTEPS)
    gradient_steps: int = field(1, ge=-1, le=10_000)
    target_update_interval: int = field(10_000, ge=1, le=MAX_TIMESTEPS)
    exploration_fraction: float = field(0.1, gt=0, le=1)
    exploration_initial_eps: float = field(1.0, ge=0, le=1)
    exploration_final_eps: float = field(0.05, ge=0, le=1)
    max_grad_norm: float = field(10.0, gt=0)


AlgoParams = PPOParams | A2CParams | DQNParams
_FAMILIES: dict[str, type[Any]] = {"ppo": PPOParams, "a2c": A2CParams, "dqn": DQNParams}


def hyperparams_path(algo: str) -> Path:
    """The shipped hyper-parameter file of ``algo``."""
    algorithm(algo)
    return Path(str(importlib.resources.files("romanus.hyperparams") / f"{algo}.yml"))


def load_hyperparams(algo: str, env_id: str, path: str | Path | None = None) -> AlgoParams:
    """The typed hyper-parameters of ``algo`` for ``env_id`` from ``path`` (default: shipped)."""
    file = Path(path) if path is not None else hyperparams_path(algo)
    data = read_yaml(file)
    source = str(file)
    if not isinstance(data, dict):
        raise ConfigError(source, "", "expected a mapping of env ids to hyper-parameters")
    if not isinstance(env_id, str):
        raise ConfigError(source, "", f"env id must be a string, got {env_id!r}")
    if env_id not in data:
        known = ", ".join(sorted(map(str, data)))
        raise ConfigError(source, env_id, f"no hyper-parameters for this env id (the file has: {known})")
    entry = data[env_id]
    if not isinstance(entry, dict):
        raise ConfigError(source, env_id, "expected a mapping of hyper-parameters")
    return build(_FAMILIES[algorithm(algo).family], entry, source=source, path=env_id)  # type: ignore[no-any-return]


def entry_id(algo: str, env_id: str, preset_ref: str | None, path: str | Path | None = None) -> str:
    """The env id whose entry of the hyper-parameter file (``path``, default: shipped) applies
    to ``env_id``: its own, else that of the nearest preset ``preset_ref`` extends that has one
    (a user's YAML preset gets its parent's tuned settings), else ``env_id`` itself (and
    :func:`load_hyperparams` says which ids the file has)."""
    file = Path(path) if path is not None else hyperparams_path(algo)
    data = read_yaml(file)
    if not isinstance(data, dict) or env_id in data or preset_ref is None:
        return env_id
    for ancestor in preset_lineage(preset_ref):
        if ancestor in data:
            log.info("no %s hyper-parameters for %s in %s: using %s's, which it extends", algo, env_id, file, ancestor)
            return ancestor
    return env_id


def algo_kwargs(params: AlgoParams) -> dict[str, Any]:
    """Keyword arguments for the stable-baselines3 constructor."""
    from stable_baselines3.common.utils import LinearSchedule

    kwargs = dataclasses.asdict(params)
    for key in ("n_timesteps", "policy", "n_envs", "policy_kwargs"):
        kwargs.pop(key)
    lr = params.learning_rate
    if isinstance(lr, str):
        start = float(lr[4:])
        kwargs["learning_rate"] = LinearSchedule(start, 0.0, 1.0)
    kwargs["policy_kwargs"] = {"net_arch": list(params.policy_kwargs.net_arch)}
    return kwargs


# Keys of a run folder's config.yml that training, resuming and evaluation read, with types.
_RUN_KEYS: dict[str, tuple[type, ...]] = {
    "env_id": (str,),
    "preset_ref": (str,),
    "algo": (str,),
    "seed": (int,),
    "timesteps": (int,),
    "hyperparams_file": (str,),
    "eval_freq": (int,),
    "checkpoint_freq": (int,),
    "eval_scenarios": (dict,),
}


def read_run_config(run: str | Path) -> dict[str, Any]:
    """The ``config.yml`` of a run folder (or the file itself), checked: every key that
    training, ``--resume`` and evaluation read is present with its type and a usable value.
    Errors are one-line :class:`ConfigError` naming the file and the key (a hand-edited or
    truncated file gave a bare ``KeyError`` before)."""
    path = Path(run)
    if path.is_dir():
        path = path / "config.yml"
    source = str(path)
    if not path.is_file():
        raise ConfigError(source, "", "not a run folder (no config.yml)")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(source, "", f"expected a mapping, got {type(data).__name__}")
    for key, types in _RUN_KEYS.items():
        if key not in data:
            raise ConfigError(source, key, "required key is missing")
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise ConfigError(source, key, f"expected {' or '.join(t.__name__ for t in types)}, got {value!r}")
    if data["algo"] not in ALGORITHMS:
        raise ConfigError(source, "algo", f"unknown algorithm {data['algo']!r} (known: {', '.join(ALGORITHMS)})")
    if data["seed"] < 0:
        raise ConfigError(source, "seed", f"must be >= 0, got {data['seed']}")
    for key, upper in (("timesteps", MAX_TIMESTEPS), ("eval_freq", MAX_TIMESTEPS), ("checkpoint_freq", MAX_TIMESTEPS)):
        if not 1 <= data[key] <= upper:
            raise ConfigError(source, key, f"must be in [1, {upper}], got {data[key]}")
    threads = data.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 1024):
        raise ConfigError(source, "threads", f"expected null or an integer in [1, 1024], got {threads!r}")
    files = data["eval_scenarios"].get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ConfigError(source, "eval_scenarios.files", "expected a list of scenario file paths")
    return data
