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
``abandon_after_ms`` after capture (default: the deadline) is abandoned: its queued or
running work is cancelled (accelerator, uplink, downlink; a server request that has not
started leaves the queue). So every frame resolves, met or missed, by capture + abandon time,
and frames in always equals frames recorded.

The uplink, server and downlink are FIFO/FCFS, so a request's timeline on them is fully
determined when it joins them; it is computed then (exactly, from the capacity integral and
the server's workload recursion) instead of being stepped through SimPy events. The
accelerator queue, the frame processes and the clock are SimPy's.

Exogenous randomness flows from one seed through one generator per stream
(:class:`romanus.rng.SeedPlan`); per-frame draws (RTT, service jitter) are indexed by frame
number, so a policy's choices never shift what the world does later.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np
import simpy

from romanus.config import Preset
from romanus.pipeline.modes import ModeCatalogue
from romanus.pipeline.profile import PipelineProfile
from romanus.rng import SeedPlan
from romanus.sim.records import FrameLog, FrameRecord
from romanus.sim.server import EdgeServer, ServerReport
from romanus.sim.world import HorizonError, World, synthetic_world

__all__ = ["DecisionContext", "Policy", "Simulator", "build_catalogue"]


def build_catalogue(preset: Preset) -> ModeCatalogue:
    """The operating-mode catalogue of a preset (derive once, share between simulators)."""
    return ModeCatalogue(preset.pipeline, PipelineProfile(preset.pipeline, preset.server.speedup))


class DecisionContext:
    """What the vehicle knows when it picks the mode of the frame captured at ``time_s``.

    Everything here is measurable on the vehicle at that time: the scene (from its own
    perception), the uplink throughput over the last ``estimate_window_ms`` (modem
    measurement; never the future), delayed server telemetry, and past frames' outcomes.
    """

    __slots__ = ("_sim", "frame", "mask", "scene", "time_s")

    def __init__(self, sim: Simulator, frame: int, time_s: float, scene: int, mask: np.ndarray) -> None:
        self._sim = sim
        self.frame = frame
        self.time_s = time_s
        self.scene = scene
        self.mask = mask

    @property
    def catalogue(self) -> ModeCatalogue:
        return self._sim.catalogue

    @property
    def uplink_estimate_mbps(self) -> float:
        return self._sim.uplink_estimate_mbps(self.time_s)

    @property
    def server_report(self) -> ServerReport | None:
        return self._sim.server_report(self.time_s)

    @property
    def last_record(self) -> FrameRecord | None:
        return self._sim.last_record


class Policy(Protocol):
    name: str

    def act(self, ctx: DecisionContext) -> int: ...


class Simulator:
    """One vehicle driving one preset's world from one seed.

    Drive it frame by frame (``context()`` then ``step(mode)``), or all at once with
    :meth:`run`. ``stream_seeds`` re-seeds individual exogenous streams; ``world`` replaces
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
        self._acc = simpy.Resource(self.env, capacity=1)
        self.period_s = preset.period_ms / 1000.0
        self.deadline_s = preset.deadline_ms / 1000.0
        self._abandon_s = preset.abandon_ms / 1000.0
        self._abandon_ms = preset.abandon_ms
        self._deadline_ms = preset.deadline_ms
        self._fusion_s = preset.pipeline.fusion_ms / 1000.0
        self._active_w = preset.vehicle.active_power_w
        self._idle_w = preset.vehicle.idle_power_w
        self._alpha_up, self._alpha_down, self._beta = preset.radio.coefficients  # mW/Mbps, mW
        # per-mode costs in seconds / Mbit, as plain lists for the hot path
        self._prefix = [m.prefix_ms / 1000.0 for m in cat.modes]
        self._local = [m.local_ms / 1000.0 for m in cat.modes]
        self._up_mbit = [m.uplink_bytes * 8e-6 for m in cat.modes]
        self._down_mbit = [m.downlink_bytes * 8e-6 for m in cat.modes]
        self._server_s = [m.server_ms / 1000.0 for m in cat.modes]
        self._offloads = [m.offloaded for m in cat.modes]
        self._robust = cat.robustness.tolist()
        self._required = cat.required.tolist()
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
        self.server: EdgeServer | None = None
        if preset.server.enabled:
            if w.background is None:
                raise ValueError("the preset has an edge server but the world has no background requests for it")
            self.server = EdgeServer(preset.server, w.background)
        # state
        self._acc_free = 0.0  # when the accelerator's FIFO will have run everything started
        self._up_free = 0.0
        self._down_free = 0.0
        self.frames_started = 0
        self.frames_finished = 0
        self.busy_s = 0.0
        self._keep = keep_records
        self.records: list[FrameRecord] = []
        self._fresh: list[FrameRecord] = []
        self.last_record: FrameRecord | None = None
        #: RTT (ms) measured by the newest response received, and when it was received (s)
        self.last_rtt_ms = 0.0
        self.last_rtt_at_s = -math.inf
        self._lookback_s = max(preset.estimate_window_ms / 1000.0, self._abandon_s) + 1.0
        self._estimate_s = preset.estimate_window_ms / 1000.0

    # -- measurement available to the vehicle ------------------------------------------------

    def uplink_estimate_mbps(self, now: float) -> float:
        """Mean uplink capacity over the last estimate window before ``now``."""
        t0 = max(0.0, now - self._estimate_s)
        return self.uplink.mean_rate(t0, now) if now > t0 else self.uplink.rate(0.0)

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
        return self.frames_started * self.period_s

    def _advance(self, t: float) -> None:
        """Process every event up to and including time ``t``, then set the clock to ``t``."""
        env = self.env
        peek, step = env.peek, env.step
        while peek() <= t:
            step()
        # Equivalent to env.run(until=t) without its per-call stop event and exception, which
        # would cost more than a frame's own events; the queue holds nothing before t.
        if t > env.now:
            env._now = t

    def context(self) -> DecisionContext:
        """Advance to the next capture and describe it for the policy."""
        t = self.next_capture_s
        self._advance(t)
        return DecisionContext(self, self.frames_started, t, self.scene.at(t), self.mask)

    def step(self, mode: int) -> list[FrameRecord]:
        """Start the next frame in ``mode`` and run to the following capture.

        Returns the frames that resolved (met or missed) in that interval.
        """
        mode = int(mode)
        if not 0 <= mode < len(self._prefix):
            raise ValueError(f"mode {mode} is outside the catalogue (0..{len(self._prefix) - 1})")
        if not self._mask_list[mode]:
            name = self.catalogue.modes[mode].name
            raise ValueError(f"mode {mode} ({name}) is masked: it offloads and no edge server is available")
        n = self.frames_started
        t = n * self.period_s
        if t + self._abandon_s > self._horizon_s:
            raise HorizonError(
                f"the world ends at {self._horizon_s:g} s: frame {n} (captured at {t:g} s) cannot resolve in it"
            )
        if self.env.now < t or self.env.peek() <= t:
            self._advance(t)
        self.env.process(self._frame(n, t, mode, self.scene.at(t)))
        # The accelerator is FIFO, so the vehicle knows when it will have run this frame.
        start = t if t > self._acc_free else self._acc_free
        abandon = t + self._abandon_s
        if start < abandon:
            end = start + self._prefix[mode] + self._local[mode]
            self._acc_free = end if end < abandon else abandon
        self.frames_started += 1
        self._advance(self.frames_started * self.period_s)
        if n % 1024 == 0:
            self._forget(t - self._lookback_s)
        fresh, self._fresh = self._fresh, []
        return fresh

    def drain(self) -> list[FrameRecord]:
        """Run until every started frame has resolved; returns the frames that resolved."""
        if self.frames_started:
            self._advance((self.frames_started - 1) * self.period_s + self._abandon_s)
        assert self.frames_finished == self.frames_started
        fresh, self._fresh = self._fresh, []
        return fresh

    def run(self, policy: Policy, frames: int, progress: Callable[[int], None] | None = None) -> FrameLog:
        """Run ``frames`` perception cycles under ``policy``, then drain, and return the log."""
        for i in range(frames):
            self.step(policy.act(self.context()))
            if progress is not None and (i + 1) % 1000 == 0:
                progress(1000)
        self.drain()
        if progress is not None and frames % 1000:
            progress(frames % 1000)
        return self.log()

    def log(self) -> FrameLog:
        """The records so far, with the run's idle energy over the simulated time."""
        duration = max(self.env.now, self.frames_started * self.period_s)
        idle_mj = self._idle_w * max(0.0, duration - self.busy_s) * 1000.0
        return FrameLog(self.records, idle_mj=idle_mj, duration_s=duration)

    def _forget(self, t: float) -> None:
        if t > 0:
            self.uplink.forget_before(t)
            self.downlink.forget_before(t)
            self.scene.forget_before(t)

    # -- one frame ------------------------------------------------------------------------------

    def _frame(self, n: int, t_cap: float, m: int, scene: int):  # type: ignore[no-untyped-def]
        env = self.env
        abandon = t_cap + self._abandon_s
        req = self._acc.request()
        yield req
        start = env.now
        prefix, local = self._prefix[m], self._local[m]
        local_end = start + prefix + local
        busy_end = min(local_end, abandon) if start < abandon else start
        remote = 0.0
        radio = 0.0
        sent = 0
        wait_ms = rtt_ms = 0.0
        if self._offloads[m]:
            ready = start + prefix
            if ready < abandon:
                remote, radio, sent, wait_ms, rtt_ms = self._offload(n, m, ready, abandon)
            else:
                remote = math.inf
        busy = busy_end - start
        if busy > 0.0:
            yield env.timeout(busy)
        self._acc.release(req)
        self.busy_s += busy
        done = (max(local_end, remote) + self._fusion_s) if local_end <= abandon else math.inf
        completed = done <= abandon
        t_final = done if completed else abandon
        if t_final > env.now:
            yield env.timeout(t_final - env.now)
        # An abandoned frame's latency is censored at exactly the abandon time.
        latency_ms = (t_final - t_cap) * 1000.0 if completed else self._abandon_ms
        met = completed and latency_ms <= self._deadline_ms
        robustness = self._robust[m][scene]
        rec = FrameRecord(
            n,
            t_cap,
            m,
            scene,
            latency_ms,
            met,
            completed,
            self._active_w * busy * 1000.0,
            radio,
            sent,
            self._offloads[m],
            robustness,
            (not met) or robustness < self._required[scene] - 1e-9,
            wait_ms,
            rtt_ms,
        )
        self.frames_finished += 1
        if 0.0 < remote <= abandon:  # the response arrived: the vehicle measured its RTT
            self.last_rtt_ms = rtt_ms
            self.last_rtt_at_s = remote
        self.last_record = rec
        self._fresh.append(rec)
        if self._keep:
            self.records.append(rec)

    def _offload(self, n: int, m: int, ready: float, abandon: float) -> tuple[float, float, int, float, float]:
        """Uplink, server and downlink of frame ``n``'s request, computed when it joins them.

        Returns (time the results are on the vehicle or inf, radio mJ, bytes sent,
        server wait ms, rtt ms).
        """
        size = self._up_mbit[m]
        t0 = ready if ready > self._up_free else self._up_free
        if t0 >= abandon:
            return math.inf, 0.0, 0, 0.0, 0.0
        t1, carried = self.uplink.transfer(t0, size, abandon)
        if t1 == math.inf:  # cancelled mid-transfer at abandonment
            self._up_free = abandon
            return math.inf, self._alpha_up * carried + self._beta * (abandon - t0), round(carried / 8e-6), 0.0, 0.0
        self._up_free = t1
        radio = self._alpha_up * size + self._beta * (t1 - t0)
        sent = round(size / 8e-6)
        rtt = self._rtt[n]
        rtt_ms = rtt * 1000.0
        arrive = t1 + rtt / 2.0
        if arrive >= abandon or self.server is None:
            return math.inf, radio, sent, 0.0, rtt_ms
        res = self.server.submit(arrive, self._server_s[m] * self._jitter[n], abandon)
        if res is None:
            return math.inf, radio, sent, (abandon - arrive) * 1000.0, rtt_ms
        s_start, s_end = res
        wait_ms = (s_start - arrive) * 1000.0
        d0 = s_end if s_end > self._down_free else self._down_free
        if d0 >= abandon:
            return math.inf, radio, sent, wait_ms, rtt_ms
        d_size = self._down_mbit[m]
        d1, received = self.downlink.transfer(d0, d_size, abandon)
        if d1 == math.inf:
            self._down_free = abandon
            return math.inf, radio + self._alpha_down * received + self._beta * (abandon - d0), sent, wait_ms, rtt_ms
        self._down_free = d1
        radio += self._alpha_down * d_size + self._beta * (d1 - d0)
        return d1 + rtt / 2.0, radio, sent, wait_ms, rtt_ms
