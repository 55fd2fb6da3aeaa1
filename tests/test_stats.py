"""Statistics over scenarios: Student-t intervals, paired differences, BCa bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from romanus.stats import mean_ci, paired_difference, reduction_ci, t_cdf, t_quantile

# two-sided critical values t(1 - alpha/2, df) from a printed table (e.g. NIST/SEMATECH 1.4.2.7.3)
T_TABLE = [
    (0.975, 1, 12.706),
    (0.975, 2, 4.303),
    (0.975, 4, 2.776),
    (0.975, 10, 2.228),
    (0.975, 30, 2.042),
    (0.95, 5, 2.015),
    (0.995, 20, 2.845),
    (0.9, 3, 1.638),
]


@pytest.mark.parametrize(("p", "df", "expected"), T_TABLE)
def test_t_quantiles_match_the_table(p: float, df: int, expected: float) -> None:
    assert t_quantile(p, df) == pytest.approx(expected, abs=5e-4)
    assert t_quantile(1 - p, df) == pytest.approx(-expected, abs=5e-4)  # symmetric
    assert t_cdf(expected, df) == pytest.approx(p, abs=1e-4)


def test_t_quantile_rejects_impossible_arguments() -> None:
    with pytest.raises(ValueError, match="p must be"):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="df must be"):
        t_quantile(0.975, 0)


def test_mean_ci_by_hand_and_with_nans() -> None:
    # 300, 310, 320, 330: mean 315, sd 12.9099, t(0.975, 3) = 3.18245
    ci = mean_ci([300, 310, math.nan, 320, 330])
    assert ci.n == 4 and ci.mean == 315.0
    assert ci.half_width == pytest.approx(3.182446305 * 12.90994449 / 2.0, rel=1e-8)
    assert ci.low == pytest.approx(315.0 - ci.half_width)
    assert math.isnan(mean_ci([1.0]).half_width) and mean_ci([]).n == 0


def test_paired_interval_holds_the_true_difference_that_scenario_spread_hides() -> None:
    # scenarios differ by hundreds of mJ; the policy saves 20 mJ on each, give or take 4
    reference = np.array([120.0, 480.0, 250.0, 590.0, 330.0, 170.0, 410.0, 260.0])
    noise = np.array([-3.0, 2.0, -1.0, 4.0, 1.0, -4.0, -2.0, 3.0])  # sums to 0
    policy = reference - 20.0 + noise
    d = paired_difference(policy, reference)
    assert d.n == 8 and d.low < -20.0 < d.high
    # t(0.975, 7) = 2.365, sd of the noise 2.928
    assert d.half_width == pytest.approx(2.364624 * float(np.std(noise, ddof=1)) / math.sqrt(8), rel=1e-5)
    assert d.high < 0  # the paired interval excludes "no difference"...
    a, b = mean_ci(policy), mean_ci(reference)
    assert a.high > b.low and b.high > a.low  # ...which the unpaired intervals cannot tell apart
    assert d.mean == pytest.approx(float(np.mean(policy - reference)))


def test_paired_interval_covers_the_true_difference_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(11)
    hits = 0
    trials = 400
    for _ in range(trials):
        base = rng.uniform(0.0, 500.0, size=5)
        d = paired_difference(base + 7.0 + rng.normal(0.0, 2.0, size=5), base)
        hits += d.low <= 7.0 <= d.high
    assert 0.91 <= hits / trials <= 0.99


def test_paired_difference_needs_pairs() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        paired_difference([1.0, 2.0], [1.0])
    d = paired_difference([1.0, math.nan, 3.0], [0.0, 1.0, 1.0])  # a nan drops its pair
    assert d.n == 2 and d.mean == 1.5


def test_bootstrap_is_deterministic_under_a_seed() -> None:
    den = np.linspace(250.0, 400.0, 12)
    num = den * np.array([0.6, 0.7, 0.65, 0.8, 0.72, 0.55, 0.68, 0.75, 0.61, 0.7, 0.66, 0.78])
    a = reduction_ci(num, den)
    assert a == reduction_ci(num, den)  # the default generator is seeded
    b = reduction_ci(num, den, rng=np.random.default_rng(3))
    assert b == reduction_ci(num, den, rng=np.random.default_rng(3))
    assert (b.low, b.high) != (a.low, a.high)  # and the seed is what is used
    assert a.estimate == pytest.approx(1 - num.sum() / den.sum())
    assert a.low < a.estimate < a.high


def test_reduction_of_a_policy_against_itself_is_exactly_zero() -> None:
    r = reduction_ci([300, 310, 320], [300, 310, 320])
    assert (r.estimate, r.low, r.high) == (0.0, 0.0, 0.0)
    assert math.isnan(reduction_ci([1.0], [2.0]).low)  # one scenario: no interval
    assert math.isnan(reduction_ci([1.0, 2.0], [0.0, 0.0]).estimate)  # nothing to reduce


def test_bca_interval_covers_a_known_ratio() -> None:
    # per-scenario energies whose true total ratio is 0.7 (a 30 % saving)
    rng = np.random.default_rng(5)
    den = rng.uniform(200.0, 400.0, size=12)
    num = 0.7 * den * rng.normal(1.0, 0.03, size=12)
    r = reduction_ci(num, den)
    assert r.low < 0.3 < r.high and r.high - r.low < 0.1
