"""The decision stack: observation + risk assessment + shield, wired once.

A learner decides through a stack: each decision it feeds the vehicle's risk estimate (when
the observation or the shield reads it), builds the observation, narrows the action mask to
the shield's risk budget, and replaces an out-of-budget action by the shield's choice.
:class:`romanus.env.RomanusEnv` trains through one and a trained agent evaluated as a policy
(:class:`romanus.train.agent.AgentPolicy`) decides through an identical one, so an agent is
evaluated exactly as it was trained (same observations, masks and shield decisions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from romanus.config import Preset
from romanus.pipeline.modes import ModeCatalogue
from romanus.vehicle.estimates import RiskAssessor, Shield
from romanus.vehicle.observations import ObservationFunction, make_observation
from romanus.vehicle.view import VehicleView

__all__ = ["DecisionStack", "default_energy_scale_mj"]


def default_energy_scale_mj(preset: Preset, catalogue: ModeCatalogue) -> float:
    """The costliest scene's local-robust frame energy (compute only, mJ): the reward's and
    the observation's energy normaliser unless ``env.reward.energy_scale_mj`` sets one."""
    worst = max(catalogue.modes[catalogue.local_robust(s)].vehicle_ms for s in range(len(catalogue.scenes)))
    return worst * preset.vehicle.active_power_w


class DecisionStack:
    """Observation, risk assessor and shield of one decider, reset per episode or run.

    ``observation`` names an observation function; ``energy_scale_mj`` its energy
    normaliser (None: :func:`default_energy_scale_mj`); ``shield_budget`` the shield's
    per-frame risk budget (None: no shield); ``shield_energy_guard``: the shield also leaves out
    the offloads expected to lose energy (:class:`romanus.vehicle.estimates.Shield`).
    """

    def __init__(
        self,
        preset: Preset,
        catalogue: ModeCatalogue,
        observation: str,
        *,
        energy_scale_mj: float | None = None,
        shield_budget: float | None = None,
        shield_energy_guard: bool = False,
    ) -> None:
        self.preset = preset
        self.catalogue = catalogue
        self.energy_scale_mj = energy_scale_mj or default_energy_scale_mj(preset, catalogue)
        self.observation: ObservationFunction = make_observation(observation, preset, catalogue, self.energy_scale_mj)
        self.shield_budget = shield_budget
        self.shield_energy_guard = shield_energy_guard
        #: whether decisions need the oracle's view (the ``oracle`` observation)
        self.sees_future = self.observation.sees_future
        self._uses_risk = shield_budget is not None or self.observation.needs_risk
        self.assessor: RiskAssessor | None = None
        self.shield: Shield | None = None

    @classmethod
    def of_preset(cls, preset: Preset, catalogue: ModeCatalogue) -> DecisionStack:
        """The stack a preset's ``env`` section describes (observation, reward scale, shield)."""
        env = preset.env
        return cls(
            preset,
            catalogue,
            env.observation,
            energy_scale_mj=env.reward.energy_scale_mj,
            shield_budget=env.shield.risk_budget,
            shield_energy_guard=env.shield.energy_guard,
        )

    def env_config(self) -> dict[str, Any]:
        """The stack as a trained run's ``config.yml`` records it (``env_config``; read back by
        :meth:`from_env_config`, so an agent decides in any world as it was trained)."""
        cfg: dict[str, Any] = {
            "observation": self.observation.name,
            "energy_scale_mj": float(self.energy_scale_mj),
            "shield": self.shield_budget,
        }
        if self.shield_energy_guard:
            cfg["shield_energy_guard"] = True
        return cfg

    @classmethod
    def from_env_config(cls, preset: Preset, catalogue: ModeCatalogue, cfg: Mapping[str, Any]) -> DecisionStack:
        """The stack a run's ``env_config`` (:meth:`env_config`) describes, in the world of
        ``preset``; keys an older run lacks take the preset's or no shield."""
        budget = cfg.get("shield")
        scale = cfg.get("energy_scale_mj")
        return cls(
            preset,
            catalogue,
            cfg.get("observation", preset.env.observation),
            energy_scale_mj=None if scale is None else float(scale),
            shield_budget=None if budget is None else float(budget),
            shield_energy_guard=bool(cfg.get("shield_energy_guard", False)),
        )

    def reset(self) -> None:
        """A new episode or run: the risk estimate starts from no history."""
        if self._uses_risk:
            self.assessor = RiskAssessor(self.preset, self.catalogue)
            self.observation.assessor = self.assessor
            if self.shield_budget is not None:
                self.shield = Shield(self.assessor, self.shield_budget, energy_guard=self.shield_energy_guard)

    def observe(self, view: VehicleView) -> np.ndarray:
        """The observation of this decision (the risk estimate observes every decision, even
        when nothing reads it)."""
        if self.assessor is not None:
            self.assessor(view)
        return self.observation.observe(view)

    def mask(self, view: VehicleView) -> np.ndarray:
        """The actions the decider may pick: those that can run (a fallback only where it can
        finish by the deadline), within the shield's budget."""
        if self.shield is not None:
            return self.shield.mask(view)
        return view.action_mask.copy()

    def apply(self, view: VehicleView, action: int) -> tuple[int, bool]:
        """(the action that runs, whether it differs from ``action``): the shield replaces an
        action outside its budget; without a shield, a fallback that cannot finish by the
        deadline is dropped (the mode runs unhedged), so learners that ignore masks can run."""
        if self.shield is not None:
            if not self.shield.mask(view)[action]:
                return self.shield.replacement(view), True
            return action, False
        if not view.action_mask[action]:
            mode = int(view.actions.mode[action])
            if view.mask[mode]:
                return mode, True
        return action, False
