"""The discrete-event simulator of one vehicle, its links and the edge server (SimPy).

Per perception cycle (every ``period_ms``) a frame is captured and an operating mode chosen
for it. Its life:

1. it waits for the vehicle accelerator (one SimPy ``Resource``, FIFO) and holds it while it
   runs, first everything the payload needs (bottleneck heads, compressors, local prefixes of
   tail splits), then the purely local stems and branches;
2. as soon as the prefix is done the payload joins the uplink's FIFO; the transfer ends when
   the integral of the uplink capacity reaches its size; a one-way delay of RTT/2 follows;
3. the request joins the edge server's FCFS queue (shared with background tenants), is served,
   and the detections come back over the downlink plus RTT/2;
4. when both the local and the remote parts are done, weighted box fusion (``fusion_ms`` on
   the CPU) yields the frame's detections.

Frames overlap: frame n+1 can compute while frame n uploads. A frame still unfinished
``abandon_after_ms`` after capture (default: its deadline) is abandoned: its queued or
running work is cancelled (accelerator, uplink, downlink; a server request that has not
started leaves the queue). So every frame resolves, met or missed, by capture + abandon time,
and frames in always equals frames recorded.

Deadlines are per frame (``deadlines``: fixed, from the scene, or from the vehicle's speed on a
recorded drive), fixed at capture. An offloading frame may carry a **local fallback**
(:mod:`romanus.sim.actions`): if its results (and its own vehicle work) are not done by its
fallback time, its remote part is cancelled there (what was sent is wasted) and the vehicle runs
a tier robust enough for the scene itself (``fallback.tier``). The accelerator is a preemptive
priority resource: fallbacks run earliest deadline first and preempt the frames' ordinary work,
which runs FIFO in capture order and resumes where it was preempted. The just-in-time fallback
time is the deadline minus fusion, the fallback's vehicle time, a margin and the fallbacks of
earlier deadlines still pending, so a fallback that triggers finishes in time unless a fallback
of an earlier deadline armed later preempts it (possible only with dynamic deadlines; it is then
a miss like any other).

The accelerator queue, the frame processes and the clock are SimPy's. The uplink and
downlink are FIFO: a transfer's end is computed when it joins them, exactly, from the
capacity integral, instead of being stepped through. A request joins the server's FCFS queue
by a SimPy event at its arrival (so requests enter in time order even when RTTs reorder
them) and the server answers from its exact workload recursion; another event at the end of
service sends the results down.

Exogenous randomness flows from one seed through one generator per stream
(:class:`romanus.rng.SeedPlan`); per-frame draws (RTT, service jitter) are indexed by frame
number, so a policy's choices never shift what the world does later.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import simpy

from romanus.config import Preset
from romanus.pipeline.modes import ModeCatalogue
from romanus.pipeline.profile import PipelineProfile
from romanus.rng import SeedPlan
from romanus.sim.actions import NO_FALLBACK, ActionTable
from romanus.sim.costs import EnergyModel, ModeCosts
from romanus.sim.link import CapacitySeries
from romanus.sim.radio import Radio
from romanus.sim.records import FrameLog, FrameRecord
from romanus.sim.server import EdgeServer, ServerReport
from romanus.sim.world import HorizonError, World, synthetic_world

__all__ = ["LOOKBACK_S", "Decision", "Prediction", "Simulator", "build_catalogue", "past_rate", "past_rates"]

#: the furthest back (s) a policy or an observation may read the link history
LOOKBACK_S = 5.0
#: events this close after a decision time (s) belong to it: absorbs float rounding of times
_TIME_EPS = 1e-9
#: accelerator priority of a frame's ordinary work (plus its frame number: FIFO in capture
#: order); a fallback's priority is its absolute deadline in microseconds, always smaller
_ORDINARY = 10**18


def build_catalogue(preset: Preset) -> ModeCatalogue:
    """The operating-mode catalogue of a preset (derive once, share between simulators)."""
    profile = PipelineProfile(preset.pipeline, preset.server.speedup, server_profile=preset.server.profile)
    return ModeCatalogue(preset.pipeline, profile)


class Decision(NamedTuple):
    """A decision point: the frame about to be captured, when, in which scene, and its
    deadline (what the vehicle's views are built around, :mod:`romanus.vehicle`)."""

    frame: int
    time_s: float
    scene: int
    deadline_ms: float


def past_rate(series: CapacitySeries, now: float, window_s: float) -> float:
    """Mean capacity (Mbit/s) over the last ``window_s`` before ``now`` (what a modem measures);
    before ``window_s`` has passed, over what has been measured since the start."""
    t0 = now - window_s
    if t0 < 0.0:
        return series.rate(0.0) if now <= 0.0 else series.mean_rate(0.0, now)
    return series.mean_rate(t0, now)


def past_rates(series: CapacitySeries, now: float, windows_s: tuple[float, ...]) -> list[float]:
    """:func:`past_rate` over several windows, the capacity integral up to ``now`` read once."""
    if now <= 0.0:
        return [series.rate(0.0)] * len(windows_s)
    here = series.integral(now)
    out = []
    for w in windows_s:
        t0 = now - w
        if t0 < 0.0:
            t0 = 0.0
        out.append((here - series.integral(t0)) / (now - t0))  # as CapacitySeries.mean_rate
    return out


class Prediction(NamedTuple):
    """A frame's outcome as :meth:`Simulator.predict` foresees it."""

    latency_ms: float
    deadline_met: bool
    completed: bool
    compute_mj: float
    radio_mj: float
    risky: bool
    fell_back: bool = False


class Simulator:
    """One vehicle driving one preset's world from one seed.

    Drive it frame by frame (``decision()`` then ``step(mode)``), or under a policy with
    :func:`romanus.vehicle.drive`. ``stream_seeds`` re-seeds individual exogenous streams; ``world`` replaces
    the generated world with another (a recorded scenario's).
    """

    def __init__(
        self,
        preset: Preset,
        seed: int = 0,
        *,
        stream_seeds: Mapping[str, int] | None = None,
        catalogue: ModeCatalogue | None = None,
        keep_records: bool = True,
        world: World | None = None,
    ) -> None:
        self.preset = preset
        self.seeds = SeedPlan(seed, stream_seeds)
        self.catalogue = catalogue if catalogue is not None else build_catalogue(preset)
        cat = self.catalogue
        self.env = simpy.Environment()
        #: the vehicle accelerator: ordinary work FIFO, fallbacks earliest deadline first, preempting
        self._acc = simpy.PreemptiveResource(self.env, capacity=1)
        self.period_s = preset.period_ms / 1000.0
        self._period_ms = preset.period_ms
        self._abandon_s = preset.abandon_ms / 1000.0  # the longest (sizes the history kept)
        self._abandon_after_ms = preset.abandon_after_ms
        self._deadline_ms = preset.deadline_ms
        self._fusion_s = preset.pipeline.fusion_ms / 1000.0
        dl = preset.deadlines
        self._deadline_model = dl.model
        self._scene_deadline_ms = [
            dl.scene_ms.get(name, preset.deadline_ms) if dl.model == "scene" else preset.deadline_ms
            for name in cat.scenes
        ]
        self._budget_m, self._min_deadline_ms, self._max_deadline_ms = dl.budget_m, dl.min_ms, dl.max_ms
        #: the actions a policy may pick: modes, and offloading modes with a fallback option
        self.actions = ActionTable(cat, preset.fallback.options_ms, preset.fallback.tier)
        self._action_mode = self.actions.mode_list
        self._action_option = self.actions.fallback_list
        self._fb_early_s = [e / 1000.0 for e in preset.fallback.options_ms]
        self._fb_margin_ms = preset.fallback.margin_ms
        #: per scene: the fallback's mode (``fallback.tier``, on the vehicle) and its work (s)
        self._fb_mode = self.actions.fallback_mode
        self.energy = EnergyModel(preset)
        self.costs = costs = ModeCosts(cat, self.energy)
        # per-mode costs in seconds / Mbit, as plain lists for the hot path
        self._prefix = costs.prefix_s
        self._local = costs.local_s
        self._up_mbit = costs.up_mbit_list
        self._down_mbit = costs.down_mbit_list
        self._server_s = costs.server_s
        self._offloads = costs.offloads_list
        self._robust_ok = costs.robust_ok_list
        self._robustness = cat.robustness.tolist()
        self._fb_work_s = [self._local[m] for m in self._fb_mode]
        #: modes that can run (offloading ones need an edge server)
        self.mask = cat.mask(server_available=preset.server.enabled)
        self._mask_list = self.mask.tolist()
        # the exogenous world: generated from the seed, or a recording of one
        self.world = world if world is not None else synthetic_world(preset, self.seeds, cat.scenes)
        w = self.world
        self.scene = w.scene
        self.uplink = w.uplink
        self.downlink = w.downlink
        self._rtt = w.rtt_s
        self._jitter = w.jitter
        self._horizon_s = w.horizon_s
        #: the drive's context (speed, position, modem KPIs), None in a synthetic world
        self._place = getattr(w, "place", None)
        if self._deadline_model == "speed" and self._place is None:
            raise ValueError(
                "deadlines.model is 'speed' but this world has no speed (a synthetic world): "
                "record the scenario from a drive, or use deadlines.model 'fixed' or 'scene'"
            )
        #: the modem's RRC states (romanus.sim.radio)
        self.radio = Radio(self.energy, keep_history=keep_records)
        # state energy of a frame period [capture n, capture n+1) is known when it closes
        # (end of step n): closed periods whose frame has not resolved yet, and resolved
        # frames whose period has not closed yet
        self._closed_mj: dict[int, float] = {}
        self._unclosed: dict[int, tuple[Any, ...]] = {}
        self.server: EdgeServer | None = None
        if preset.server.enabled:
            if w.background is None:
                raise ValueError("the preset has an edge server but the world has no background requests for it")
            self.server = EdgeServer(preset.server, w.background)
        # state
        self._acc_free = 0.0  # when the accelerator will have run everything started (as known now)
        self._last_abandon = 0.0  # latest abandon time of the frames started
        #: fallbacks armed or running: frame -> [fallback time, work s left, absolute deadline]
        self._armed: dict[int, list[float]] = {}
        self._fb_frame = -1  # the frame whose fallback times are cached
        self._fb_times: list[float | None] = []
        self._up_free = 0.0
        self._down_free = 0.0
        self.frames_started = 0
        self.frames_finished = 0
        self.busy_s = 0.0
        self._keep = keep_records
        #: radio state energy of a record streamed out before it was known (the final tail)
        self.unattributed_state_mj = 0.0
        self.records: list[FrameRecord] = []
        self._fresh: list[FrameRecord] = []
        self.last_record: FrameRecord | None = None
        #: RTT (ms) measured by the newest response received, and when it was received (s)
        self.last_rtt_ms = 0.0
        self.last_rtt_at_s = -math.inf
        #: exponentially weighted mean of measured RTTs (weight 0.2 on the newest); None before any
        self.rtt_ewma_ms: float | None = None
        #: transport-layer RTT measurements: (time the ACK of an offloaded payload reaches the
        #: vehicle = uplink end + RTT, RTT ms), for every payload that got through, whether or
        #: not its results came back in time (so a late frame still tells the vehicle its RTT)
        self._acks: deque[tuple[float, float]] = deque()
        #: the server's queueing delay of our own requests, as the vehicle learns it when the
        #: frame resolves (the server reports it with the result, or with the cancellation of a
        #: request still queued at abandonment, a lower bound): (time learnt, wait ms)
        self._waits: deque[tuple[float, float]] = deque()
        # History kept behind the clock: every window policies and observations read (at most
        # LOOKBACK_S), every transfer still running (at most the abandon time), with a margin.
        self._lookback_s = max(preset.estimate_window_ms / 1000.0, self._abandon_s, LOOKBACK_S) + 1.0
        self._estimate_s = preset.estimate_window_ms / 1000.0

    # -- measurement available to the vehicle ------------------------------------------------

    def uplink_estimate_mbps(self, now: float) -> float:
        """Mean uplink capacity over the last estimate window before ``now``."""
        return past_rate(self.uplink, now, self._estimate_s)

    def radio_state(self, now: float) -> tuple[int, float]:
        """(RRC state, seconds since the last transfer) at ``now`` (romanus.sim.radio)."""
        return self.radio.state_at(now)

    def server_report(self, now: float) -> ServerReport | None:
        return None if self.server is None else self.server.report(now)

    def accelerator_backlog_s(self, now: float) -> float:
        """Compute already queued on the accelerator at ``now`` (the vehicle's own queue)."""
        return self._acc_free - now if self._acc_free > now else 0.0

    def uplink_backlog_s(self, now: float) -> float:
        """Time until the uplink has sent everything queued so far."""
        return self._up_free - now if self._up_free > now else 0.0

    @property
    def frames_in_flight(self) -> int:
        return self.frames_started - self.frames_finished

    # -- driving ---------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.env.now

    @property
    def next_capture_s(self) -> float:
        return self.capture_s(self.frames_started)

    def capture_s(self, n: int) -> float:
        """Capture time of frame ``n`` (computed in ms, so that a frame abandoned after one
        period resolves at exactly the next capture)."""
        return n * self._period_ms / 1000.0

    def deadline_ms_at(self, t: float, scene: int) -> float:
        """The deadline (ms) of a frame captured at ``t`` in ``scene`` (``deadlines``)."""
        model = self._deadline_model
        if model == "fixed":
            return self._deadline_ms
        if model == "scene":
            return self._scene_deadline_ms[scene]
        v = self._place.speed_mps(t)  # type: ignore[union-attr]  # checked at construction
        d = self._budget_m / v * 1000.0 if v > 0.0 else math.inf
        return min(max(d, self._min_deadline_ms), self._max_deadline_ms)

    def frame_deadline_ms(self, n: int) -> float:
        """Frame ``n``'s deadline (ms)."""
        t = self.capture_s(n)
        return self.deadline_ms_at(t, self.scene.at(t))

    def _abandon_ms_of(self, deadline_ms: float) -> float:
        return deadline_ms if self._abandon_after_ms is None else self._abandon_after_ms

    def abandon_s(self, n: int, deadline_ms: float | None = None) -> float:
        """When frame ``n`` (with ``deadline_ms``, default its own) is abandoned (computed in ms,
        so that a frame abandoned after one period resolves at exactly the next capture)."""
        d = self.frame_deadline_ms(n) if deadline_ms is None else deadline_ms
        return (n * self._period_ms + self._abandon_ms_of(d)) / 1000.0

    def fallback_times(self) -> list[float | None]:
        """Per fallback option (1 .. K), the fallback time (s) of the frame about to be
        captured, or None where a fallback from it could not finish by the deadline.

        Just in time = capture + deadline - fusion - margin - the fallback's vehicle time;
        option k is ``fallback.options_ms[k - 1]`` earlier. Fallbacks armed for earlier frames
        with an earlier or equal deadline run first (earliest deadline first): if, all of them
        triggering, they would still hold the accelerator at the just-in-time time, no option
        is feasible (a guarantee, not an estimate)."""
        n = self.frames_started
        if n == self._fb_frame:
            return self._fb_times
        if not self._fb_early_s:
            times: list[float | None] = []
        else:
            t = self.capture_s(n)
            scene = self.scene.at(t)
            deadline_ms = self.deadline_ms_at(t, scene)
            due = t + deadline_ms / 1000.0
            jit = t + (deadline_ms - self._fb_margin_ms) / 1000.0 - self._fusion_s - self._fb_work_s[scene]
            # Fallbacks of earlier (or equal) deadlines run first (EDF): if every one of them
            # triggers, the accelerator is theirs until ``cursor``; ours must start after.
            cursor = -math.inf
            for at, work, d in sorted(self._armed.values()):
                if d <= due:
                    cursor = (cursor if cursor > at else at) + work
            times = [jit - e if jit - e >= t and cursor <= jit else None for e in self._fb_early_s]
        self._fb_frame, self._fb_times = n, times
        return times

    def action_mask(self) -> np.ndarray:
        """The actions that can run for the frame about to be captured: the modes of
        :attr:`mask`, and their fallback options whose fallback can finish in time."""
        mask = self.mask[self.actions.mode]
        if self.actions.has_fallback:
            feasible = [True] + [t is not None for t in self.fallback_times()]
            mask &= np.asarray(feasible)[self.actions.fallback]
        return mask

    def _advance(self, t: float) -> None:
        """Process every event up to and including time ``t``, then set the clock to ``t``.

        Events within a nanosecond after ``t`` count as at ``t``: SimPy computes an event's
        time as ``now + delay``, which can land one rounding step after the time meant."""
        env = self.env
        peek, step = env.peek, env.step
        limit = t + _TIME_EPS
        while peek() <= limit:
            step()
        # Equivalent to env.run(until=t) without its per-call stop event and exception, which
        # would cost more than a frame's own events. Nothing is queued before ``limit``, so
        # setting the clock to ``t`` (even a rounding step back) reorders nothing.
        env._now = t

    def decision(self) -> Decision:
        """Advance to the next capture and say which frame is to be decided (the vehicle's
        views of it are built by :mod:`romanus.vehicle`)."""
        t = self.next_capture_s
        self._advance(t)
        scene = self.scene.at(t)
        return Decision(self.frames_started, t, scene, self.deadline_ms_at(t, scene))

    def step(self, action: int) -> list[FrameRecord]:
        """Start the next frame with ``action`` (a mode index, or an offloading mode with a
        fallback option: :attr:`actions`) and run to the following capture.

        Returns the frames that resolved (met or missed) in that interval.
        """
        n = self.frames_started
        t = self.capture_s(n)
        self._start(n, t, action, advance=True)
        t_next = self.capture_s(self.frames_started)
        self._advance(t_next)
        return self._close(n, t, t_next)

    def _start(self, n: int, t: float, action: int, *, advance: bool, who: str = "") -> None:
        """Start frame ``n``, captured at ``t``, with ``action`` (validated; errors start with
        ``who``); ``advance``: first bring the clock to ``t`` (a fleet advances it itself)."""
        action = int(action)
        if not 0 <= action < len(self._action_mode):
            raise ValueError(f"{who}action {action} is outside the action table (0..{len(self._action_mode) - 1})")
        mode, option = self._action_mode[action], self._action_option[action]
        if not self._mask_list[mode]:
            name = self.catalogue.modes[mode].name
            raise ValueError(f"{who}mode {mode} ({name}) is masked: it offloads and no edge server is available")
        scene = self.scene.at(t)
        deadline_ms = self.deadline_ms_at(t, scene)
        abandon = self.abandon_s(n, deadline_ms)
        if abandon > self._horizon_s:
            raise HorizonError(
                f"the world ends at {self._horizon_s:g} s: frame {n} (captured at {t:g} s) cannot resolve in it"
            )
        fb_at: float | None = None
        if option != NO_FALLBACK:
            fb_at = self.fallback_times()[option - 1]
            if fb_at is None:
                raise ValueError(
                    f"{who}action {action} ({self.actions.name(action)}) is masked: its fallback cannot finish by "
                    f"the deadline of frame {n} ({deadline_ms:g} ms)"
                )
            self._armed[n] = [fb_at, self._fb_work_s[scene], t + deadline_ms / 1000.0]
        if advance and (self.env.now != t or self.env.peek() <= t + _TIME_EPS):
            self._advance(t)
        self.env.process(self._frame(n, t, abandon, deadline_ms, mode, scene, option, fb_at))
        if abandon > self._last_abandon:
            self._last_abandon = abandon
        # Ordinary work is FIFO, so the vehicle knows when it will have run this frame (unless a
        # fallback preempts it).
        cut = abandon if fb_at is None else fb_at
        start = t if t > self._acc_free else self._acc_free
        if start < cut:
            end = start + self._prefix[mode] + self._local[mode]
            self._acc_free = end if end < cut else cut
        self.frames_started += 1

    def _close(self, n: int, t: float, t_next: float) -> list[FrameRecord]:
        """Frame ``n``'s period [t, t_next) is over (the clock is at ``t_next``): hand it its
        share of the radio's state energy, trim the histories; the frames resolved since."""
        state_mj = self.radio.state_mj(t, t_next)
        fields = self._unclosed.pop(n, None)
        if fields is None:
            self._closed_mj[n] = state_mj
        else:
            self._emit(fields, state_mj)
        old = t - self._lookback_s
        for q in (self._acks, self._waits):
            while q and q[0][0] < old:  # read at most LOOKBACK_S back
                q.popleft()
        if n % 1024 == 0:
            self._forget(t - self._lookback_s)
        fresh, self._fresh = self._fresh, []
        return fresh

    def drain(self) -> list[FrameRecord]:
        """Run until every started frame has resolved; returns the frames that resolved."""
        if self.frames_started:
            self._advance(self._last_abandon)
        return self._final_tail()

    def _final_tail(self) -> list[FrameRecord]:
        """After the last frame resolved: its period lasts until the radio is idle (the final
        tail); the frames resolved since the last step."""
        if self.frames_started:
            t = self.capture_s(self.frames_started)
            extra = self.radio.state_mj(t, max(t, self.radio.idle_from()))
            if extra > 0.0:
                self._add_state_mj(self.frames_started - 1, extra)
        assert self.frames_finished == self.frames_started
        fresh, self._fresh = self._fresh, []
        return fresh

    def _add_state_mj(self, frame: int, extra_mj: float) -> None:
        """Add radio state energy to an emitted record (the last frame's final tail). A record
        already handed out by :meth:`step` and not kept cannot change: its share is added to
        :attr:`unattributed_state_mj` for whoever streams the records."""
        in_fresh = False
        for rows in (self._fresh, self.records):
            for i in range(len(rows) - 1, -1, -1):
                r = rows[i]
                if r.frame == frame:
                    rows[i] = r._replace(radio_mj=r.radio_mj + extra_mj, radio_state_mj=r.radio_state_mj + extra_mj)
                    in_fresh = in_fresh or rows is self._fresh
                    break
        if not in_fresh:
            self.unattributed_state_mj += extra_mj
        last = self.last_record
        if last is not None and last.frame == frame:
            self.last_record = last._replace(
                radio_mj=last.radio_mj + extra_mj, radio_state_mj=last.radio_state_mj + extra_mj
            )

    def _emit(self, fields: tuple[Any, ...], state_mj: float) -> None:
        """Record a resolved frame whose period has closed: ``fields`` are its record's without
        ``radio_state_mj`` (``radio_mj`` holding the transfer energy alone)."""
        rec = _make_record((*fields[:8], fields[8] + state_mj, *fields[9:16], state_mj, *fields[16:]))
        self.last_record = rec
        self._fresh.append(rec)
        if self._keep:
            self.records.append(rec)

    def log(self) -> FrameLog:
        """The records so far, with the run's idle energy over the simulated time."""
        duration = max(self.env.now, self.capture_s(self.frames_started))
        idle_mj = self.energy.idle_mj(max(0.0, duration - self.busy_s))
        return FrameLog(self.records, idle_mj=idle_mj, duration_s=duration)

    def acked_rtts_ms(self, after_s: float, now: float) -> list[float]:
        """RTTs (ms) of the payload ACKs that reached the vehicle in (after_s, now]
        (kept for :data:`LOOKBACK_S`)."""
        return [rtt for t, rtt in self._acks if after_s < t <= now + _TIME_EPS]

    def server_waits_ms(self, after_s: float, now: float) -> list[float]:
        """Queueing delays (ms) the server reported for our requests, learnt in (after_s, now]
        (kept for :data:`LOOKBACK_S`)."""
        return [w for t, w in self._waits if after_s < t <= now + _TIME_EPS]

    def _forget(self, t: float) -> None:
        if t > 0:
            self.uplink.forget_before(t)
            self.downlink.forget_before(t)
            self.scene.forget_before(t)

    # -- one frame ------------------------------------------------------------------------------

    def _outcome(
        self, t_cap: float, local_end: float, remote: float, abandon: float, deadline_ms: float
    ) -> tuple[float, bool, bool, float]:
        """(time the frame resolves, completed, deadline met, latency ms)."""
        done = (max(local_end, remote) + self._fusion_s) if local_end <= abandon else math.inf
        completed = done <= abandon
        t_final = done if completed else abandon
        # An abandoned frame's latency is censored at exactly the abandon time.
        latency_ms = (t_final - t_cap) * 1000.0 if completed else self._abandon_ms_of(deadline_ms)
        return t_final, completed, completed and latency_ms <= deadline_ms, latency_ms

    def predict(self, mode: int, option: int = NO_FALLBACK) -> Prediction:
        """What the frame about to be captured would do in ``mode`` (with fallback ``option``),
        computed from the current state and the world's future (the world is deterministic).
        Nothing is booked.

        Exact when every earlier frame has resolved by the capture (the default, where the
        abandon time equals the period); otherwise earlier frames whose payload is not ready
        yet have not booked the uplink and server, and the prediction ignores them there (and
        the fallbacks they may still trigger).
        The latency includes any promotion the radio needs first; ``radio_mj`` is the transfer
        energy plus the marginal state energy of offloading now
        (:meth:`EnergyModel.offload_state_mj`), the same per-frame price the estimators use.
        """
        n = self.frames_started
        t = self.capture_s(n)
        scene = self.scene.at(t)
        deadline_ms = self.deadline_ms_at(t, scene)
        abandon = self.abandon_s(n, deadline_ms)
        fb_at = None if option == NO_FALLBACK else self.fallback_times()[option - 1]
        if option != NO_FALLBACK and fb_at is None:
            raise ValueError(f"fallback option {option} cannot finish by the deadline of frame {n}")
        cut = abandon if fb_at is None else fb_at
        start = t if t > self._acc_free else self._acc_free
        prefix, local = self._prefix[mode], self._local[mode]
        local_end = start + prefix + local
        busy_end = min(local_end, cut) if start < cut else start
        remote = radio = 0.0
        if self._offloads[mode]:
            remote = math.inf
            ready = start + prefix
            if ready < cut:
                arrive, radio, _ = self._uplink_leg(n, mode, ready, cut, commit=False)
                if arrive < cut and self.server is not None:
                    res = self.server.peek(arrive, self._server_s[mode] * self._jitter[n], cut)
                    if res is not None:
                        remote, radio_down = self._downlink_leg(mode, res[1], cut, self._rtt[n], commit=False)
                        radio += radio_down
            radio += self.energy.offload_state_mj(*self.radio.state_at(t))
        busy = busy_end - start
        if fb_at is not None and not (local_end <= fb_at and remote <= fb_at):
            end = fb_at + self._fb_work_s[scene]
            _, completed, met, latency_ms = self._outcome(t, end, 0.0, abandon, deadline_ms)
            compute = self.energy.compute_mj(busy + min(end, abandon) - fb_at)
            risky = not (met and self._robust_ok[self._fb_mode[scene]][scene])
            return Prediction(latency_ms, met, completed, compute, radio, risky, True)
        _, completed, met, latency_ms = self._outcome(t, local_end, remote, abandon, deadline_ms)
        compute = self.energy.compute_mj(busy)
        return Prediction(latency_ms, met, completed, compute, radio, not (met and self._robust_ok[mode][scene]))

    def _own_work(self, n: int, m: int, cut: float, trip_box: list[Any]):  # type: ignore[no-untyped-def]
        """Frame ``n``'s ordinary work in mode ``m``: the prefix its payload needs (then the
        payload is booked on the uplink: :meth:`_send`), then its purely local work, FIFO in
        capture order, resuming where a fallback preempted it, cut at ``cut``. Returns (when
        the work is done, a time after ``cut`` (its planned end, or inf) if it was cut; busy s)."""
        env = self.env
        key = _ORDINARY + n
        req = self._acc.request(priority=key, preempt=False)
        yield req
        start = env.now
        prefix, local = self._prefix[m], self._local[m]
        planned_end = start + prefix + local
        send = self._offloads[m]
        if not send and start < cut:  # the common case: one stretch of work
            end = planned_end if planned_end < cut else cut
            try:
                yield env.timeout(end - start)
            except simpy.Interrupt:
                pass
            else:
                self._acc.release(req)
                return planned_end, end - start
            # preempted: carry on below with what is left
            done_work = env.now - start
        else:
            done_work = 0.0
            if start >= cut:
                self._acc.release(req)
                return math.inf, 0.0
            end = start + prefix
            stop = end if end < cut else cut
            interrupted = False
            try:
                yield env.timeout(stop - start)
            except simpy.Interrupt:
                interrupted = True
            if not interrupted:
                if stop == end:  # the payload is ready
                    self._send(n, m, end, cut, trip_box)
                    send = False
                    if local <= 0.0:
                        self._acc.release(req)
                        return planned_end, end - start
                    stop2 = planned_end if planned_end < cut else cut
                    try:
                        yield env.timeout(stop2 - env.now)
                    except simpy.Interrupt:
                        done_work = env.now - start
                    else:
                        self._acc.release(req)
                        return planned_end, stop2 - start
                else:  # cut before the payload was ready
                    self._acc.release(req)
                    return math.inf, stop - start
            else:
                done_work = env.now - start
        # Preempted by a fallback: resume in turn (first among ordinary work), to the end.
        busy = done_work
        while True:
            req = self._acc.request(priority=key, preempt=False)
            yield req
            begin = env.now
            if begin >= cut:
                self._acc.release(req)
                return math.inf, busy
            goal = prefix if send else prefix + local
            stop = begin + (goal - done_work)
            if stop > cut:
                stop = cut
            try:
                yield env.timeout(stop - begin)
            except simpy.Interrupt:
                busy += env.now - begin
                done_work += env.now - begin
                continue
            busy += stop - begin
            done_work += stop - begin
            if stop >= cut and done_work < goal - 1e-12:
                self._acc.release(req)
                return math.inf, busy
            if send:
                self._send(n, m, stop, cut, trip_box)
                send = False
                if local > 0.0:
                    # keep the accelerator: the local work follows at once
                    stop2 = stop + local if stop + local < cut else cut
                    try:
                        yield env.timeout(stop2 - stop)
                    except simpy.Interrupt:
                        busy += env.now - stop
                        done_work += env.now - stop
                        continue
                    busy += stop2 - stop
                    done_work += stop2 - stop
                    stop = stop2
                    if stop >= cut and done_work < prefix + local - 1e-12:
                        self._acc.release(req)
                        return math.inf, busy
            self._acc.release(req)
            return stop, busy

    def _send(self, n: int, m: int, ready: float, cut: float, trip_box: list[Any]) -> None:
        """Frame ``n``'s payload is ready at ``ready`` (now): it joins the uplink; the request
        will join the server's queue when it arrives (``trip_box`` receives the :class:`_Trip`
        and the leg's (radio mJ, bytes sent, RTT ms))."""
        arrive, radio, sent = self._uplink_leg(n, m, ready, cut, commit=True)
        rtt_ms = 0.0
        if arrive != math.inf:
            rtt_ms = self._rtt[n] * 1000.0
            self._acks.append((arrive + self._rtt[n] / 2.0, rtt_ms))
        trip = None
        if arrive < cut and self.server is not None:
            # The request reaches the server later: join its queue then, in time order.
            trip = _Trip(n, m, cut, arrive, self.env.event())
            self.env.timeout(arrive - self.env.now).callbacks.append(partial(self._at_server, trip))
        trip_box[:] = [trip, radio, sent, rtt_ms]

    def _trip_outcome(
        self, trip: _Trip, radio_mj: float, sent: int, rtt_ms: float
    ) -> tuple[float, int, float, float | None]:
        """A finished trip's (radio transfer mJ, bytes sent, RTT ms, server wait ms or None if
        the request never reached the server), given what the uplink leg booked when the
        payload was sent (:meth:`_send`; a fleet vehicle learns them from the cell instead)."""
        return radio_mj + trip.radio_mj, sent, rtt_ms, trip.wait_ms

    def _fallback_work(self, key: int, work_s: float, until: float):  # type: ignore[no-untyped-def]
        """A fallback's work at priority ``key`` (its absolute deadline: earliest deadline
        first), preempting ordinary work, not past ``until``: (end or inf if cut, busy s)."""
        env = self.env
        left, busy = work_s, 0.0
        while True:
            req = self._acc.request(priority=key, preempt=True)
            yield req
            begin = env.now
            if begin >= until:
                self._acc.release(req)
                return math.inf, busy
            end = begin + left
            stop = end if end < until else until
            try:
                yield env.timeout(stop - begin)
            except simpy.Interrupt:  # a fallback of an earlier deadline
                busy += env.now - begin
                left -= env.now - begin
                continue
            self._acc.release(req)
            busy += stop - begin
            return (end if end <= until else math.inf), busy

    def _frame(  # type: ignore[no-untyped-def]
        self,
        n: int,
        t_cap: float,
        abandon: float,
        deadline_ms: float,
        m: int,
        scene: int,
        option: int,
        fb_at: float | None,
    ):
        env = self.env
        cut = abandon if fb_at is None else fb_at
        box: list[Any] = [None, 0.0, 0, 0.0]
        local_end, busy = yield from self._own_work(n, m, cut, box)
        trip, radio, sent, rtt_ms = box
        remote = math.inf if self._offloads[m] else 0.0
        wait_ms = 0.0
        if trip is not None:
            remote = yield trip.done
            radio, sent, rtt_ms, waited = self._trip_outcome(trip, radio, sent, rtt_ms)
            if waited is not None:
                wait_ms = waited
                # learnt with the result (or the cancellation notice), not before
                self._waits.append((remote if remote != math.inf else env.now + self._rtt[n] / 2.0, wait_ms))
        fell_back = fb_at is not None and not (local_end <= fb_at and remote <= fb_at)
        wasted = 0.0
        robust_mode = m
        if fell_back:
            assert fb_at is not None
            # the late result is discarded: what the attempt cost is wasted
            wasted = radio + self.energy.compute_mj(busy)
            if env.now < fb_at:
                yield env.timeout(fb_at - env.now)
            armed = self._armed[n]
            now = env.now
            self._acc_free = (self._acc_free if self._acc_free > now else now) + armed[1]
            local_end, fb_busy = yield from self._fallback_work(round(armed[2] * 1e6), armed[1], abandon)
            busy += fb_busy
            remote = 0.0
            robust_mode = self._fb_mode[scene]
        self._armed.pop(n, None)
        self.busy_s += busy
        t_final, completed, met, latency_ms = self._outcome(t_cap, local_end, remote, abandon, deadline_ms)
        if t_final > env.now:
            yield env.timeout(t_final - env.now)
        fields = (
            n,
            t_cap,
            m,
            scene,
            latency_ms,
            met,
            completed,
            self.energy.compute_mj(busy),
            radio,
            sent,
            self._offloads[m],
            self._robustness[robust_mode][scene],
            (not met) or not self._robust_ok[robust_mode][scene],
            wait_ms,
            rtt_ms,
            radio,
            deadline_ms,
            option,
            fell_back,
            wasted,
        )
        self.frames_finished += 1
        if 0.0 < remote <= abandon and not fell_back:  # the response arrived: the vehicle measured its RTT
            self.last_rtt_ms = rtt_ms
            self.last_rtt_at_s = remote
            self.rtt_ewma_ms = rtt_ms if self.rtt_ewma_ms is None else 0.8 * self.rtt_ewma_ms + 0.2 * rtt_ms
        state_mj = self._closed_mj.pop(n, None)
        if state_mj is None:
            self._unclosed[n] = fields  # recorded when its period closes (end of step n)
        else:
            self._emit(fields, state_mj)

    def _uplink_leg(self, n: int, m: int, ready: float, abandon: float, commit: bool) -> tuple[float, float, int]:
        """Frame ``n``'s payload joins the FIFO uplink at ``ready``: (arrival at the server or
        inf, radio transfer mJ, bytes sent). It goes on the air when the radio is connected
        (after a promotion if it was idle); a transfer still running at abandonment is
        cancelled."""
        size = self._up_mbit[m]
        t0 = ready if ready > self._up_free else self._up_free
        if t0 >= abandon:
            return math.inf, 0.0, 0
        radio = self.radio
        start = radio.begin(t0) if commit else radio.start_time(t0)
        if start >= abandon:  # still promoting at abandonment
            if commit:
                self._up_free = abandon
            return math.inf, 0.0, 0
        t1, carried = self.uplink.transfer(start, size, abandon)
        end, sent = (abandon, carried) if t1 == math.inf else (t1, size)
        overlap = radio.book(start, end) if commit else radio.overlap_s(start, end)
        energy = self.energy.uplink_mj(sent, end - start) - self.energy.shared_air_mj(overlap)
        if commit:
            self._up_free = end
        return (math.inf if t1 == math.inf else t1 + self._rtt[n] / 2.0), energy, round(sent / 8e-6)

    def _downlink_leg(self, m: int, server_end: float, abandon: float, rtt: float, commit: bool) -> tuple[float, float]:
        """The results leave the server at ``server_end`` over the FIFO downlink: (time they are
        on the vehicle or inf, radio transfer mJ). A prediction assumes the radio connected
        (its own uplink has just ended)."""
        d0 = server_end if server_end > self._down_free else self._down_free
        if d0 >= abandon:
            return math.inf, 0.0
        radio = self.radio
        start = radio.begin(d0) if commit else d0
        if start >= abandon:
            if commit:
                self._down_free = abandon
            return math.inf, 0.0
        d_size = self._down_mbit[m]
        d1, received = self.downlink.transfer(start, d_size, abandon)
        end, got = (abandon, received) if d1 == math.inf else (d1, d_size)
        overlap = radio.book(start, end) if commit else radio.overlap_s(start, end)
        energy = self.energy.downlink_mj(got, end - start) - self.energy.shared_air_mj(overlap)
        if commit:
            self._down_free = end
        return (math.inf if d1 == math.inf else d1 + rtt / 2.0), energy

    def _at_server(self, trip: _Trip, _event: object) -> None:
        """The request reaches the server (now): it joins the FCFS queue."""
        assert self.server is not None
        now = trip.arrive
        res = self.server.submit(now, self._server_s[trip.m] * self._jitter[trip.n], trip.abandon)
        if res is None:  # it would not start before abandonment: cancelled
            trip.wait_ms = (trip.abandon - now) * 1000.0
            trip.done.succeed(math.inf)
            return
        start, end = res
        trip.wait_ms = (start - now) * 1000.0
        if end >= trip.abandon:
            trip.done.succeed(math.inf)  # the results could not come back in time
            return
        self.env.timeout(end - self.env.now).callbacks.append(partial(self._at_result, trip))

    def _at_result(self, trip: _Trip, _event: object) -> None:
        """The server finished the request (now): the results take the downlink."""
        remote, trip.radio_mj = self._downlink_leg(trip.m, self.env.now, trip.abandon, self._rtt[trip.n], commit=True)
        trip.done.succeed(remote)


_make_record = FrameRecord._make


class _Trip:
    """An offloaded request on its way through the server and back."""

    __slots__ = ("abandon", "arrive", "done", "m", "n", "radio_mj", "wait_ms")

    def __init__(self, n: int, m: int, abandon: float, arrive: float, done: simpy.Event) -> None:
        self.n = n
        self.m = m
        self.abandon = abandon  # the remote part is cancelled then (the frame's abandon or fallback time)
        self.arrive = arrive  # when the request reaches the server
        self.done = done  # succeeds with the time the results are on the vehicle (inf: never)
        self.radio_mj = 0.0  # downlink energy
        self.wait_ms = 0.0
