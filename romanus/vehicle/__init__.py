"""The vehicle layer: what a decider knows, what modes cost, what it estimates, how it decides.

Between the simulator core (:mod:`romanus.sim`) and the deciders (:mod:`romanus.policies`,
:mod:`romanus.env`, trained agents):

- :mod:`romanus.vehicle.view`: the *vehicle view* (everything measurable on the vehicle at
  decision time, nothing from the future) and the *oracle view* (adds the future; only the
  oracle and the ``oracle`` observation get it); :func:`drive` runs a policy;
- costs: :class:`~romanus.sim.costs.ModeCosts` (per-mode cost arrays) and
  :class:`~romanus.sim.costs.EnergyModel` (the one energy function for compute and radio,
  which the simulator, the estimators and the policies all call; it lives in the core
  because the simulator books energy with it);
- :mod:`romanus.vehicle.estimates`: expected latency and energy (:class:`Estimator`), the
  tail risk estimate (:class:`RiskEstimator`, :class:`RiskAssessor`) and the :class:`Shield`;
- :mod:`romanus.vehicle.observations`: the observation functions, selected by name;
- :mod:`romanus.vehicle.decision`: the *decision stack* (observation + assessor + shield)
  that the Gymnasium env and trained-agent policies share.

Nothing here imports gymnasium at module level (observation spaces build it when asked).
"""

from __future__ import annotations

from romanus.sim.costs import EnergyModel, ModeCosts
from romanus.vehicle.decision import DecisionStack, default_energy_scale_mj
from romanus.vehicle.estimates import Estimator, RiskAssessor, RiskEstimator, Shield, cheapest_within
from romanus.vehicle.observations import OBSERVATIONS, ObservationFunction, make_observation
from romanus.vehicle.view import Decider, OracleView, VehicleView, drive, next_view

__all__ = [
    "OBSERVATIONS",
    "Decider",
    "DecisionStack",
    "EnergyModel",
    "Estimator",
    "ModeCosts",
    "ObservationFunction",
    "OracleView",
    "RiskAssessor",
    "RiskEstimator",
    "Shield",
    "VehicleView",
    "cheapest_within",
    "default_energy_scale_mj",
    "drive",
    "make_observation",
    "next_view",
]
