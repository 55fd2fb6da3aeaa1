"""romanus: a discrete-event simulator and learning bench for autonomous-driving task offloading.

Layers (one-way): :mod:`romanus.pipeline` (the DNN graph, its costs and the operating-mode
catalogue), :mod:`romanus.sim` (the SimPy core: vehicle, uplink, edge server, exogenous
processes; no gymnasium import), :mod:`romanus.policies` (fixed policies), :mod:`romanus.cli`.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
