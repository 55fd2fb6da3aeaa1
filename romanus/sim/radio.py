"""The vehicle modem's RRC state machine over a run (docs/physics.md).

States: IDLE -> PROMOTION (``promotion_ms`` at ``promotion_mw``; a transfer that finds the
radio idle starts only after it) -> CONNECTED (on the air: the transfer's power, charged to
the transfer by :class:`romanus.sim.costs.EnergyModel`; connected without a transfer: the tail,
``tail_mw``, the DRX average) -> ``tail_ms`` after the last activity -> IDLE. A transfer during
the tail resets it without a promotion.

The simulator books every transfer when it computes it (uplink and downlink are FIFO and
their ends are exact), so the radio is a list of activity segments (promotions and time on
the air) rather than a process: a booking never starts before the clock, so everything
before the clock is final and the state energy of a past interval can be integrated exactly
(:meth:`Radio.state_mj`). With ``accounting: connected`` other traffic keeps the modem
connected: no promotion, no state energy charged to offloading (a transfer is charged only its
marginal energy, see :class:`EnergyModel`).

The marginal state cost of offloading now (:meth:`EnergyModel.offload_state_mj`) is the one
formula the oracle's prediction and the vehicle's estimators use.
"""

from __future__ import annotations

import itertools
import math

from romanus.sim.costs import EnergyModel

__all__ = ["CONNECTED", "IDLE", "PROMOTION", "RADIO_STATES", "Radio"]

IDLE, PROMOTION, CONNECTED = 0, 1, 2
#: names of the states, by index
RADIO_STATES = ("idle", "promotion", "connected")


class Radio:
    """The modem of one run: when transfers can start, and the energy of its states.

    ``history`` (if kept) lists every segment ``(start, end, on_air)`` booked, for tests and
    plots; the live list holds only the segments that can still matter.
    """

    def __init__(self, energy: EnergyModel, *, keep_history: bool = False) -> None:
        self.owned = energy.owned
        self._promo_s = energy.promotion_s
        self._tail_s = energy.tail_s
        self._promo_mw = energy.promotion_mw
        self._tail_mw = energy.tail_mw
        # activity not yet forgotten: (start, end, on_air); on_air False = a promotion
        self._segs: list[tuple[float, float, bool]] = []
        self._prev_end = -math.inf  # latest end of the forgotten segments
        self._prev_air_end = -math.inf  # latest end of the forgotten segments on the air
        self._cursor = 0.0  # state energy has been handed out up to here
        self.promotions = 0
        self.history: list[tuple[float, float, bool]] | None = [] if keep_history else None

    # -- booking -------------------------------------------------------------------------------

    def start_time(self, t0: float) -> float:
        """When a transfer queued at ``t0`` can go on the air (nothing is booked): after the
        promotion under way, or after a new one if the radio is idle at ``t0``."""
        if not self.owned:
            return t0
        tail = self._tail_s
        connected = t0 < self._prev_end + tail
        for s, e, air in self._segs:
            if s <= t0:
                if t0 < e and not air:
                    return e
                if t0 < e + tail:
                    connected = True
        return t0 if connected else t0 + self._promo_s

    def begin(self, t0: float) -> float:
        """:meth:`start_time`, booking the promotion if one is needed."""
        start = self.start_time(t0)
        if start > t0 and not self._promoting_at(t0):
            self._add((t0, start, False))
            self.promotions += 1
        return start

    def _promoting_at(self, t: float) -> bool:
        return any(s <= t < e and not air for s, e, air in self._segs)

    def overlap_s(self, a: float, b: float) -> float:
        """Time in [a, b] already on the air (the other direction's transfers)."""
        total = 0.0
        for s, e, air in self._segs:
            if air and s < b and e > a:
                total += min(e, b) - max(s, a)
        return total

    def book(self, a: float, b: float) -> float:
        """A transfer on the air over [a, b]; returns the part of it another transfer already
        covers (its base power is counted once)."""
        overlap = self.overlap_s(a, b)
        if b > a:
            self._add((a, b, True))
        return overlap

    def _add(self, seg: tuple[float, float, bool]) -> None:
        self._segs.append(seg)
        if self.history is not None:
            self.history.append(seg)

    # -- what the vehicle knows ------------------------------------------------------------------

    def state_at(self, t: float) -> tuple[int, float]:
        """(state, seconds since the last transfer ended; 0 while on the air, inf before any)
        at ``t``. With ``accounting: connected`` the modem is always connected."""
        last_air = self._prev_air_end
        last = self._prev_end
        on_air = promoting = False
        for s, e, air in self._segs:
            if s <= t < e:
                if air:
                    on_air = True
                else:
                    promoting = True
            elif e <= t:
                last = max(last, e)
                if air:
                    last_air = max(last_air, e)
        since = 0.0 if on_air else t - last_air
        if on_air or not self.owned:
            return CONNECTED, since
        if promoting:
            return PROMOTION, since
        return (CONNECTED if t < last + self._tail_s else IDLE), since

    def idle_from(self) -> float:
        """When the radio is idle again after everything booked (its final tail's end)."""
        last = max([self._prev_end, *(e for _, e, _ in self._segs)])
        return last + self._tail_s if last > -math.inf else 0.0

    # -- energy -------------------------------------------------------------------------------

    def _forget_before(self, a: float) -> list[tuple[float, float, bool]]:
        """Drop the segments that ended by ``a``: only their latest ends still matter (a tail,
        the time since the last transfer). Returns what is kept."""
        if not self._segs:
            return self._segs
        keep = []
        for seg in self._segs:
            if seg[1] <= a:
                if seg[1] > self._prev_end:
                    self._prev_end = seg[1]
                if seg[2] and seg[1] > self._prev_air_end:
                    self._prev_air_end = seg[1]
            else:
                keep.append(seg)
        self._segs = keep
        return keep

    def state_mj(self, a: float, b: float) -> float:
        """Energy (mJ) of the promotions and the tail over [a, b], handed out once: call it with
        consecutive intervals, each ending at or before the clock (later bookings cannot
        change the past). Time on the air is the transfers' (:meth:`EnergyModel.uplink_mj`)."""
        if a < self._cursor:
            a = self._cursor
        if b <= a:
            return 0.0
        self._cursor = b
        keep = self._forget_before(a)  # also with a connected modem: state_at scans what is kept
        if not self.owned:
            return 0.0
        tail = self._tail_s
        if not keep:  # the common cases: idle, or a tail running out
            end = self._prev_end + tail
            return self._tail_mw * (min(b, end) - a) if end > a else 0.0
        prev_tail_end = self._prev_end + tail
        if not any(s < b for s, _, _ in keep):  # nothing in [a, b]: at most a tail running out
            return self._tail_mw * max(0.0, min(b, prev_tail_end) - a)
        points = {a, b}
        if a < prev_tail_end < b:
            points.add(prev_tail_end)
        for s, e, _ in keep:
            for x in (s, e, e + tail):
                if a < x < b:
                    points.add(x)
        xs = sorted(points)
        energy = 0.0
        for x0, x1 in itertools.pairwise(xs):
            m = 0.5 * (x0 + x1)
            on_air = promoting = in_tail = False
            if self._prev_end <= m < prev_tail_end:
                in_tail = True
            for s, e, air in keep:
                if s <= m < e:
                    if air:
                        on_air = True
                    else:
                        promoting = True
                elif e <= m < e + tail:
                    in_tail = True
            if on_air:
                continue
            if promoting:
                energy += self._promo_mw * (x1 - x0)
            elif in_tail:
                energy += self._tail_mw * (x1 - x0)
        return energy
