"""What a frame costs: per-mode cost arrays and the one energy function.

Everything that turns time on the accelerator or on the air into energy lives here, and
the simulator (what a frame did cost), the estimators (what a mode is expected to cost) and
the policies all call it, so a change of the physics is made once.

- :class:`EnergyModel`: vehicle energy (mJ) of compute and of radio transfers. Every method
  works on floats and on numpy arrays alike.
- :class:`ModeCosts`: per-mode constants of a catalogue (vehicle and server time, payloads,
  robustness) as numpy arrays for the estimators and as plain lists for the simulator's
  per-frame hot path.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from romanus.config import Preset
from romanus.pipeline.modes import ModeCatalogue

__all__ = ["EnergyModel", "ModeCosts"]

Num = TypeVar("Num", float, np.ndarray)


class EnergyModel:
    """The vehicle's energy (mJ) for compute and for radio transfers, from a preset.

    Compute: the accelerator's active power (``vehicle.active_power_w``) times its busy time.
    Radio: Huang et al.'s LTE model (MobiSys 2012), energy = ``alpha`` x megabits moved +
    ``beta`` x time on the air (``radio.*``).
    """

    def __init__(self, preset: Preset) -> None:
        self.active_power_w = preset.vehicle.active_power_w
        self.idle_power_w = preset.vehicle.idle_power_w
        self.alpha_up, self.alpha_down, self.beta = preset.radio.coefficients  # mW/Mbps, mW/Mbps, mW

    def compute_mj(self, busy_s: Num) -> Num:
        """Accelerator energy of ``busy_s`` seconds of compute."""
        return self.active_power_w * busy_s * 1000.0

    def idle_mj(self, idle_s: Num) -> Num:
        """Accelerator energy of ``idle_s`` seconds idle."""
        return self.idle_power_w * idle_s * 1000.0

    def uplink_mj(self, mbit: Num, on_air_s: Num) -> Num:
        """Radio energy of sending ``mbit`` megabits over ``on_air_s`` seconds."""
        return self.alpha_up * mbit + self.beta * on_air_s

    def downlink_mj(self, mbit: Num, on_air_s: Num) -> Num:
        """Radio energy of receiving ``mbit`` megabits over ``on_air_s`` seconds."""
        return self.alpha_down * mbit + self.beta * on_air_s


class ModeCosts:
    """Per-mode constants of a catalogue, in the units the simulator and estimators use.

    Arrays (index = mode): ``prefix_ms`` (vehicle work the payload needs), ``local_ms`` (the
    purely local rest), ``vehicle_ms`` (both), ``server_ms``, ``up_mbit`` / ``down_mbit``
    (payload and results), ``offloads`` (bool), ``compute_mj`` (the vehicle work's energy),
    ``robust_ok`` (modes x scenes, :attr:`ModeCatalogue.robust_ok`).
    """

    def __init__(self, catalogue: ModeCatalogue, energy: EnergyModel) -> None:
        modes = catalogue.modes
        self.prefix_ms = np.array([m.prefix_ms for m in modes])
        self.local_ms = np.array([m.local_ms for m in modes])
        self.vehicle_ms = np.array([m.vehicle_ms for m in modes])
        self.server_ms = np.array([m.server_ms for m in modes])
        self.up_mbit = np.array([m.uplink_bytes * 8e-6 for m in modes])
        self.down_mbit = np.array([m.downlink_bytes * 8e-6 for m in modes])
        self.offloads = catalogue.offload_mask
        self.robust_ok = catalogue.robust_ok
        self.compute_mj = energy.compute_mj(self.vehicle_ms / 1000.0)
        #: the same in seconds, as lists (fast scalar indexing in the simulator's hot path)
        self.prefix_s = (self.prefix_ms / 1000.0).tolist()
        self.local_s = (self.local_ms / 1000.0).tolist()
        self.server_s = (self.server_ms / 1000.0).tolist()
        self.up_mbit_list = self.up_mbit.tolist()
        self.down_mbit_list = self.down_mbit.tolist()
        self.offloads_list = self.offloads.tolist()
        self.robust_ok_list = self.robust_ok.tolist()
