"""argparse ``type=`` validators for the launcher's numeric arguments.

Each function takes the argument's text and returns the parsed value, or raises
:class:`argparse.ArgumentTypeError`, which argparse turns into a one-line usage error
naming the option (``romanus simulate: error: argument --duration-s: ...``). They refuse
what no simulation can use: ``nan``, ``inf``, zero or negative budgets, and durations or
windows so large or small that a run would exhaust memory or never end.
"""

from __future__ import annotations

import argparse
import math
import re

__all__ = [
    "MAX_DURATION_S",
    "MAX_FRAMES",
    "MAX_SEEDS",
    "MAX_TIMESTEPS",
    "MAX_WINDOW_MS",
    "MAX_WORKERS",
    "MIN_WINDOW_MS",
    "duration_s",
    "finite_positive_float",
    "frames",
    "non_negative_int",
    "positive_int",
    "seed_range",
    "timesteps",
    "window_ms",
    "workers",
]

MAX_DURATION_S = 86_400.0
"""One simulated day: longer recordings hold millions of frames and gigabytes of draws."""
MAX_FRAMES = 10_000_000
"""About 11.6 simulated days at the usual 100 ms period."""
MAX_TIMESTEPS = 1_000_000_000
"""Far beyond any budget this project trains for; refuses typos that would never finish."""
MIN_WINDOW_MS = 1.0
"""Mahimahi traces resolve one millisecond; a finer window only splits segments."""
MAX_WINDOW_MS = 3_600_000.0
"""One hour."""
MAX_WORKERS = 256
MAX_SEEDS = 10_000
"""Seeds in one ``A:B`` range (each is a scenario file or a training run)."""


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


_INT_RE = re.compile(r"[+-]?[0-9](?:_?[0-9])*")


def _int(text: str) -> int:
    stripped = text.strip()
    if len(stripped) > 24 or not _INT_RE.fullmatch(stripped):  # ASCII digits, no 5000-digit numbers
        raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}")
    return int(stripped)


def finite_positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (e.g. ``--eval-freq``, ``--checkpoint-freq``, ``--repeats``, ``--scenarios``)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (e.g. ``--seed``)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _bounded_int(text: str, upper: int, what: str) -> int:
    value = positive_int(text)
    if value > upper:
        raise argparse.ArgumentTypeError(f"must be at most {upper:,} {what}, got {text!r}")
    return value


def timesteps(text: str) -> int:
    """A training budget: an integer in [1, MAX_TIMESTEPS]."""
    return _bounded_int(text, MAX_TIMESTEPS, "steps")


def frames(text: str) -> int:
    """Perception cycles to simulate: an integer in [1, MAX_FRAMES]."""
    return _bounded_int(text, MAX_FRAMES, "frames")


def workers(text: str) -> int:
    """Worker processes: an integer in [1, MAX_WORKERS]."""
    return _bounded_int(text, MAX_WORKERS, "processes")


def duration_s(text: str) -> float:
    """Simulated seconds: finite, > 0 and at most MAX_DURATION_S."""
    value = finite_positive_float(text)
    if value > MAX_DURATION_S:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_DURATION_S:g} s (one simulated day), got {text!r}")
    return value


def window_ms(text: str) -> float:
    """A statistics window: finite, in [MIN_WINDOW_MS, MAX_WINDOW_MS] milliseconds."""
    value = _float(text)
    if not MIN_WINDOW_MS <= value <= MAX_WINDOW_MS:
        raise argparse.ArgumentTypeError(f"must be between {MIN_WINDOW_MS:g} and {MAX_WINDOW_MS:g} ms, got {text!r}")
    return value


def seed_range(text: str) -> range:
    """``A:B``, the seeds A..B-1: 0 <= A < B, at most MAX_SEEDS of them."""
    parts = text.split(":")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected A:B (seeds A..B-1), got {text[:40]!r}")
    a, b = (non_negative_int(p) for p in parts)
    if b <= a:
        raise argparse.ArgumentTypeError(f"A:B needs A < B, got {text[:40]!r}")
    if b - a > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"at most {MAX_SEEDS:,} seeds, got {b - a:,}")
    return range(a, b)
