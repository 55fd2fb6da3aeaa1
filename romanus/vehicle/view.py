"""What a policy may know when it picks a frame's mode: the vehicle's view and the oracle's.

:class:`VehicleView` offers everything measurable on the vehicle at decision time (its scene
classifier, its modem's throughput measurements of the past and its RRC state, its own queues,
the RTTs it measured, the newest delayed server telemetry, past frames' outcomes) and nothing
from the future. :class:`OracleView` adds the future (the true capacity now and ahead, the server's
true queue, the exact outcome of each mode): only the hindsight oracle and the ``oracle``
observation ask for it (``sees_future = True``), so the knowledge boundary is in the types.

:func:`next_view` advances a simulator to its next decision and builds the view a decider
asked for; :func:`drive` runs a policy for a number of frames.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from romanus.pipeline.modes import ModeCatalogue
from romanus.sim.actions import ActionTable
from romanus.sim.place import Place
from romanus.sim.records import FrameLog, FrameRecord, KpiAccumulator
from romanus.sim.server import ServerReport
from romanus.sim.simulator import Decision, Prediction, Simulator, past_rate, past_rates

__all__ = ["Decider", "OracleView", "VehicleView", "drive", "next_view"]


class VehicleView:
    """The vehicle's knowledge when it picks the mode of the frame captured at ``time_s``."""

    __slots__ = ("_action_mask", "_sim", "deadline_ms", "frame", "mask", "scene", "time_s")

    def __init__(self, sim: Simulator, decision: Decision) -> None:
        self._sim = sim
        #: the frame's number, capture time (s), scene and deadline (ms; from the driving context)
        self.frame, self.time_s, self.scene, self.deadline_ms = decision
        #: modes that can run (offloading ones need an edge server)
        self.mask: np.ndarray = sim.mask
        self._action_mask: np.ndarray | None = None

    @property
    def actions(self) -> ActionTable:
        """The action table: modes, and offloading modes with a fallback option."""
        return self._sim.actions

    @property
    def action_mask(self) -> np.ndarray:
        """The actions that can run now: :attr:`mask`'s modes, and fallback options that can
        finish by the deadline."""
        if self._action_mask is None:
            self._action_mask = self._sim.action_mask()
        return self._action_mask

    def fallback_times_ms(self) -> list[float | None]:
        """Per fallback option (1 .. K), its fallback time in ms after capture, or None where
        a fallback could not finish by the deadline (the vehicle knows its own accelerator)."""
        t = self.time_s
        return [None if f is None else (f - t) * 1000.0 for f in self._sim.fallback_times()]

    @property
    def catalogue(self) -> ModeCatalogue:
        return self._sim.catalogue

    # -- the link (modem measurements of the past) ------------------------------------------

    def uplink_mbps(self, window_s: float) -> float:
        """Mean uplink capacity over the last ``window_s`` (since the start while shorter)."""
        return past_rate(self._sim.uplink, self.time_s, window_s)

    def uplink_mbps_windows(self, windows_s: tuple[float, ...]) -> list[float]:
        """:meth:`uplink_mbps` over several windows at once."""
        return past_rates(self._sim.uplink, self.time_s, windows_s)

    def uplink_slot_mbps(self, window_s: float, slots: int) -> np.ndarray:
        """Mean uplink capacity in each of ``slots`` equal parts of the last ``window_s``, oldest
        first (the modem's throughput reports at a finer resolution); parts before the start
        of the run read the capacity at the start."""
        series = self._sim.uplink
        edges = np.maximum(self.time_s - window_s + window_s * np.arange(slots + 1) / slots, 0.0)
        done = [series.integral(float(t)) for t in edges]
        width = np.diff(edges)
        if (width > 0.0).all():
            return np.diff(done) / width
        with np.errstate(divide="ignore", invalid="ignore"):
            rates = np.diff(done) / width
        return np.where(width > 0.0, rates, series.rate(0.0))

    def downlink_mbps(self, window_s: float) -> float:
        """Mean downlink capacity over the last ``window_s`` (since the start while shorter)."""
        return past_rate(self._sim.downlink, self.time_s, window_s)

    @property
    def uplink_estimate_mbps(self) -> float:
        """Mean uplink capacity over the preset's ``estimate_window_ms``."""
        return self._sim.uplink_estimate_mbps(self.time_s)

    @property
    def rtt_estimate_ms(self) -> float | None:
        """Running mean of the RTTs the vehicle measured (None before the first response)."""
        return self._sim.rtt_ewma_ms

    @property
    def last_rtt_ms(self) -> float:
        """RTT of the newest response received (0 before any)."""
        return self._sim.last_rtt_ms

    @property
    def last_rtt_age_s(self) -> float:
        """Time since the newest response was received (inf before any)."""
        return self.time_s - self._sim.last_rtt_at_s

    def acked_rtts_ms(self, after_s: float) -> list[float]:
        """RTTs (ms) the transport layer measured (payload ACKs) in (after_s, now]; at most
        :data:`romanus.sim.simulator.LOOKBACK_S` back."""
        return self._sim.acked_rtts_ms(after_s, self.time_s)

    def server_waits_ms(self, after_s: float) -> list[float]:
        """Queueing delays (ms) the server reported for the vehicle's own requests, learnt in
        (after_s, now] (with each result, or with a queued request's cancellation: a lower
        bound); at most :data:`romanus.sim.simulator.LOOKBACK_S` back."""
        return self._sim.server_waits_ms(after_s, self.time_s)

    # -- the vehicle's own queues and past frames ---------------------------------------------

    @property
    def accelerator_backlog_ms(self) -> float:
        return self._sim.accelerator_backlog_s(self.time_s) * 1000.0

    @property
    def uplink_backlog_ms(self) -> float:
        return self._sim.uplink_backlog_s(self.time_s) * 1000.0

    @property
    def radio_state(self) -> int:
        """The modem's RRC state now: :data:`romanus.sim.radio.IDLE`, ``PROMOTION`` or
        ``CONNECTED`` (names in ``RADIO_STATES``); always connected with ``radio.accounting:
        connected``."""
        return self._sim.radio_state(self.time_s)[0]

    @property
    def time_since_transfer_s(self) -> float:
        """Time since the radio was last on the air (0 while it is, inf before any transfer)."""
        return self._sim.radio_state(self.time_s)[1]

    @property
    def frames_in_flight(self) -> int:
        return self._sim.frames_in_flight

    @property
    def last_record(self) -> FrameRecord | None:
        """The newest resolved frame (None before any)."""
        return self._sim.last_record

    # -- the edge server (delayed telemetry) --------------------------------------------------

    @property
    def server_report(self) -> ServerReport | None:
        return self._sim.server_report(self.time_s)

    # -- place (a world from a real drive) ----------------------------------------------------

    @property
    def place(self) -> Place | None:
        """The drive's context (None in a synthetic world). Ask it only for what the vehicle
        knows at ``time_s``: its speed and position, the delayed KPIs (``place.kpis``), the
        handovers reported, the route ahead (``place.lookahead``)."""
        return self._sim.world.place


class OracleView(VehicleView):
    """:class:`VehicleView` plus the world's future: for the hindsight oracle and the
    ``oracle`` observation only."""

    __slots__ = ()

    def predict(self, mode: int, option: int = 0) -> Prediction:
        """The frame's exact outcome in ``mode`` (with fallback ``option``), from the world's
        known future."""
        return self._sim.predict(mode, option)

    @property
    def true_uplink_now_mbps(self) -> float:
        return self._sim.uplink.rate(self.time_s)

    def true_uplink_ahead_mbps(self, window_s: float) -> float:
        """The true mean uplink capacity over the coming ``window_s``."""
        return self._sim.uplink.mean_rate(self.time_s, self.time_s + window_s)

    @property
    def true_server_wait_ms(self) -> float:
        """The queueing delay a request arriving now would see (0 without a server)."""
        server = self._sim.server
        return 0.0 if server is None else server.true_wait_s(self.time_s) * 1000.0


class Decider(Protocol):
    """Anything that picks actions (modes, or modes with a fallback) from a view (every policy)."""

    name: str
    #: whether it needs an :class:`OracleView` (the hindsight oracle)
    sees_future: bool

    def act(self, view: VehicleView) -> int: ...


def next_view(sim: Simulator, *, oracle: bool = False) -> VehicleView:
    """Advance ``sim`` to its next decision and return the vehicle's view of it (the
    oracle's with ``oracle=True``)."""
    decision = sim.decision()
    return OracleView(sim, decision) if oracle else VehicleView(sim, decision)


def drive(
    sim: Simulator,
    policy: Decider,
    frames: int,
    progress: Callable[[int], None] | None = None,
    sink: KpiAccumulator | None = None,
) -> FrameLog:
    """Run ``frames`` perception cycles of ``sim`` under ``policy``, then drain; the log (of
    the records the simulator keeps). ``sink`` receives every record as it resolves, for runs
    whose records are not kept (``Simulator(keep_records=False)``)."""
    oracle = policy.sees_future
    for i in range(frames):
        resolved = sim.step(policy.act(next_view(sim, oracle=oracle)))
        if sink is not None:
            sink.add(resolved)
        if progress is not None and (i + 1) % 1000 == 0:
            progress(1000)
    resolved = sim.drain()
    if sink is not None:
        sink.add(resolved)
        sink.add_state_mj(sim.unattributed_state_mj)
    if progress is not None and frames % 1000:
        progress(frames % 1000)
    return sim.log()
