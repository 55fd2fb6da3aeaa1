"""Small statistics over per-scenario results, by SciPy.

Every policy replays the same recorded scenarios (common random numbers), so comparisons
between policies are *paired* by scenario: the per-scenario difference removes the
scenario-to-scenario spread that makes CIs on absolute values overlap.

- :func:`mean_ci`: mean and Student-t interval over independent runs (``scipy.stats.t``);
- :func:`paired_difference`: mean of per-scenario differences ``policy - reference`` with its
  Student-t interval;
- :func:`reduction_ci`: ``1 - sum(policy) / sum(reference)`` with a paired BCa bootstrap
  interval (``scipy.stats.bootstrap``, seeded ``np.random.Generator``: the same inputs give
  the same interval).
"""

from __future__ import annotations

import inspect
import logging
import math
import warnings
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _st

__all__ = [
    "BOOTSTRAP_SEED",
    "MeanCI",
    "RatioCI",
    "mean_ci",
    "paired_difference",
    "reduction_ci",
    "t_cdf",
    "t_quantile",
]

log = logging.getLogger(__name__)

#: seed of the bootstrap generator unless a caller passes its own
BOOTSTRAP_SEED = 12345

# SciPy 1.15 renamed bootstrap's ``random_state`` to ``rng``; both take a Generator
_RNG_ARG = "rng" if "rng" in inspect.signature(_st.bootstrap).parameters else "random_state"


def t_cdf(t: float, df: int) -> float:
    """Cumulative distribution function of Student's t."""
    return float(_st.t.cdf(t, df))


def t_quantile(p: float, df: int) -> float:
    """Quantile ``p`` of Student's t with ``df`` degrees of freedom."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    return float(_st.t.ppf(p, df))


class MeanCI(NamedTuple):
    mean: float
    half_width: float  # of the two-sided interval; nan for fewer than two values
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def _finite(values: ArrayLike) -> np.ndarray:
    xs = np.asarray(values, dtype=np.float64).ravel()
    return xs[~np.isnan(xs)]


def mean_ci(values: ArrayLike, level: float = 0.95) -> MeanCI:
    """Mean and Student-t confidence interval over independent runs (e.g. scenarios); nan
    values are left out."""
    xs = _finite(values)
    n = len(xs)
    if n == 0:
        return MeanCI(math.nan, math.nan, 0)
    mean = float(xs.mean())
    if n < 2:
        return MeanCI(mean, math.nan, n)
    sem = float(xs.std(ddof=1)) / math.sqrt(n)
    return MeanCI(mean, t_quantile(0.5 + level / 2, n - 1) * sem, n)


def paired_difference(values: ArrayLike, reference: ArrayLike, level: float = 0.95) -> MeanCI:
    """Mean of the paired differences ``values[i] - reference[i]`` (same scenario ``i``) with
    a Student-t interval on the differences; pairs with a nan on either side are left out."""
    a = np.asarray(values, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths, got {a.shape} and {b.shape}")
    return mean_ci(a - b, level)


class RatioCI(NamedTuple):
    """``1 - sum(num) / sum(den)`` with a paired bootstrap (BCa) interval."""

    estimate: float
    low: float
    high: float
    n: int


def _reduction(num: np.ndarray, den: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - num.sum(axis=axis) / den.sum(axis=axis)


def reduction_ci(
    num: ArrayLike,
    den: ArrayLike,
    level: float = 0.95,
    resamples: int = 9999,
    *,
    rng: np.random.Generator | None = None,
) -> RatioCI:
    """Relative reduction ``1 - sum(num) / sum(den)`` of paired per-scenario values (e.g. a
    policy's energy against the reference policy's on the same scenarios), with a BCa
    interval from resampling scenarios (``rng`` defaults to a generator seeded with
    :data:`BOOTSTRAP_SEED`). A statistic that does not vary under resampling (a policy
    against itself) gets the zero-width interval at its estimate."""
    a = np.asarray(num, dtype=np.float64)
    b = np.asarray(den, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths, got {a.shape} and {b.shape}")
    n = len(a)
    if n == 0 or b.sum() <= 0:
        return RatioCI(math.nan, math.nan, math.nan, n)
    estimate = float(_reduction(a, b))
    if n < 2:
        return RatioCI(estimate, math.nan, math.nan, n)
    generator = rng if rng is not None else np.random.default_rng(BOOTSTRAP_SEED)
    with warnings.catch_warnings():
        # degenerate resamples (all-zero denominators, constant statistics) are handled below
        warnings.simplefilter("ignore")
        res = _st.bootstrap(
            (a, b),
            _reduction,
            n_resamples=resamples,
            vectorized=True,
            paired=True,
            confidence_level=level,
            method="BCa",
            **{_RNG_ARG: generator},
        )
    dist = res.bootstrap_distribution
    finite = dist[np.isfinite(dist)]
    if len(finite) and np.ptp(finite) <= 1e-12 * max(1.0, abs(estimate)):
        return RatioCI(estimate, estimate, estimate, n)
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        log.debug("BCa interval undefined (resamples with a zero denominator); using percentiles of finite resamples")
        tail = (1.0 - level) / 2.0 * 100.0
        low, high = (float(v) for v in np.percentile(finite, [tail, 100.0 - tail])) if len(finite) else (math.nan,) * 2
    return RatioCI(estimate, low, high, n)
