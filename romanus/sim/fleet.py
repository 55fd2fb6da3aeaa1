"""Many vehicles, one cell, one edge server: the fleet simulator (SimPy).

``N`` vehicles drive in one SimPy environment and capture frames at the same instants
(every ``period_ms``). Each has everything the single-vehicle :class:`~romanus.sim.simulator.Simulator`
has (its own accelerator FIFO, scene process, uplink and downlink capacity, RTT and
service-time draws, RRC radio, frame records, energy bookkeeping), and they share

- **one cell uplink**, through a scheduler (:class:`Cell`), and
- **one edge server** (:class:`~romanus.sim.server.EdgeServer`, with its background tenants):
  every vehicle's requests join the same FCFS queue in arrival order.

Each vehicle is a :class:`FleetVehicle`, a :class:`Simulator` whose frame process is the
single vehicle's except for the uplink leg, so the vehicle views, observations, policies and
estimators of :mod:`romanus.vehicle` and :mod:`romanus.policies` work on it unchanged (except
the hindsight oracle: with other vehicles in the cell a frame's outcome depends on their
future decisions, so :meth:`FleetVehicle.predict` refuses).

The cell's uplink (fluid model)
    A vehicle's payloads queue FIFO on its own modem (as in the single vehicle); the
    vehicles with a payload on the air are the cell's *active users*. With ``k`` active
    users, user ``i`` sends at ``share(k) * c_i(t)``, where ``c_i`` is its own uplink capacity
    series (what it would get alone in the cell, from its own seed stream) and

    - ``round-robin``: ``share(k) = 1/k`` (equal time shares, no channel awareness);
    - ``proportional-fair`` (default): ``share(k) = G(k)/k``: each user gets a 1/k time share
      and, because PF schedules a user when its channel is high relative to its own mean,
      sends at a multi-user diversity gain ``G(k) = E[max of k i.i.d. X] / E[X]``, where
      ``X`` is the fast (per-TTI) fading of the rate around the slot capacity
      (``pf_fading``): ``rayleigh`` (a Rayleigh-distributed rate, the marginal of romanus's
      Rayleigh link model; G(2) = 1.29, G(8) = 1.82, G(64) = 2.44), ``exponential`` (rate
      linear in an exponentially distributed SNR, the low-SNR textbook case: G(k) = H_k, the
      harmonic number; Tse & Viswanath, *Fundamentals of Wireless Communication*, 2005,
      section 6.6; Liu, Chong & Shroff on PF's share of the max) or ``none`` (G = 1). The
      symmetric argument (every user is the relative maximum 1/k of the time) makes each
      user's throughput ``c_i * E[X 1{X = max}] = c_i * G(k)/k`` exactly for i.i.d. fading;
      ``tests/test_fleet_sim.py`` checks the fluid shares against a TTI-level PF scheduler.

    Rates change only when the active set changes (a transfer starts after its promotion,
    ends, or is cancelled at its frame's abandonment) or when a capacity series changes
    segment; between set changes a transfer's progress is ``share * (integral of c_i)``, so
    its end is computed exactly from its own capacity integral
    (:meth:`CapacitySeries.time_to_reach`), and recomputed for every active user when the set
    changes, once per instant after that instant's other events (event-driven, one SimPy
    timer for the next end; a burst of joins costs one recomputation). With one active user
    ``share(1) = 1`` and a transfer ends exactly where the single vehicle's does.

    The downlink is not shared (results are a few kB; each vehicle keeps its own downlink
    capacity series, FIFO), the fleet is the cell's only traffic, and a transfer's radio
    energy is the single vehicle's formula over its whole time on the air (a time-shared user
    stays connected and active while its payload drains, sending in its scheduled TTIs: a
    lower mean rate, longer on the air).

Coupling to the single vehicle
    :class:`FleetVehicle` reuses :class:`Simulator`'s internals (its frame bookkeeping, server
    and downlink legs, record emission) and copies its frame process with the uplink leg
    replaced, so a change to the single vehicle's frame semantics must be mirrored in
    :meth:`FleetVehicle._frame`: the fleet-of-one tests fail until it is. Two SimPy internals
    are used, both to schedule at an exact time or priority (:meth:`FleetVehicle._call_at`,
    :meth:`Cell._changed`), as :meth:`Simulator._advance` sets the clock.

Seeds
    Vehicle 0 draws its world from the fleet's root seed exactly as a single vehicle does
    (:func:`vehicle_seed`), and the edge server's background tenants come from the root's
    server streams: a fleet of one vehicle replays the single-vehicle simulator's frame log on
    the same seed, frame for frame (``tests/test_fleet_sim.py``). Vehicle ``i > 0`` draws its
    world from a root derived from ``(seed, i)``, so adding vehicles never changes the
    others' worlds.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

import numpy as np
import simpy

from romanus.config import Preset
from romanus.pipeline.modes import ModeCatalogue
from romanus.rng import SeedPlan
from romanus.sim.actions import NO_FALLBACK
from romanus.sim.link import CapacitySeries
from romanus.sim.records import FrameRecord
from romanus.sim.server import EdgeServer
from romanus.sim.simulator import _TIME_EPS, Decision, Prediction, Simulator, _Trip, build_catalogue
from romanus.sim.world import World, synthetic_world

__all__ = [
    "FLEET_KPIS",
    "PF_FADING",
    "SCHEDULERS",
    "Cell",
    "CellConfig",
    "FleetSimulator",
    "FleetVehicle",
    "Transfer",
    "diversity_gain",
    "fleet_kpis",
    "jain_index",
    "vehicle_seed",
]

SCHEDULERS = ("proportional-fair", "round-robin")
PF_FADING = ("rayleigh", "exponential", "none")
#: SimPy priority of the cell's recomputation: after the NORMAL events (0 urgent, 1 normal) of an instant
_AFTER_NORMAL = simpy.events.EventPriority(2)
#: the most vehicles one fleet simulates (a cell's scheduler has tens of active users)
MAX_VEHICLES = 1024


@dataclass(frozen=True)
class CellConfig:
    """How the cell's uplink is shared (see the module docstring)."""

    scheduler: str = "proportional-fair"
    pf_fading: str = "rayleigh"

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"cell.scheduler: {self.scheduler!r} is not one of {', '.join(SCHEDULERS)}")
        if self.pf_fading not in PF_FADING:
            raise ValueError(f"cell.pf_fading: {self.pf_fading!r} is not one of {', '.join(PF_FADING)}")


@lru_cache(maxsize=4096)
def diversity_gain(k: int, fading: str = "rayleigh") -> float:
    """``E[max of k i.i.d. X] / E[X]`` for the per-TTI fading ``X`` of a PF scheduler."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if k == 1 or fading == "none":
        return 1.0
    if fading == "exponential":
        return float(sum(1.0 / j for j in range(1, k + 1)))
    if fading == "rayleigh":
        # E[max] = integral of 1 - F(x)^k, F(x) = 1 - exp(-x^2/2); E[X] = sqrt(pi/2)
        x = np.linspace(0.0, 12.0, 24001)
        f = 1.0 - np.exp(-0.5 * x * x)
        y = 1.0 - f**k
        dx = x[1] - x[0]
        e_max = float(dx * (y.sum() - 0.5 * (y[0] + y[-1])))
        return e_max / math.sqrt(math.pi / 2.0)
    raise ValueError(f"pf_fading {fading!r} is not one of {', '.join(PF_FADING)}")


def vehicle_seed(root: int, index: int) -> int:
    """The root seed of vehicle ``index``'s world: the fleet's root for vehicle 0 (so a fleet
    of one is the single vehicle), a 63-bit seed derived from ``(root, index)`` otherwise."""
    if index == 0:
        return int(root)
    seq = np.random.SeedSequence(entropy=int(root), spawn_key=(0x666C656574, index))  # "fleet"
    return int(seq.generate_state(2, np.uint64)[0] >> np.uint64(1))


class Transfer:
    """One payload on the cell's uplink."""

    __slots__ = (
        "abandon",
        "carried",
        "end",
        "i_ref",
        "on_done",
        "overlap",
        "seg_start",
        "series",
        "share",
        "size",
        "start",
        "target",
        "trip",
    )

    def __init__(
        self,
        series: CapacitySeries,
        start: float,
        size: float,
        abandon: float,
        on_done: Callable[[Transfer, float, float], None],
        trip: _FleetTrip | None = None,
    ) -> None:
        self.on_done = on_done  # called with (the transfer, its end or inf if cancelled, Mbit carried)
        self.trip = trip
        self.series = series
        self.start = start
        self.size = size
        self.abandon = abandon
        self.carried = 0.0  # Mbit carried up to i_ref
        self.i_ref = 0.0  # the capacity integral where ``carried`` was last brought up to date
        self.share = 1.0
        self.target = 0.0  # the capacity integral at which the transfer ends at the current share
        self.end = math.inf  # when it ends at the current share (inf: not before abandonment)
        self.overlap = 0.0  # time on the air another transfer of the radio already covers
        self.seg_start = start  # its time on the air is booked on the radio up to here


class Cell:
    """The shared uplink: active transfers, their shares, and the next time one ends."""

    def __init__(self, env: simpy.Environment, config: CellConfig) -> None:
        self.env = env
        self.config = config
        self.active: list[Transfer] = []
        self._version = 0
        #: set-change events so far (for the benchmark and tests)
        self.changes = 0
        #: sum over time of the number of active users (user-seconds), and its clock
        self.user_s = 0.0
        self._since = 0.0
        self._flush_pending = False

    def share(self, k: int) -> float:
        """Each of ``k`` active users' rate as a fraction of its own channel capacity."""
        if k <= 1:
            return 1.0
        if self.config.scheduler == "round-robin":
            return 1.0 / k
        return diversity_gain(k, self.config.pf_fading) / k

    def _account(self, now: float) -> None:
        self.user_s += len(self.active) * (now - self._since)
        self._since = now

    def _reshare(self, now: float, new_share: float) -> None:
        """Bring every active transfer up to ``now`` and give it ``new_share`` (a transfer
        that has just gone on the air starts from its start)."""
        for x in self.active:
            if x.share == 0.0:  # new
                x.i_ref = x.series.integral(x.start)
                x.share = new_share
                x.target = x.i_ref + x.size / new_share
                x.end = x.series.time_to_reach(x.target, x.abandon)
            elif x.share != new_share:
                i_now = x.series.integral(now)
                x.carried += x.share * (i_now - x.i_ref)
                x.i_ref = i_now
                x.share = new_share
                x.target = i_now + (x.size - x.carried) / new_share
                x.end = x.series.time_to_reach(x.target, x.abandon)

    def add(self, x: Transfer) -> None:
        """``x`` goes on the air at ``x.start`` (now, up to rounding)."""
        self._account(self.env.now)
        self.changes += 1
        x.share = 0.0
        self.active.append(x)
        self._changed()

    def _changed(self) -> None:
        """The active set changed now: recompute the shares once, after every other event of
        this instant (vehicles that send the same mode go on the air at the same instant, so a
        fleet's joins come in bursts: one recomputation for the burst, not one per join)."""
        self._version += 1  # the pending timer is stale
        if not self._flush_pending:
            self._flush_pending = True
            env = self.env
            ev = simpy.Event(env)
            ev._ok = True
            ev._value = None
            ev.callbacks.append(self._flush)  # type: ignore[union-attr]
            env.schedule(ev, priority=_AFTER_NORMAL)

    def _flush(self, _event: object) -> None:
        self._flush_pending = False
        if self.active:
            self._reshare(self.env.now, self.share(len(self.active)))
        self._schedule()

    def _schedule(self) -> None:
        self._version += 1
        if not self.active:
            return
        t = min(x.end if x.end < x.abandon else x.abandon for x in self.active)
        delay = t - self.env.now
        self.env.timeout(delay if delay > 0.0 else 0.0).callbacks.append(partial(self._tick, self._version))

    def _tick(self, version: int, _event: object) -> None:
        if version != self._version:
            return  # the active set changed since this timer was set
        now = self.env.now
        limit = now + _TIME_EPS
        done = [x for x in self.active if (x.end if x.end < x.abandon else x.abandon) <= limit]
        if not done:  # rounding: the end is a hair later than the timer
            self._schedule()
            return
        self._account(now)
        self.changes += 1
        self.active = [x for x in self.active if x not in done]
        self._changed()
        for x in done:
            if x.end < x.abandon:
                x.on_done(x, x.end, x.size)
            else:
                i_ab = x.series.integral(x.abandon)
                x.on_done(x, math.inf, x.carried + x.share * (i_ab - x.i_ref))

    def remaining_s(self, x: Transfer, now: float) -> float:
        """Time until ``x`` ends at the current shares (or its abandonment)."""
        end = x.end if x.end < x.abandon else x.abandon
        return end - now if end > now else 0.0


class _FleetTrip(_Trip):
    """An offloaded request of a fleet vehicle, from its payload's readiness to its results
    (``abandon``: the frame's abandon or fallback time, when its remote part is cancelled)."""

    __slots__ = ("reached", "rtt_ms", "sent", "up_mj")

    def __init__(self, n: int, m: int, cut: float, done: simpy.Event) -> None:
        super().__init__(n, m, cut, math.inf, done)
        self.up_mj = 0.0  # the uplink's radio energy (``radio_mj`` is the downlink's)
        self.sent = 0
        self.rtt_ms = 0.0
        self.reached = False  # the request reached the server before the cut


class FleetVehicle(Simulator):
    """One vehicle of a fleet: a :class:`Simulator` whose clock, edge server and uplink cell
    belong to the fleet. Views and policies read it as they read a single vehicle; the fleet
    drives it (:meth:`FleetSimulator.step`)."""

    def __init__(
        self,
        fleet: FleetSimulator,
        index: int,
        world: World,
        *,
        catalogue: ModeCatalogue,
        keep_records: bool,
    ) -> None:
        super().__init__(
            fleet.preset,
            vehicle_seed(fleet.seed, index),
            catalogue=catalogue,
            keep_records=keep_records,
            world=world,
        )
        self.index = index
        self.fleet = fleet
        self.env = fleet.env
        self._acc = simpy.PreemptiveResource(self.env, capacity=1)
        self.server = fleet.server
        self._cell = fleet.cell
        self._queue: deque[_FleetTrip] = deque()  # payloads waiting for the modem
        self._sending: Transfer | None = None
        self._modem_busy = False  # a payload is being promoted or on the air
        self._blocked_until = 0.0  # a promotion still running at an abandonment holds the modem

    # -- what the fleet vehicle cannot do alone ----------------------------------------------------

    def predict(self, mode: int, option: int = NO_FALLBACK) -> Prediction:
        raise NotImplementedError(
            "a fleet vehicle's outcome depends on the other vehicles' future decisions: "
            "the hindsight oracle (predict) is not available in a fleet"
        )

    def decision(self) -> Decision:
        raise RuntimeError("a fleet vehicle is driven by its FleetSimulator (decisions(), step(modes))")

    def step(self, action: int) -> list[FrameRecord]:
        raise RuntimeError("a fleet vehicle is driven by its FleetSimulator (decisions(), step(modes))")

    def drain(self) -> list[FrameRecord]:
        raise RuntimeError("a fleet vehicle is driven by its FleetSimulator (drain())")

    def uplink_backlog_s(self, now: float) -> float:
        """Time until the modem has sent what is queued, at the cell's current shares."""
        x = self._sending
        if x is None and not self._queue:
            return self._blocked_until - now if self._blocked_until > now else 0.0
        total = 0.0 if x is None else self._cell.remaining_s(x, now)
        if self._queue:
            rate = self.uplink.rate(now) * self._cell.share(len(self._cell.active) + (x is None))
            total += sum(self._up_mbit[t.m] for t in self._queue) / rate if rate > 0.0 else math.inf
        return total

    # -- driven by the fleet ---------------------------------------------------------------------

    def _start(self, n: int, t: float, action: int, *, advance: bool = False, who: str = "") -> None:
        """Start frame ``n`` (captured now, at ``t``): :meth:`Simulator._start`, the fleet keeps
        the clock."""
        super()._start(n, t, action, advance=False, who=who or f"vehicle {self.index}: ")

    def _close(self, n: int, t: float, t_next: float) -> list[FrameRecord]:
        x = self._sending
        if x is not None and x.seg_start < t_next:  # a payload on the air across the capture
            x.overlap += self.radio.book(x.seg_start, t_next)
            x.seg_start = t_next
        return super()._close(n, t, t_next)

    # -- one frame: the single vehicle's (Simulator._frame), the uplink leg through the cell ------

    def _trip_outcome(
        self, trip: _Trip, radio_mj: float, sent: int, rtt_ms: float
    ) -> tuple[float, int, float, float | None]:
        """The uplink's energy, bytes and RTT are the cell's (known when the transfer ended)."""
        assert isinstance(trip, _FleetTrip)
        return trip.up_mj + trip.radio_mj, trip.sent, trip.rtt_ms, (trip.wait_ms if trip.reached else None)

    def _send(self, n: int, m: int, ready: float, cut: float, trip_box: list[Any]) -> None:
        """Frame ``n``'s payload is ready (now): it queues for the modem, then the cell; the
        frame waits for the trip (uplink, server, downlink) to end."""
        trip = _FleetTrip(n, m, cut, self.env.event())
        trip_box[:] = [trip, 0.0, 0, 0.0]
        self._join(trip, ready)

    # -- the modem's FIFO --------------------------------------------------------------------------

    def _join(self, trip: _FleetTrip, ready: float) -> None:
        """The payload is ready (now): it queues for the modem."""
        if self._modem_busy:
            self._queue.append(trip)
        else:
            self._transmit(trip, ready)

    def _transmit(self, trip: _FleetTrip, t0: float) -> None:
        """The modem takes ``trip``'s payload at ``t0`` (now): promotion, then the cell."""
        if t0 < self._blocked_until:
            t0 = self._blocked_until
        if t0 >= trip.abandon:
            self._fail(trip)
            return
        self._modem_busy = True
        start = self.radio.begin(t0)
        if start >= trip.abandon:  # still promoting at abandonment: the modem is held until then
            self._blocked_until = trip.abandon
            self._fail(trip)
            self._modem_busy = False
            self.env.timeout(trip.abandon - self.env.now).callbacks.append(self._next_payload)
            return
        if start > self.env.now:
            self.env.timeout(start - self.env.now).callbacks.append(partial(self._on_air, trip, start))
        else:
            self._on_air(trip, start, None)

    def _on_air(self, trip: _FleetTrip, start: float, _event: object) -> None:
        x = Transfer(self.uplink, start, self._up_mbit[trip.m], trip.abandon, self._uplink_done, trip)
        self._sending = x
        self._cell.add(x)

    def _uplink_done(self, x: Transfer, t1: float, sent_mbit: float) -> None:
        """The cell says ``x`` ended at ``t1`` (inf: cancelled at its abandonment)."""
        trip = x.trip
        assert trip is not None
        end = x.abandon if t1 == math.inf else t1
        x.overlap += self.radio.book(x.seg_start, end)
        trip.up_mj = self.energy.uplink_mj(sent_mbit, end - x.start) - self.energy.shared_air_mj(x.overlap)
        trip.sent = round(sent_mbit / 8e-6)
        self._sending = None
        self._modem_busy = False
        if t1 == math.inf:
            trip.done.succeed(math.inf)
        else:
            rtt = self._rtt[trip.n]
            arrive = t1 + rtt / 2.0
            trip.rtt_ms = rtt * 1000.0
            self._acks.append((arrive + rtt / 2.0, trip.rtt_ms))
            if arrive < trip.abandon and self.server is not None:
                # the request joins the server's queue when it arrives (in time order)
                trip.arrive = arrive
                trip.reached = True
                self.env.timeout(arrive - self.env.now).callbacks.append(partial(self._at_server, trip))
            else:
                trip.done.succeed(math.inf)
        self._next_payload(None)

    def _next_payload(self, _event: object) -> None:
        while self._queue and not self._modem_busy:
            trip = self._queue.popleft()
            self._transmit(trip, self.env.now)

    def _at_server(self, trip: _Trip, _event: object) -> None:
        log = self.fleet.request_log
        if log is not None:
            log.append((self.index, trip.n, trip.arrive, self._server_s[trip.m] * self._jitter[trip.n], trip.abandon))
        super()._at_server(trip, _event)

    def _fail(self, trip: _FleetTrip) -> None:
        trip.done.succeed(math.inf)


class FleetSimulator:
    """``vehicles`` vehicles of one preset's world, one cell, one edge server, from one seed.

    Drive it frame by frame: :meth:`decisions` (every vehicle's next decision, all at the same
    capture time) then :meth:`step` with one mode per vehicle; :meth:`drain` at the end.
    ``worlds`` replaces the generated worlds (a recorded fleet scenario's; the server's
    background tenants come from ``worlds[0]``).
    """

    def __init__(
        self,
        preset: Preset,
        vehicles: int,
        seed: int = 0,
        *,
        cell: CellConfig | None = None,
        catalogue: ModeCatalogue | None = None,
        keep_records: bool = True,
        worlds: Sequence[World] | None = None,
    ) -> None:
        if (
            isinstance(vehicles, bool)
            or not isinstance(vehicles, int | np.integer)
            or not 1 <= vehicles <= MAX_VEHICLES
        ):
            raise ValueError(f"vehicles must be an integer in 1..{MAX_VEHICLES}, got {vehicles!r}")
        if worlds is not None and len(worlds) != vehicles:
            raise ValueError(f"worlds: {len(worlds)} given for {vehicles} vehicles")
        self.preset = preset
        self.seed = SeedPlan(seed).root
        self.cell_config = cell or CellConfig()
        self.catalogue = catalogue if catalogue is not None else build_catalogue(preset)
        self.env = simpy.Environment()
        self.cell = Cell(self.env, self.cell_config)
        if worlds is None:
            worlds = [
                synthetic_world(preset, SeedPlan(vehicle_seed(self.seed, i)), self.catalogue.scenes)
                for i in range(vehicles)
            ]
        self.worlds = list(worlds)
        self.server: EdgeServer | None = None
        if preset.server.enabled:
            bg = self.worlds[0].background
            if bg is None:
                raise ValueError("the preset has an edge server but vehicle 0's world has no background requests")
            self.server = EdgeServer(preset.server, bg)
        self._period_ms = preset.period_ms
        self.vehicles: list[FleetVehicle] = [
            FleetVehicle(self, i, w, catalogue=self.catalogue, keep_records=keep_records)
            for i, w in enumerate(self.worlds)
        ]
        self.frames_started = 0
        #: (vehicle, frame, arrival s, service s, abandon s) of every request that reached the
        #: server, in arrival order, when set to a list (for tests and analysis)
        self.request_log: list[tuple[int, int, float, float, float]] | None = None

    def __len__(self) -> int:
        return len(self.vehicles)

    @property
    def now(self) -> float:
        return self.env.now

    def capture_s(self, n: int) -> float:
        return n * self._period_ms / 1000.0

    def _advance(self, t: float) -> None:
        env = self.env
        peek, step = env.peek, env.step
        limit = t + _TIME_EPS
        while peek() <= limit:
            step()
        env._now = t  # as Simulator._advance: nothing is queued before ``limit``

    def decisions(self) -> list[Decision]:
        """Advance to the next capture: every vehicle's decision (same frame, same time)."""
        n = self.frames_started
        t = self.capture_s(n)
        self._advance(t)
        out = []
        for v in self.vehicles:
            scene = v.scene.at(t)
            out.append(Decision(n, t, scene, v.deadline_ms_at(t, scene)))
        return out

    def step(self, actions: Sequence[int]) -> list[list[FrameRecord]]:
        """Start every vehicle's next frame (``actions[i]`` for vehicle ``i``: a mode, or an
        offloading mode with a fallback option, :attr:`Simulator.actions`) and run to the
        following capture; per vehicle, the frames that resolved in that interval."""
        if len(actions) != len(self.vehicles):
            raise ValueError(f"actions: {len(actions)} given for {len(self.vehicles)} vehicles")
        n = self.frames_started
        t = self.capture_s(n)
        if self.env.now != t or self.env.peek() <= t + _TIME_EPS:
            self._advance(t)
        for v, action in zip(self.vehicles, actions, strict=True):
            v._start(n, t, int(action))
        self.frames_started += 1
        t_next = self.capture_s(self.frames_started)
        self._advance(t_next)
        return [v._close(n, t, t_next) for v in self.vehicles]

    def drain(self) -> list[list[FrameRecord]]:
        """Run until every started frame has resolved; per vehicle, the frames that resolved."""
        if self.frames_started:
            self._advance(max(v._last_abandon for v in self.vehicles))
        return [v._final_tail() for v in self.vehicles]

    @property
    def active_users(self) -> int:
        """Vehicles with a payload on the cell's air now."""
        return len(self.cell.active)


def jain_index(values: Sequence[float]) -> float:
    """Jain's fairness index ``(sum x)^2 / (n sum x^2)`` of non-negative values: 1 when all
    are equal, 1/n when one vehicle has everything; 1 when all are zero (nobody worse off)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("Jain's index of no values")
    if np.any(x < 0) or not np.all(np.isfinite(x)):
        raise ValueError("Jain's index needs finite non-negative values")
    sq = float(np.sum(x * x))
    return 1.0 if sq == 0.0 else float(np.sum(x)) ** 2 / (x.size * sq)


#: fleet KPIs of :func:`fleet_kpis`
FLEET_KPIS = (
    "fleet_energy_per_frame_mj",
    "fleet_risky_rate",
    "fleet_miss_rate",
    "worst_vehicle_risky_rate",
    "worst_vehicle_energy_per_frame_mj",
    "jain_energy",
    "jain_risk",
    "fleet_offload_fraction",
)


def fleet_kpis(per_vehicle: Sequence[dict[str, float]]) -> dict[str, float]:
    """Fleet KPIs from each vehicle's :func:`romanus.sim.records.kpis`: the mean energy per
    frame and risky / miss rates over the fleet (vehicles weigh equally: they run equally many
    frames), the worst vehicle's risky rate and energy, and Jain's fairness index of energy and
    of risk across vehicles."""
    if not per_vehicle:
        raise ValueError("fleet KPIs of no vehicles")
    energy = [k["energy_per_frame_mj"] for k in per_vehicle]
    risky = [k["risky_rate"] for k in per_vehicle]
    return {
        "fleet_energy_per_frame_mj": float(np.mean(energy)),
        "fleet_risky_rate": float(np.mean(risky)),
        "fleet_miss_rate": float(np.mean([k["deadline_miss_rate"] for k in per_vehicle])),
        "worst_vehicle_risky_rate": float(np.max(risky)),
        "worst_vehicle_energy_per_frame_mj": float(np.max(energy)),
        "jain_energy": jain_index(energy),
        "jain_risk": jain_index(risky),
        "fleet_offload_fraction": float(np.mean([k["offload_fraction"] for k in per_vehicle])),
    }
