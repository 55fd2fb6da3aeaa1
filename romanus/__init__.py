"""romanus: a discrete-event simulator and learning bench for autonomous-driving task offloading.

Layers (one-way, lowest first; enforced by ``tests/test_layers.py``): foundations (config,
traces, files, statistics), :mod:`romanus.pipeline` (the DNN graph, its costs and the
operating-mode catalogue), :mod:`romanus.sim` (the SimPy core: vehicle, links, edge server,
exogenous processes; no gymnasium, torch or stable-baselines3), :mod:`romanus.scenario`,
:mod:`romanus.vehicle` (what a decider knows and estimates, the decision stack),
:mod:`romanus.policies`, :mod:`romanus.env` (Gymnasium), :mod:`romanus.train`
(stable-baselines3), the tools on top (compare, plots, sweeps, study, bench) and
:mod:`romanus.cli`.

The public API is importable from here (``from romanus import RomanusEnv``); each name is
imported when first used, so ``import romanus`` stays light. The shipped presets are
registered as Gymnasium ids (``romanus/<Name>-v<version>``) as soon as gymnasium is
imported, before or after romanus (Gymnasium 1.x ignores plugin entry points), without
importing gymnasium when only the simulator core is used.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

__version__ = "0.2.0.dev0"

__all__ = [
    "FleetSimulator",
    "RomanusEnv",
    "Scenario",
    "Simulator",
    "__version__",
    "load_preset",
    "make_policy",
    "parallel_env",
    "registered_ids",
]

#: public name -> module that defines it
_LAZY = {
    "RomanusEnv": "romanus.env.core",
    "Simulator": "romanus.sim.simulator",
    "make_policy": "romanus.policies",
    "load_preset": "romanus.config",
    "Scenario": "romanus.scenario",
    "FleetSimulator": "romanus.sim.fleet",
    "parallel_env": "romanus.env.parallel",
}
_registered: list[str] | None = None


def _register() -> list[str]:
    global _registered
    if _registered is None:
        from romanus.env.registration import register_envs

        _registered = register_envs()
    return _registered


def __getattr__(name: str) -> Any:
    if name == "registered_ids":
        #: Gymnasium ids of the shipped presets (imports gymnasium and registers them)
        return list(_register())
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'romanus' has no attribute {name!r}")


class _RegisterWithGymnasium(importlib.abc.MetaPathFinder):
    """Registers romanus's ids right after gymnasium is imported (if it is at all)."""

    def find_spec(self, name: str, path: Any = None, target: ModuleType | None = None) -> Any:
        if name != "gymnasium":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        loader = None if spec is None else spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            _register()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if "gymnasium" in sys.modules:
    _register()
else:
    sys.meta_path.insert(0, _RegisterWithGymnasium())
