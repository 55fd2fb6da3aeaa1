"""The edge server: k workers, first come first served, shared with background tenants.

Background requests come from a :class:`~romanus.sim.world.BackgroundSource` (synthetic:
Poisson arrivals whose rate follows a Markov load process, near-deterministic service; or a
recording of one). The vehicle's requests join the same FCFS queue.

Simulation method. A FCFS multi-server queue is simulated exactly, job by job, with the
Kiefer-Wolfowitz workload recursion: keep each worker's next-free time in a heap; a job
arriving at ``a`` with service ``s`` starts at ``max(a, earliest free)`` on that worker. In
FCFS a job's start depends only on earlier arrivals, so background jobs are processed lazily
in arrival order whenever the simulator needs the state at a time (our request, a telemetry
report). This is the same queue a SimPy ``Resource(capacity=k)`` would give
(``tests/test_server.py`` checks the two against each other job by job) at a fraction of the
cost: background tenants bring hundreds of requests per second.

Requests the vehicle abandons before they start are removed from the queue (the vehicle
cancels them); a request that has started runs to the end.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections import deque
from typing import NamedTuple

from romanus.config import ServerConfig
from romanus.sim.world import BackgroundSource

__all__ = ["EdgeServer", "ServerReport"]


class ServerReport(NamedTuple):
    """One telemetry report, as the server measured it at ``time_s``."""

    time_s: float
    wait_ms: float  # queueing delay a request arriving at time_s would see
    workload_ms: float  # unfinished work per worker at time_s
    arrival_rate_hz: float  # requests that arrived in the report period, per second
    utilisation: float  # share of worker time spent serving during the report period


class EdgeServer:
    def __init__(self, cfg: ServerConfig, background: BackgroundSource) -> None:
        self.workers = cfg.workers
        self._free: list[float] = [0.0] * cfg.workers  # heap of worker next-free times
        self._background = background
        self._gen_until = 0.0
        self._horizon = 0.0  # the latest time the server has been advanced to
        self._arr: list[float] = []
        self._svc: list[float] = []
        self._i = 0
        # telemetry
        self._period_s = cfg.telemetry_period_ms / 1000.0
        self._delay_s = cfg.telemetry_delay_ms / 1000.0
        self._next_k = 1  # index of the next report time k * period
        self._arrivals_since = 0
        self._admitted_s = 0.0  # service time of every request that has arrived so far
        self._done_at_report = 0.0  # work completed by the previous report
        self._last_k = 0  # the report index last asked for, and the report
        self._last_report: ServerReport | None = None
        self._reports: deque[ServerReport] = deque(maxlen=int(self._delay_s / self._period_s) + 4)
        #: background requests served so far and their summed queueing delay (for analysis)
        self.background_jobs = 0
        self.background_wait_s = 0.0

    # -- background arrivals -----------------------------------------------------------------

    def _generate(self) -> None:
        """Append the next window of background requests."""
        times, services, end = self._background.next_window()
        if self._i > 4096:
            del self._arr[: self._i]
            del self._svc[: self._i]
            self._i = 0
        self._arr.extend(times.tolist())
        self._svc.extend(services.tolist())
        self._gen_until = end

    def advance(self, t: float) -> None:
        """Process every background arrival before ``t`` and every report due by ``t``."""
        if t > self._horizon:
            self._horizon = t
        free = self._free
        replace = heapq.heapreplace
        while True:
            arr = self._arr
            i = self._i
            # arrivals before t, and before the next report (which needs the state then)
            report_at = self._next_k * self._period_s
            stop = t if t < report_at else report_at
            j = bisect_left(arr, stop, i)
            if j > i:
                wait = 0.0
                for a, s in zip(arr[i:j], self._svc[i:j], strict=True):  # the FCFS workload recursion
                    f = free[0]
                    if f > a:
                        wait += f - a
                        replace(free, f + s)
                    else:
                        replace(free, a + s)
                self.background_wait_s += wait
                self._admitted_s += sum(self._svc[i:j])
                self.background_jobs += j - i
                self._arrivals_since += j - i
                self._i = j
            if j < len(arr):  # the next arrival is at or after ``stop``
                if stop == t:
                    break
                self._report_until(stop, inclusive=True)
            elif self._gen_until >= t:
                break
            else:
                self._generate()
        self._report_until(t, inclusive=True)

    def _report_until(self, t: float, inclusive: bool = False) -> None:
        while True:
            tau = self._next_k * self._period_s
            if tau > t or (tau == t and not inclusive):
                return
            free = self._free
            unfinished = sum(f - tau for f in free if f > tau)
            # FCFS: work done by tau = work admitted before tau - work still unfinished at tau
            done = self._admitted_s - unfinished
            self._reports.append(
                ServerReport(
                    time_s=tau,
                    wait_ms=max(0.0, free[0] - tau) * 1000.0,
                    workload_ms=unfinished / self.workers * 1000.0,
                    arrival_rate_hz=self._arrivals_since / self._period_s,
                    utilisation=min(1.0, max(0.0, (done - self._done_at_report) / (self.workers * self._period_s))),
                )
            )
            self._done_at_report = done
            self._arrivals_since = 0
            self._next_k += 1

    # -- the vehicle's side ------------------------------------------------------------------

    def submit(self, t: float, service_s: float, abandon_s: float = math.inf) -> tuple[float, float] | None:
        """Our request arrives at ``t``: (start, end), or None if it would start at or after
        ``abandon_s`` (the vehicle cancels it and it leaves the queue).

        Requests must be submitted in arrival order, at or after every time the server has
        been advanced to (the simulator submits each when it arrives)."""
        if t < self._horizon:
            raise ValueError(f"request at {t} s submitted after the server was advanced to {self._horizon} s")
        self.advance(t)
        f = self._free[0]
        start = t if t > f else f
        self._arrivals_since += 1
        if start >= abandon_s:
            return None
        heapq.heapreplace(self._free, start + service_s)
        self._admitted_s += service_s
        return start, start + service_s

    def peek(self, t: float, service_s: float, abandon_s: float = math.inf) -> tuple[float, float] | None:
        """What :meth:`submit` would answer for a request arriving at ``t`` (any time not
        before the server's current time), without queueing it or advancing the server."""
        free = list(self._free)
        i = self._i
        while True:
            arr = self._arr
            j = bisect_left(arr, t, i)
            for a, s in zip(arr[i:j], self._svc[i:j], strict=True):
                f = free[0]
                heapq.heapreplace(free, (f if f > a else a) + s)
            if j < len(arr) or self._gen_until >= t:
                break
            consumed = self._i
            self._generate()  # generation is lazy and deterministic: the same whenever it runs
            i = j - (consumed - self._i)  # the consumed prefix may have been trimmed
        f = free[0]
        start = t if t > f else f
        return None if start >= abandon_s else (start, start + service_s)

    def report(self, now: float) -> ServerReport | None:
        """The newest report the vehicle has received by ``now`` (reports travel ``delay``)."""
        k = math.floor((now - self._delay_s) / self._period_s + 1e-9)
        if k < 1:
            return None
        if k == self._last_k:
            return self._last_report
        if self._next_k <= k:
            self.advance(k * self._period_s)
        found = None
        for rep in reversed(self._reports):
            if rep.time_s <= k * self._period_s + 1e-12:
                found = rep
                break
        self._last_k, self._last_report = k, found
        return found

    def true_wait_s(self, t: float) -> float:
        """Queueing delay a request arriving at ``t`` would see (the truth, not telemetry)."""
        self.advance(t)
        f = self._free[0]
        return f - t if f > t else 0.0
