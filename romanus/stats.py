"""Small statistics: Student-t confidence intervals without a SciPy dependency."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["MeanCI", "RatioCI", "mean_ci", "reduction_ci", "t_cdf", "t_quantile"]


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: int) -> float:
    """Cumulative distribution function of Student's t."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: int) -> float:
    """Quantile ``p`` of Student's t with ``df`` degrees of freedom (bisection on the exact
    CDF, to 1e-12)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    while hi - lo > 1e-12 * max(1.0, hi):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


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


def mean_ci(values: Sequence[float], level: float = 0.95) -> MeanCI:
    """Mean and Student-t confidence interval over independent runs (e.g. scenarios)."""
    xs = [float(v) for v in values if not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        return MeanCI(math.nan, math.nan, 0)
    mean = sum(xs) / n
    if n < 2:
        return MeanCI(mean, math.nan, n)
    var = sum((x - mean) ** 2 for x in xs) / (n - 1)
    return MeanCI(mean, t_quantile(0.5 + level / 2, n - 1) * math.sqrt(var / n), n)


class RatioCI(NamedTuple):
    """``1 - sum(num) / sum(den)`` with a paired bootstrap percentile interval."""

    estimate: float
    low: float
    high: float
    n: int


def reduction_ci(num: Sequence[float], den: Sequence[float], level: float = 0.95, resamples: int = 2000) -> RatioCI:
    """Relative reduction ``1 - sum(num) / sum(den)`` of paired per-scenario values (e.g. a
    policy's energy against the reference policy's on the same scenarios), with a 95 %
    percentile interval from resampling scenarios (a fixed bootstrap seed: the same inputs
    give the same interval)."""
    a = np.asarray(num, dtype=np.float64)
    b = np.asarray(den, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("paired values need equal lengths")
    n = len(a)
    if n == 0 or b.sum() <= 0:
        return RatioCI(math.nan, math.nan, math.nan, n)
    estimate = 1.0 - a.sum() / b.sum()
    if n < 2:
        return RatioCI(estimate, math.nan, math.nan, n)
    rng = np.random.default_rng(12345)
    idx = rng.integers(0, n, size=(resamples, n))
    den_s = b[idx].sum(axis=1)
    ok = den_s > 0
    boot = 1.0 - a[idx].sum(axis=1)[ok] / den_s[ok]
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(boot, [tail, 100.0 - tail])
    return RatioCI(estimate, float(low), float(high), n)
