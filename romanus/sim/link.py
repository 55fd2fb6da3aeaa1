"""Link capacity over time and transfers over it.

A link's capacity is piecewise constant in time (Mbit/s per segment). Any source of
``(durations_s, capacity_mbps)`` chunks can drive it: the synthetic processes here, or a trace
importer. A transfer of S bytes that starts at t0 ends at the first t where the integral of
capacity over [t0, t] reaches S; a zero-capacity stretch simply stalls it.

The series is generated lazily chunk by chunk, in a fixed order, so its values never depend on
when or how often it is queried; :meth:`CapacitySeries.forget_before` bounds memory on long
runs.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Protocol

import numpy as np

from romanus.config import CapacityConfig

__all__ = [
    "CapacitySeries",
    "CapacitySource",
    "ConstantSource",
    "MarkovSource",
    "RayleighSource",
    "SlotSource",
    "make_source",
]

_CHUNK_S = 60.0  # seconds of slots generated at once
MAX_WAIT_S = 86400.0  # an unlimited transfer still waiting after a day never ends


class CapacitySource(Protocol):
    def next_chunk(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The next consecutive segments: (durations in s, capacity in Mbit/s); None at the end."""
        ...


class SlotSource:
    """Equal slots whose capacities come from ``draw(n)``, optionally gated by outages.

    Outages follow a Gilbert-Elliott chain over slots: good and bad sojourns alternate with
    geometric lengths of means ``mean_good_s`` and ``mean_bad_s`` (a per-slot leaving
    probability of slot / mean); in the bad state capacity is multiplied by
    ``bad_capacity_factor``. The outage chain has its own generator.
    """

    def __init__(
        self,
        slot_s: float,
        draw: Callable[[int], np.ndarray],
        outage: tuple[float, float, float] | None = None,
        outage_rng: np.random.Generator | None = None,
    ) -> None:
        self.slot_s = slot_s
        self._draw = draw
        self._n = max(1, round(_CHUNK_S / slot_s))
        self._outage = outage
        self._outage_rng = outage_rng
        self._bad = False
        self._left = 0  # slots left in the current outage-chain sojourn
        if outage is not None:
            if outage_rng is None:
                raise ValueError("outages need their own generator")
            mean_good, mean_bad, _ = outage
            # Start in the stationary distribution of the chain, with a fresh sojourn.
            self._bad = bool(outage_rng.random() < mean_bad / (mean_good + mean_bad))
            p = min(1.0, self.slot_s / (mean_bad if self._bad else mean_good))
            self._left = int(outage_rng.geometric(p))

    def next_chunk(self) -> tuple[np.ndarray, np.ndarray]:
        caps = np.asarray(self._draw(self._n), dtype=np.float64)
        if self._outage is not None:
            caps = np.where(self._outage_states(self._n), caps * self._outage[2], caps)
        return np.full(self._n, self.slot_s), caps

    def _outage_states(self, n: int) -> np.ndarray:
        """Bad-state flags of the next ``n`` slots: alternating geometric sojourns."""
        assert self._outage_rng is not None and self._outage is not None
        mean_good, mean_bad, _ = self._outage
        p_leave = {False: min(1.0, self.slot_s / mean_good), True: min(1.0, self.slot_s / mean_bad)}
        bad = np.empty(n, dtype=bool)
        filled = 0
        while filled < n:
            if self._left == 0:  # the current sojourn is over: switch state, draw the next one
                self._bad = not self._bad
                self._left = int(self._outage_rng.geometric(p_leave[self._bad]))
            take = min(self._left, n - filled)
            bad[filled : filled + take] = self._bad
            filled += take
            self._left -= take
        return bad


class ConstantSource(SlotSource):
    def __init__(self, capacity_mbps: float, slot_s: float, **outage: object) -> None:
        super().__init__(slot_s, lambda n: np.full(n, capacity_mbps), **outage)  # type: ignore[arg-type]


class RayleighSource(SlotSource):
    """Rayleigh-faded capacity: |h| of a complex Gaussian AR(1), scale ``sigma`` per slot.

    The marginal per slot is Rayleigh(sigma) (mean sigma*sqrt(pi/2)); successive slots are
    correlated with coefficient exp(-slot / coherence) (independent when coherence is 0).
    """

    def __init__(
        self, sigma_mbps: float, slot_s: float, coherence_s: float, rng: np.random.Generator, **outage: object
    ) -> None:
        self.sigma = sigma_mbps
        self.rho = math.exp(-slot_s / coherence_s) if coherence_s > 0 else 0.0
        self._rng = rng
        self._z = complex(*(rng.normal(0.0, sigma_mbps, 2)))
        super().__init__(slot_s, self._fade, **outage)  # type: ignore[arg-type]

    def _fade(self, n: int) -> np.ndarray:
        w = self._rng.normal(0.0, self.sigma, (n, 2))
        innov = (w[:, 0] + 1j * w[:, 1]) * math.sqrt(1.0 - self.rho**2)
        if self.rho == 0.0:
            z = innov
        else:
            z = _ar1(innov, self.rho, self._z)
        self._z = complex(z[-1])
        return np.abs(z)


_AR_BLOCK = 64


def _ar1(innov: np.ndarray, rho: float, z0: complex) -> np.ndarray:
    """z[i] = rho * z[i-1] + innov[i] from z[-1] = z0, in blocks (a matrix product per
    block, the carry between blocks in Python), so long series cost a few numpy calls."""
    n = len(innov)
    nb = -(-n // _AR_BLOCK)
    e = np.zeros(nb * _AR_BLOCK, dtype=np.complex128)
    e[:n] = innov
    i = np.arange(_AR_BLOCK)
    lag = i[:, None] - i[None, :]
    kernel = np.where(lag >= 0, rho ** np.maximum(lag, 0), 0.0)  # kernel[i, j] = rho^(i-j)
    y = e.reshape(nb, _AR_BLOCK) @ kernel.T
    carry = rho ** (i + 1)
    prev = z0
    for b in range(nb):
        y[b] += carry * prev
        prev = y[b, -1]
    return y.reshape(-1)[:n]


class MarkovSource(SlotSource):
    """Markov-modulated capacity: per slot, leave the state with probability slot/mean_dwell
    for a uniformly chosen other state."""

    def __init__(
        self,
        states_mbps: tuple[float, ...],
        mean_dwell_s: float,
        slot_s: float,
        rng: np.random.Generator,
        **outage: object,
    ) -> None:
        self.states = np.asarray(states_mbps, dtype=np.float64)
        self.p_leave = min(1.0, slot_s / mean_dwell_s)
        self._rng = rng
        self._state = int(rng.integers(len(self.states)))
        super().__init__(slot_s, self._walk, **outage)  # type: ignore[arg-type]

    def _walk(self, n: int) -> np.ndarray:
        k = len(self.states)
        leave = self._rng.random(n) < self.p_leave
        step = self._rng.integers(1, k, n)  # jump to one of the k-1 other states
        idx = (self._state + np.cumsum(np.where(leave, step, 0))) % k
        self._state = int(idx[-1])
        return self.states[idx]


def make_source(cfg: CapacityConfig, rng: np.random.Generator, outage_rng: np.random.Generator) -> SlotSource:
    """The synthetic capacity source a :class:`CapacityConfig` describes (outages included)."""
    slot_s = cfg.slot_ms / 1000.0
    outage: dict[str, object] = {}
    if cfg.outage is not None:
        outage = {
            "outage": (cfg.outage.mean_good_s, cfg.outage.mean_bad_s, cfg.outage.bad_capacity_factor),
            "outage_rng": outage_rng,
        }
    if cfg.model == "constant":
        return ConstantSource(cfg.capacity_mbps, slot_s, **outage)
    if cfg.model == "rayleigh":
        return RayleighSource(cfg.sigma_mbps, slot_s, cfg.coherence_ms / 1000.0, rng, **outage)
    if cfg.model == "markov":
        return MarkovSource(cfg.states_mbps, cfg.mean_dwell_s, slot_s, rng, **outage)
    raise ValueError(f"{cfg.model!r} is not a synthetic capacity model (traces: romanus.sim.world.capacity_source)")


class CapacitySeries:
    """Piecewise-constant capacity c(t) from t = 0, with its running integral (Mbit).

    Times are seconds from the start of the run; ``integral(t)`` is the Mbit the link could
    carry in [0, t].
    """

    def __init__(self, source: CapacitySource) -> None:
        self._source: CapacitySource | None = source
        self._t: list[float] = [0.0]  # segment start times, plus the end of the last one
        self._cum: list[float] = [0.0]  # integral at each breakpoint
        self._rate: list[float] = []  # capacity of each segment

    @property
    def horizon_s(self) -> float:
        """End of the generated part of the series."""
        return self._t[-1]

    def _extend(self) -> bool:
        if self._source is None:
            return False
        chunk = self._source.next_chunk()
        if chunk is None:
            self._source = None
            return False
        durations, rates = chunk
        durations = np.asarray(durations, dtype=np.float64)
        rates = np.asarray(rates, dtype=np.float64)
        if durations.shape != rates.shape or durations.ndim != 1 or len(durations) == 0:
            raise ValueError("a capacity chunk needs equal-length, non-empty durations and rates")
        if not (np.all(durations > 0) and np.all(rates >= 0) and np.all(np.isfinite(rates))):
            raise ValueError("capacity chunks need positive durations and finite non-negative rates")
        t0, c0 = self._t[-1], self._cum[-1]
        self._t.extend((t0 + np.cumsum(durations)).tolist())
        self._cum.extend((c0 + np.cumsum(durations * rates)).tolist())
        self._rate.extend(rates.tolist())
        return True

    def _cover(self, t: float) -> None:
        while self._t[-1] <= t:
            if not self._extend():
                break

    def rate(self, t: float) -> float:
        """Capacity (Mbit/s) at time t (0 past the end of a finite source)."""
        self._cover(t)
        if t >= self._t[-1]:
            return 0.0
        i = bisect_right(self._t, t) - 1
        if i < 0:
            raise ValueError(f"time {t} s is before the retained part of the series ({self._t[0]} s)")
        return self._rate[i]

    def integral(self, t: float) -> float:
        """Mbit the link could carry in [0, t]."""
        self._cover(t)
        if t >= self._t[-1]:
            return self._cum[-1]  # a finite source ended: no capacity after it
        i = bisect_right(self._t, t) - 1
        if i < 0:
            raise ValueError(f"time {t} s is before the retained part of the series ({self._t[0]} s)")
        return self._cum[i] + self._rate[i] * (t - self._t[i])

    def time_to_reach(self, target_mbit: float, limit_s: float = math.inf) -> float:
        """First t with integral(t) >= target; ``inf`` if that is not before ``limit_s`` (or, with
        no limit, within ``MAX_WAIT_S`` of the generated horizon: a link that never carries it)."""
        if limit_s == math.inf:
            limit_s = self._t[-1] + MAX_WAIT_S
        while self._cum[-1] < target_mbit and self._t[-1] < limit_s:
            if not self._extend():
                break
        if self._cum[-1] < target_mbit:
            return math.inf
        j = bisect_left(self._cum, target_mbit)
        if j == 0:
            return self._t[0]
        k = j - 1  # cum[k] < target <= cum[j], so segment k has positive capacity
        t = self._t[k] + (target_mbit - self._cum[k]) / self._rate[k]
        t = min(t, self._t[j])
        return t if t < limit_s else math.inf

    def transfer_end(self, start_s: float, size_mbit: float, limit_s: float = math.inf) -> float:
        """When a transfer of ``size_mbit`` starting at ``start_s`` completes (``inf`` past limit)."""
        return self.transfer(start_s, size_mbit, limit_s)[0]

    def transfer(self, start_s: float, size_mbit: float, limit_s: float = math.inf) -> tuple[float, float]:
        """(end time, Mbit carried) of a transfer starting at ``start_s``.

        If it would not end before ``limit_s`` it is cut there: (inf, Mbit carried by
        ``limit_s``). One call on the simulator's hot path, hence the inlined lookups.
        """
        if size_mbit <= 0.0:
            return start_s, 0.0
        ts, cum, rate = self._t, self._cum, self._rate
        if start_s >= ts[-1]:
            self._cover(start_s)
        if start_s >= ts[-1]:  # a finite source has ended: nothing more is carried
            return math.inf, 0.0
        i = bisect_right(ts, start_s) - 1
        if i < 0:
            raise ValueError(f"time {start_s} s is before the retained part of the series ({ts[0]} s)")
        i0 = cum[i] + rate[i] * (start_s - ts[i])
        end = self.time_to_reach(i0 + size_mbit, limit_s)
        if end == math.inf:
            carried = (self.integral(limit_s) if limit_s < math.inf else self._cum[-1]) - i0
            return math.inf, carried
        return end, size_mbit

    def mean_rate(self, t0: float, t1: float) -> float:
        """Mean capacity over [t0, t1] (the capacity at t0 for an empty window)."""
        if t1 <= t0:
            return self.rate(t0)
        return (self.integral(t1) - self.integral(t0)) / (t1 - t0)

    def forget_before(self, t: float) -> None:
        """Drop segments that end before ``t``; later queries must not look before ``t``."""
        i = bisect_right(self._t, t) - 1
        if i > 1024:  # amortise: trim in blocks
            del self._t[:i]
            del self._cum[:i]
            del self._rate[:i]
