"""romanus: a discrete-event simulator and learning bench for autonomous-driving task offloading.

Layers (one-way): :mod:`romanus.pipeline` (the DNN graph, its costs and the operating-mode
catalogue), :mod:`romanus.sim` (the SimPy core: vehicle, uplink, edge server, exogenous
processes; no gymnasium import), :mod:`romanus.env` (the Gymnasium environment over the core),
:mod:`romanus.policies` (fixed policies), :mod:`romanus.cli`.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "registered_ids"]


def _register() -> list[str]:
    from romanus.env.registration import register_envs

    return register_envs()


#: Gymnasium ids of the shipped presets, registered at import (``romanus/<Name>-v0``)
registered_ids: list[str] = _register()
