"""The algorithm registry: every learner romanus trains, in one place.

The CLI's choices, the hyper-parameter files, sweeps, agent policy specs (``<algo>:RUN``)
and the docs all read :data:`ALGORITHMS`. Each entry names its stable-baselines3 (or
sb3-contrib) class by import path, so the registry costs nothing to import.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = ["ALGORITHMS", "Algorithm", "algorithm"]


@dataclass(frozen=True)
class Algorithm:
    name: str
    #: ``module:Class`` of the learner
    class_path: str
    description: str
    #: hyper-parameter family (``ppo``, ``a2c``, ``dqn``): which typed parameters it takes
    family: str
    #: takes action masks (``action_masks=`` in predict)
    maskable: bool = False
    #: off-policy with a replay buffer (saved with checkpoints, restored on resume)
    replay_buffer: bool = False

    def load_class(self) -> Any:
        module, _, name = self.class_path.partition(":")
        return getattr(importlib.import_module(module), name)


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            "maskable_ppo",
            "sb3_contrib:MaskablePPO",
            "PPO that samples only unmasked modes (sb3-contrib)",
            "ppo",
            maskable=True,
        ),
        Algorithm("ppo", "stable_baselines3:PPO", "proximal policy optimisation (stable-baselines3)", "ppo"),
        Algorithm("a2c", "stable_baselines3:A2C", "advantage actor-critic (stable-baselines3)", "a2c"),
        Algorithm("dqn", "stable_baselines3:DQN", "deep Q-network (stable-baselines3)", "dqn", replay_buffer=True),
    )
}


def algorithm(name: str) -> Algorithm:
    """The registered algorithm ``name``; a clear error listing the known ones otherwise."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r} (known: {', '.join(ALGORITHMS)})") from None
