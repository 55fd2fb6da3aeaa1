"""Transfers against the integral of their capacity; synthetic capacity processes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from romanus.config import CapacityConfig, OutageConfig
from romanus.rng import SeedPlan
from romanus.sim.link import CapacitySeries, make_source


class Steps:
    """A fixed piecewise-constant capacity, then a constant tail."""

    def __init__(self, durations: list[float], rates: list[float], tail: float = 10.0) -> None:
        self.chunks = [(np.array(durations), np.array(rates))]
        self.tail = tail

    def next_chunk(self) -> tuple[np.ndarray, np.ndarray]:
        if self.chunks:
            return self.chunks.pop(0)
        return np.array([1.0]), np.array([self.tail])


def exact_integral(durations: list[float], rates: list[float], t0: float, t1: float) -> float:
    """Independent integral of a step function over [t0, t1]."""
    total, start = 0.0, 0.0
    for d, r in zip(durations, rates, strict=True):
        lo, hi = max(start, t0), min(start + d, t1)
        if hi > lo:
            total += r * (hi - lo)
        start += d
    return total


DUR = [0.05, 0.10, 0.20, 0.05, 0.30]
RATE = [20.0, 0.0, 8.0, 0.0, 30.0]  # Mbit/s, with two zero stretches


@pytest.mark.parametrize("start", [0.0, 0.02, 0.05, 0.07, 0.15, 0.33, 0.37])
@pytest.mark.parametrize("size_bytes", [1_000, 23_688, 47_376, 200_000])
def test_transfer_ends_exactly_when_the_integral_reaches_its_size(start: float, size_bytes: int) -> None:
    series = CapacitySeries(Steps(DUR, RATE, tail=30.0))
    size_mbit = size_bytes * 8e-6
    end = series.transfer_end(start, size_mbit)
    assert end > start
    durs, rates = [*DUR, 100.0], [*RATE, 30.0]
    assert exact_integral(durs, rates, start, end) == pytest.approx(size_mbit, rel=1e-12, abs=1e-12)
    # and not a moment earlier: a hair before the end, less than S has been carried
    assert exact_integral(durs, rates, start, end - 1e-9) < size_mbit


def test_a_zero_stretch_stalls_the_transfer() -> None:
    series = CapacitySeries(Steps([0.1, 1.0, 0.1], [10.0, 0.0, 10.0]))
    # 0.5 Mbit: 0.1 s at 10 Mbit/s carries 1 Mbit, so starting at 0.05 we need 0.05 s ... stop
    # right before the outage; 0.6 Mbit needs 0.01 s more after the 1 s outage.
    assert series.transfer_end(0.05, 0.5) == pytest.approx(0.10)
    assert series.transfer_end(0.05, 0.6) == pytest.approx(1.11)
    # starting inside the outage waits for its end
    assert series.transfer_end(0.5, 0.1) == pytest.approx(1.11)
    # a limit before the end reports that the transfer would not finish in time
    assert series.transfer_end(0.05, 0.6, limit_s=1.0) == math.inf


def test_series_values_do_not_depend_on_how_it_is_queried() -> None:
    cfg = CapacityConfig(model="rayleigh", sigma_mbps=13.62, coherence_ms=500, outage=OutageConfig(5.0, 0.5))
    seeds = SeedPlan(3)
    a = CapacitySeries(make_source(cfg, seeds.generator("uplink"), seeds.generator("uplink_outage")))
    b = CapacitySeries(make_source(cfg, seeds.generator("uplink"), seeds.generator("uplink_outage")))
    times = np.linspace(0.0, 500.0, 2001)
    forward = [a.integral(t) for t in times]
    b.integral(500.0)  # generate everything first
    assert [b.integral(t) for t in times] == forward


def long_rates(cfg: CapacityConfig, seconds: float = 20_000.0, seed: int = 1) -> np.ndarray:
    seeds = SeedPlan(seed)
    src = make_source(cfg, seeds.generator("uplink"), seeds.generator("uplink_outage"))
    rates = []
    total = 0.0
    while total < seconds:
        d, r = src.next_chunk()
        rates.append(r)
        total += d.sum()
    return np.concatenate(rates)


def test_rayleigh_marginal_and_correlation() -> None:
    sigma = 13.62
    c = long_rates(CapacityConfig(model="rayleigh", sigma_mbps=sigma, slot_ms=100, coherence_ms=500))
    assert c.mean() == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.02)
    assert np.median(c) == pytest.approx(sigma * math.sqrt(2 * math.log(2)), rel=0.02)
    # |h|^2 of a complex AR(1) with coefficient rho has lag-1 correlation rho^2
    p = c**2
    lag1 = np.corrcoef(p[:-1], p[1:])[0, 1]
    assert lag1 == pytest.approx(math.exp(-0.1 / 0.5) ** 2, abs=0.02)
    iid = long_rates(CapacityConfig(model="rayleigh", sigma_mbps=sigma, slot_ms=100, coherence_ms=0))
    assert abs(np.corrcoef(iid[:-1] ** 2, iid[1:] ** 2)[0, 1]) < 0.02


def test_gilbert_elliott_outage_fraction_and_durations() -> None:
    cfg = CapacityConfig(
        model="constant", capacity_mbps=20.0, slot_ms=100, outage=OutageConfig(mean_good_s=4.0, mean_bad_s=1.0)
    )
    c = long_rates(cfg, seconds=50_000.0)
    assert set(np.unique(c)) == {0.0, 20.0}
    assert (c == 0).mean() == pytest.approx(1.0 / 5.0, rel=0.05)
    bad = np.flatnonzero(np.diff(np.r_[0, (c == 0).astype(int), 0]))
    lengths = (bad[1::2] - bad[::2]) * 0.1
    assert lengths.mean() == pytest.approx(1.0, rel=0.05)


def test_markov_capacity_visits_its_states() -> None:
    c = long_rates(CapacityConfig(model="markov", states_mbps=(2.0, 10.0, 40.0), mean_dwell_s=5.0))
    values, counts = np.unique(c, return_counts=True)
    assert list(values) == [2.0, 10.0, 40.0]
    assert np.allclose(counts / counts.sum(), 1 / 3, atol=0.03)


class Finite:
    def __init__(self) -> None:
        self.done = False

    def next_chunk(self):  # type: ignore[no-untyped-def]
        if self.done:
            return None
        self.done = True
        return np.array([1.0]), np.array([2.0])


def test_a_transfer_past_the_end_of_a_finite_source_reports_what_was_carried() -> None:
    series = CapacitySeries(Finite())
    assert series.transfer(0.5, 10.0) == (math.inf, pytest.approx(1.0))


class Dead:
    def next_chunk(self):  # type: ignore[no-untyped-def]
        return np.array([600.0]), np.array([0.0])


def test_an_unlimited_transfer_on_a_dead_link_ends_never_not_hangs() -> None:
    assert CapacitySeries(Dead()).transfer_end(0.0, 1.0) == math.inf
