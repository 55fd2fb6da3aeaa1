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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from romanus.config import read_yaml
from romanus.configio import ConfigError, Invalid, build, field
from romanus.train.algorithms import algorithm

__all__ = ["AlgoParams", "hyperparams_path", "load_hyperparams"]


@dataclass(frozen=True)
class PolicyKwargs:
    net_arch: tuple[int, ...] = field((64, 64), doc="hidden layer sizes of the policy and value networks")

    def __post_init__(self) -> None:
        if not self.net_arch or any(n < 1 for n in self.net_arch):
            raise Invalid("net_arch", "needs positive layer sizes")


def _check_lr(value: float | str) -> None:
    if isinstance(value, str):
        if not value.startswith("lin_"):
            raise Invalid("learning_rate", f"expected a number or lin_<number>, got {value!r}")
        try:
            v = float(value[4:])
        except ValueError:
            raise Invalid("learning_rate", f"expected lin_<number>, got {value!r}") from None
    else:
        v = value
    if not v > 0:
        raise Invalid("learning_rate", f"must be > 0, got {value!r}")


@dataclass(frozen=True)
class Common:
    n_timesteps: int = field(100_000, gt=0, doc="training budget in environment steps")
    policy: Literal["MlpPolicy"] = "MlpPolicy"
    gamma: float = field(0.99, gt=0, le=1)
    learning_rate: float | str = field(3e-4, doc="a number, or lin_<number> for a linear decay")
    policy_kwargs: PolicyKwargs = field(default_factory=PolicyKwargs)

    def __post_init__(self) -> None:
        _check_lr(self.learning_rate)


@dataclass(frozen=True)
class PPOParams(Common):
    n_envs: int = field(1, ge=1)
    n_steps: int = field(2048, gt=1)
    batch_size: int = field(64, gt=1)
    n_epochs: int = field(10, ge=1)
    gae_lambda: float = field(0.95, ge=0, le=1)
    clip_range: float = field(0.2, gt=0)
    ent_coef: float = field(0.0, ge=0)
    vf_coef: float = field(0.5, ge=0)
    max_grad_norm: float = field(0.5, gt=0)
    normalize_advantage: bool = True
    target_kl: float | None = field(None, gt=0)


@dataclass(frozen=True)
class A2CParams(Common):
    n_envs: int = field(1, ge=1)
    n_steps: int = field(5, ge=1)
    gae_lambda: float = field(1.0, ge=0, le=1)
    ent_coef: float = field(0.0, ge=0)
    vf_coef: float = field(0.5, ge=0)
    max_grad_norm: float = field(0.5, gt=0)


@dataclass(frozen=True)
class DQNParams(Common):
    n_envs: int = field(1, ge=1)
    buffer_size: int = field(100_000, gt=0)
    learning_starts: int = field(1000, ge=0)
    batch_size: int = field(32, gt=0)
    tau: float = field(1.0, gt=0, le=1)
    train_freq: int = field(4, ge=1)
    gradient_steps: int = field(1, ge=-1)
    target_update_interval: int = field(10_000, ge=1)
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
    if env_id not in data:
        known = ", ".join(sorted(map(str, data)))
        raise ConfigError(source, env_id, f"no hyper-parameters for this env id (the file has: {known})")
    entry = data[env_id]
    if not isinstance(entry, dict):
        raise ConfigError(source, env_id, "expected a mapping of hyper-parameters")
    return build(_FAMILIES[algorithm(algo).family], entry, source=source, path=env_id)  # type: ignore[no-any-return]


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
