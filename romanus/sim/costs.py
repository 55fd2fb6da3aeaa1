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

import math
from typing import TypeVar

import numpy as np

from romanus.config import Preset
from romanus.pipeline.modes import ModeCatalogue

__all__ = ["EnergyModel", "ModeCosts"]

Num = TypeVar("Num", float, np.ndarray)


class EnergyModel:
    """The vehicle's energy (mJ) for compute and for the radio, from a preset.

    Compute: the accelerator's active power (``vehicle.active_power_w``) times its busy time;
    idle: ``vehicle.idle_power_w`` times the rest (``accelerator_idle``).

    Radio (``radio.*``, docs/physics.md): a transfer's energy is the integral of its power
    over its time on the air, at the mean rate of the transfer (size / time on the air; the
    capacity is piecewise constant, and for the linear models the mean is exact). Power on the
    air is ``base_mw`` + the uplink's extra power, saturating in the rate for LTE
    (``up_max_extra_mw``: P = base + X (1 - exp(-u alpha_up / X)), slope alpha_up at 0) or linear
    (base + alpha_up u), + ``alpha_down`` per Mbit/s received. With ``accounting: connected``
    a transfer is charged only its marginal energy: the connected-idle power ``tail_mw`` is
    subtracted from its base. The states' energy (promotion, tail) is
    :class:`romanus.sim.radio.Radio`'s; :meth:`offload_state_mj` is what offloading now adds
    to it. Every transfer method works on floats and on numpy arrays alike.
    """

    def __init__(self, preset: Preset) -> None:
        self.active_power_w = preset.vehicle.active_power_w
        self.idle_power_w = preset.vehicle.idle_power_w
        p = preset.radio.parameters
        self.radio = p
        self.owned = preset.radio.accounting == "owned"
        self.alpha_up = p.alpha_up_mw_per_mbps
        self.alpha_down = p.alpha_down_mw_per_mbps
        self.up_max_extra = p.up_max_extra_mw  # None: linear
        #: power of time on the air charged to a transfer on top of the radio's state (mW)
        self.air_base_mw = p.base_mw if self.owned else p.base_mw - p.tail_mw
        #: states (zero with ``accounting: connected``: not caused by offloading)
        self.promotion_s = p.promotion_ms / 1000.0 if self.owned else 0.0
        self.promotion_mw = p.promotion_mw if self.owned else 0.0
        self.tail_s = p.tail_ms / 1000.0
        self.tail_mw = p.tail_mw if self.owned else 0.0

    def compute_mj(self, busy_s: Num) -> Num:
        """Accelerator energy of ``busy_s`` seconds of compute."""
        return self.active_power_w * busy_s * 1000.0

    def idle_mj(self, idle_s: Num) -> Num:
        """Accelerator energy of ``idle_s`` seconds idle."""
        return self.idle_power_w * idle_s * 1000.0

    def uplink_power_mw(self, rate_mbps: Num) -> Num:
        """Radio power (mW) while sending at ``rate_mbps`` (owned accounting: the full power)."""
        x = self.up_max_extra
        if x is None:
            extra = self.alpha_up * rate_mbps
        elif isinstance(rate_mbps, np.ndarray):
            extra = -x * np.expm1(-rate_mbps * (self.alpha_up / x))
        else:
            extra = -x * math.expm1(-rate_mbps * (self.alpha_up / x))
        return self.radio.base_mw + extra

    def uplink_mj(self, mbit: Num, on_air_s: Num) -> Num:
        """Radio energy of sending ``mbit`` megabits over ``on_air_s`` seconds on the air."""
        x = self.up_max_extra
        if x is None:
            return self.alpha_up * mbit + self.air_base_mw * on_air_s
        k = self.alpha_up / x
        if isinstance(on_air_s, np.ndarray) or isinstance(mbit, np.ndarray):
            t = np.asarray(on_air_s, dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                extra = -x * t * np.expm1(-k * np.asarray(mbit, dtype=float) / t)
            # infinitely long on the air (no capacity): the extra power's integral tends to alpha_up x mbit
            extra = np.where(t > 0.0, np.where(np.isinf(t), self.alpha_up * mbit, extra), 0.0)
            return extra + self.air_base_mw * t  # type: ignore[no-any-return]
        if on_air_s <= 0.0:
            return 0.0 * on_air_s
        if on_air_s == math.inf:
            return math.inf
        return self.air_base_mw * on_air_s - x * on_air_s * math.expm1(-k * mbit / on_air_s)

    def downlink_mj(self, mbit: Num, on_air_s: Num) -> Num:
        """Radio energy of receiving ``mbit`` megabits over ``on_air_s`` seconds on the air."""
        return self.alpha_down * mbit + self.air_base_mw * on_air_s

    def shared_air_mj(self, overlap_s: float) -> float:
        """The base power of ``overlap_s`` seconds during which uplink and downlink are both on
        the air: counted once, so the second transfer is credited this."""
        return self.air_base_mw * overlap_s

    def offload_state_mj(self, state: int, since_transfer_s: Num) -> Num:
        """The marginal state energy of offloading now (the one formula the oracle's
        prediction and the estimators use): from idle, a promotion and a full tail; in the
        tail (connected, ``since_transfer_s`` after the last transfer), extending the tail by
        that much; while promoting or on the air, nothing; with ``accounting: connected``,
        nothing. ``state``: :data:`romanus.sim.radio.IDLE` (0), ``PROMOTION`` (1) or
        ``CONNECTED`` (2)."""
        if state == 0:
            return self.promotion_mw * self.promotion_s + self.tail_mw * self.tail_s  # type: ignore[return-value]
        if state == 1:
            return 0.0  # type: ignore[return-value]
        if isinstance(since_transfer_s, np.ndarray):
            return self.tail_mw * np.clip(since_transfer_s, 0.0, self.tail_s)  # type: ignore[no-any-return]
        return self.tail_mw * min(max(since_transfer_s, 0.0), self.tail_s)


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
