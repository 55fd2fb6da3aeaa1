"""Fixed policies: each picks an operating mode per frame from what the vehicle knows.

Every policy has the same face (``act(ctx) -> mode index``) and runs through the same
simulator code as any other; none lives inside the simulator. Names:

- ``local-robust``: the scene's most robust tier, all on the vehicle (pure local execution);
- ``local-<tier>``: that tier, all on the vehicle, whatever the scene;
- ``offload-all``: the scene's robust tier with every group at the preset's default split;
- ``random``: uniform over the modes that can run (its own seeded generator).
"""

from __future__ import annotations

import numpy as np

from romanus.pipeline.modes import LOCAL, ModeCatalogue
from romanus.sim.simulator import DecisionContext

__all__ = ["LocalRobust", "LocalTier", "OffloadAll", "RandomPolicy", "make_policy", "policy_names"]


class LocalRobust:
    name = "local-robust"

    def __init__(self, catalogue: ModeCatalogue) -> None:
        self._by_scene = [catalogue.local_robust(s) for s in range(len(catalogue.scenes))]

    def act(self, ctx: DecisionContext) -> int:
        return self._by_scene[ctx.scene]


class LocalTier:
    def __init__(self, catalogue: ModeCatalogue, tier: str) -> None:
        self.name = f"local-{tier}"
        self._mode = catalogue.mode_for(tier, LOCAL).index

    def act(self, ctx: DecisionContext) -> int:
        return self._mode


class OffloadAll:
    name = "offload-all"

    def __init__(self, catalogue: ModeCatalogue) -> None:
        self._by_scene = [catalogue.offload_all(s) for s in range(len(catalogue.scenes))]

    def act(self, ctx: DecisionContext) -> int:
        return self._by_scene[ctx.scene]


class RandomPolicy:
    name = "random"

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng

    def act(self, ctx: DecisionContext) -> int:
        allowed = np.flatnonzero(ctx.mask)
        return int(allowed[self._rng.integers(len(allowed))])


def policy_names(catalogue: ModeCatalogue) -> list[str]:
    return ["local-robust", *(f"local-{t}" for t in catalogue.pipeline.tiers), "offload-all", "random"]


def make_policy(
    name: str, catalogue: ModeCatalogue, rng: np.random.Generator
) -> LocalRobust | LocalTier | OffloadAll | RandomPolicy:
    """The fixed policy called ``name``; ``rng`` is used only by policies that randomise."""
    if name == "local-robust":
        return LocalRobust(catalogue)
    if name == "offload-all":
        return OffloadAll(catalogue)
    if name == "random":
        return RandomPolicy(rng)
    if name.startswith("local-") and name[len("local-") :] in catalogue.pipeline.tiers:
        return LocalTier(catalogue, name[len("local-") :])
    raise ValueError(f"unknown policy {name!r} (known: {', '.join(policy_names(catalogue))})")
