"""The Gymnasium face of the simulator: environment, observation functions, registration."""

from __future__ import annotations

from romanus.env.core import RomanusEnv

__all__ = ["RomanusEnv"]
