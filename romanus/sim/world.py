"""The exogenous world: every input of a simulation that no policy influences.

A :class:`World` bundles the scene process, uplink and downlink capacity, per-frame RTT and
service-time draws, and the edge server's background requests. :func:`synthetic_world`
generates them lazily from one seed (one generator per stream); :class:`RecordedWorld` plays
back arrays recorded from one (see :mod:`romanus.scenario`), value for value, so a replay
equals the live run bit for bit. Both hand out data in the same chunks, so floating-point
accumulations match too.

A preset with a ``drive`` section takes its links (those with ``model: drive``) from a real
drive (:func:`drive_source`: the derived uplink or the measured downlink, handover
interruptions applied, from ``drive.start_s``, not looping) and gives the world a
:class:`~romanus.sim.place.Place` (``World.place``: speed, position, network mode, delayed
modem KPIs, the route ahead). Synthetic worlds have ``place = None``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from romanus.config import BackgroundLoadConfig, CapacityConfig, DriveConfig, Preset
from romanus.drives import drive_trace, load_drive_cached
from romanus.rng import SeedPlan
from romanus.sim.link import CapacitySeries, CapacitySource, make_source
from romanus.sim.place import Place
from romanus.sim.scene import SceneProcess
from romanus.traces import TraceSource, load_trace_cached

__all__ = [
    "DRAW_BLOCK",
    "BackgroundSource",
    "HorizonError",
    "PerFrame",
    "RecordedWorld",
    "SyntheticBackground",
    "World",
    "drive_place",
    "drive_source",
    "synthetic_world",
]

DRAW_BLOCK = 4096  # per-frame draws are generated this many at a time
_WINDOW_S = 5.0  # background arrivals generated per window (within one load level)


class HorizonError(ValueError):
    """The simulation asked a recorded world for a time it does not cover."""


class PerFrame:
    """Values indexed by frame number, produced in blocks by ``draw(n)`` in frame order."""

    def __init__(self, draw: Callable[[int], np.ndarray]) -> None:
        self._draw = draw
        self._block = -1
        self._values: list[float] = []
        self._previous: list[float] = []  # frames still in flight may straddle a block boundary
        #: every block produced so far (kept only when recording)
        self.blocks: list[np.ndarray] | None = None

    def __getitem__(self, frame: int) -> float:
        block, i = divmod(frame, DRAW_BLOCK)
        while self._block < block:
            values = self._draw(DRAW_BLOCK)
            if self.blocks is not None:
                self.blocks.append(values)
            self._previous, self._values = self._values, values.tolist()
            self._block += 1
        if block == self._block:
            return self._values[i]
        if block == self._block - 1:
            return self._previous[i]
        raise IndexError(f"per-frame draws of frame {frame} are no longer kept (frames are drawn in order)")


class BackgroundSource(Protocol):
    def next_window(self) -> tuple[np.ndarray, np.ndarray, float]:
        """The next window of background requests: (arrival times s, service times s, end s)."""
        ...


class SyntheticBackground:
    """Poisson arrivals whose rate follows a Markov load process, near-deterministic service.

    Load levels change after exponential dwell times to a uniformly chosen other level;
    within a level, arrivals of each window (at most ``_WINDOW_S`` long) are Poisson; service
    times are Gamma with the configured coefficient of variation.
    """

    def __init__(
        self,
        cfg: BackgroundLoadConfig,
        workers: int,
        load_rng: np.random.Generator,
        arrival_rng: np.random.Generator,
        service_rng: np.random.Generator,
    ) -> None:
        self._level_names = list(cfg.levels)
        mean_s = cfg.service_ms / 1000.0
        self._rates = [u * workers / mean_s for u in cfg.levels.values()]
        self._mean_s = mean_s
        self._cv = cfg.service_cv
        self._mean_dwell_s = cfg.mean_dwell_s
        self._load_rng, self._arrival_rng, self._service_rng = load_rng, arrival_rng, service_rng
        self._level = self._level_names.index(cfg.initial)
        self._level_end = float(load_rng.exponential(cfg.mean_dwell_s))
        self._until = 0.0
        #: (start s, level index) of every load level so far
        self.levels: list[tuple[float, int]] = [(0.0, self._level)]

    @property
    def level_names(self) -> list[str]:
        return self._level_names

    def next_window(self) -> tuple[np.ndarray, np.ndarray, float]:
        a = self._until
        if a >= self._level_end:
            k = len(self._rates)
            if k > 1:
                self._level = (self._level + int(self._load_rng.integers(1, k))) % k
            self._level_end = a + float(self._load_rng.exponential(self._mean_dwell_s))
            self.levels.append((a, self._level))
        b = min(a + _WINDOW_S, self._level_end)
        n = int(self._arrival_rng.poisson(self._rates[self._level] * (b - a)))
        times = np.sort(self._arrival_rng.uniform(a, b, n))
        if self._cv == 0.0:
            services = np.full(n, self._mean_s)
        else:
            shape = 1.0 / self._cv**2
            services = self._service_rng.gamma(shape, self._mean_s / shape, n)
        self._until = b
        return times, services, b


class _RecordingSource:
    """Wraps a capacity source and keeps every chunk it hands out."""

    def __init__(self, inner: CapacitySource) -> None:
        self.inner = inner
        self.chunks: list[tuple[np.ndarray, np.ndarray]] = []
        self.ended = False

    def next_chunk(self) -> tuple[np.ndarray, np.ndarray] | None:
        chunk = self.inner.next_chunk()
        if chunk is None:
            self.ended = True
        else:
            self.chunks.append((np.asarray(chunk[0], dtype=np.float64), np.asarray(chunk[1], dtype=np.float64)))
        return chunk


class _RecordingBackground:
    def __init__(self, inner: SyntheticBackground) -> None:
        self.inner = inner
        self.windows: list[tuple[np.ndarray, np.ndarray, float]] = []

    def next_window(self) -> tuple[np.ndarray, np.ndarray, float]:
        w = self.inner.next_window()
        self.windows.append(w)
        return w


@dataclass
class World:
    """Everything exogenous one simulation consumes."""

    scene: SceneProcess | RecordedScene
    uplink: CapacitySeries
    downlink: CapacitySeries
    rtt_s: PerFrame  # round-trip time per frame (s)
    jitter: PerFrame  # multiplicative service-time factor per frame (mean 1)
    background: BackgroundSource | None
    horizon_s: float = math.inf  # the world is defined on [0, horizon_s]
    sources: dict[str, object] = field(default_factory=dict)  # what generated it (recording hooks)
    #: the drive's per-time context (speed, position, mode, delayed KPIs, route); None when synthetic
    place: Place | None = None


def capacity_source(cfg: CapacityConfig, rng: np.random.Generator, outage_rng: np.random.Generator) -> CapacitySource:
    """A synthetic or trace capacity source for one link."""
    if cfg.model == "trace":
        trace = load_trace_cached(cfg.trace, cfg.format)
        start = cfg.start_s if cfg.start_s is not None else float(rng.uniform(0.0, trace.duration_s))
        source = TraceSource(trace, start_s=start, loop=cfg.loop, scale=cfg.scale, noise_cv=cfg.noise_cv, rng=rng)
        if cfg.outage is None:
            return source
        raise ValueError("outages apply to synthetic capacity models; a trace has its own")
    return make_source(cfg, rng, outage_rng)


def drive_source(cfg: DriveConfig, link: str, start_s: float | None = None) -> TraceSource:
    """A link's capacity from a drive: :func:`romanus.drives.drive_trace` played from
    ``start_s`` (default ``cfg.start_s``) without looping (no capacity after the drive ends)."""
    trace = drive_trace(
        cfg.file,
        "uplink" if link == "uplink" else "downlink",
        cfg.uplink_model,
        handover_interruptions=cfg.handover_interruptions,
    )
    start = cfg.start_s if start_s is None else start_s
    return TraceSource(trace, start_s=start or 0.0, loop=False)


def drive_place(cfg: DriveConfig, start_s: float | None = None) -> Place:
    """The :class:`~romanus.sim.place.Place` of a drive section, from ``start_s`` (default
    ``cfg.start_s``)."""
    start = cfg.start_s if start_s is None else start_s
    return Place.from_drive(load_drive_cached(cfg.file), start or 0.0, cfg.kpi_delay_s)


def drive_start_s(preset: Preset, seeds: SeedPlan) -> float | None:
    """Where on its drive a world starts: ``drive.start_s``, or with ``start_s: null`` a draw
    from the ``drive_start`` stream, uniform over the drive's first (duration -
    ``env.episode_s``) seconds (None without a drive)."""
    cfg = preset.drive
    if cfg is None:
        return None
    if cfg.start_s is not None:
        return cfg.start_s
    span = max(0.0, load_drive_cached(cfg.file).duration_s - preset.env.episode_s)
    return float(seeds.generator("drive_start").uniform(0.0, span))


def _link_source(preset: Preset, link: str, seeds: SeedPlan, start_s: float | None) -> CapacitySource:
    cfg: CapacityConfig = getattr(preset, link)
    if cfg.model == "drive":
        assert preset.drive is not None  # the preset checks it
        return drive_source(preset.drive, link, start_s)
    return capacity_source(cfg, seeds.generator(link), seeds.generator(f"{link}_outage"))


def synthetic_world(preset: Preset, seeds: SeedPlan, scenes: tuple[str, ...], *, record: bool = False) -> World:
    """The world a preset generates from a seed plan, lazily; ``record`` keeps what it makes."""
    start = drive_start_s(preset, seeds)
    up_src: CapacitySource = _link_source(preset, "uplink", seeds, start)
    down_src: CapacitySource = _link_source(preset, "downlink", seeds, start)
    background: BackgroundSource | None = None
    synth_bg = None
    if preset.server.enabled:
        synth_bg = SyntheticBackground(
            preset.server.background,
            preset.server.workers,
            seeds.generator("server_load"),
            seeds.generator("server_arrivals"),
            seeds.generator("server_service"),
        )
        background = synth_bg
    if record:
        up_src, down_src = _RecordingSource(up_src), _RecordingSource(down_src)
        if synth_bg is not None:
            background = _RecordingBackground(synth_bg)
    rtt = preset.rtt
    rtt_rng = seeds.generator("rtt")
    rtt_s = PerFrame(lambda n: (rtt.shift_ms + rtt_rng.gamma(rtt.shape, rtt.scale_ms, n)) / 1000.0)
    cv = preset.server.service_cv
    own_rng = seeds.generator("own_service")
    if cv > 0:
        shape = 1.0 / cv**2
        jitter = PerFrame(lambda n: own_rng.gamma(shape, 1.0 / shape, n))
    else:
        jitter = PerFrame(lambda n: np.ones(n))
    if record:
        rtt_s.blocks, jitter.blocks = [], []
    return World(
        scene=SceneProcess(preset.scene, scenes, seeds.generator("scene")),
        uplink=CapacitySeries(up_src),
        downlink=CapacitySeries(down_src),
        rtt_s=rtt_s,
        jitter=jitter,
        background=background,
        sources={
            "uplink": up_src,
            "downlink": down_src,
            "background": background,
            "synthetic_background": synth_bg,
            "drive_start_s": start,
        },
        place=None if preset.drive is None else drive_place(preset.drive, start),
    )


class RecordedScene:
    """Scene index over time from recorded change points, defined up to ``horizon_s``."""

    def __init__(self, starts: np.ndarray, scenes: np.ndarray, horizon_s: float) -> None:
        self._starts = starts.tolist()
        self._scenes = scenes.tolist()
        self._horizon = horizon_s

    def at(self, t: float) -> int:
        if t > self._horizon:
            raise HorizonError(f"the scenario's scene sequence ends at {self._horizon:g} s; asked for {t:g} s")
        return self._scenes[bisect_right(self._starts, t) - 1]

    def changes(self, until_s: float) -> tuple[np.ndarray, np.ndarray]:
        n = bisect_right(self._starts, until_s)
        return np.array(self._starts[:n]), np.array(self._scenes[:n], dtype=np.int64)

    def forget_before(self, t: float) -> None:
        return None


class _ChunkReplay:
    """Hands out recorded capacity chunks; past them the recording ends (or the link did)."""

    def __init__(self, chunks: list[tuple[np.ndarray, np.ndarray]], ended: bool, horizon_s: float, name: str) -> None:
        self._chunks = chunks
        self._i = 0
        self._ended = ended
        self._horizon = horizon_s
        self._name = name

    def next_chunk(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self._i < len(self._chunks):
            self._i += 1
            return self._chunks[self._i - 1]
        if self._ended:
            return None  # the live source ended here too (a trace played without looping)
        raise HorizonError(f"the scenario's {self._name} capacity ends at {self._horizon:g} s")


class _BlockReplay:
    def __init__(self, blocks: list[np.ndarray], name: str) -> None:
        self._blocks = blocks
        self._i = 0
        self._name = name

    def __call__(self, n: int) -> np.ndarray:
        if self._i >= len(self._blocks):
            raise HorizonError(
                f"the scenario holds {self._name} draws for {len(self._blocks) * DRAW_BLOCK} frames only"
            )
        self._i += 1
        return self._blocks[self._i - 1]


class _BackgroundReplay:
    def __init__(self, windows: list[tuple[np.ndarray, np.ndarray, float]], horizon_s: float) -> None:
        self._windows = windows
        self._i = 0
        self._horizon = horizon_s

    def next_window(self) -> tuple[np.ndarray, np.ndarray, float]:
        if self._i >= len(self._windows):
            raise HorizonError(f"the scenario's background requests end at {self._horizon:g} s")
        self._i += 1
        return self._windows[self._i - 1]


class RecordedWorld:
    """Builds fresh :class:`World` objects that replay one recording."""

    def __init__(
        self,
        *,
        scene_starts: np.ndarray,
        scene_ids: np.ndarray,
        uplink_chunks: list[tuple[np.ndarray, np.ndarray]],
        uplink_ended: bool,
        downlink_chunks: list[tuple[np.ndarray, np.ndarray]],
        downlink_ended: bool,
        rtt_blocks: list[np.ndarray],
        jitter_blocks: list[np.ndarray],
        background_windows: list[tuple[np.ndarray, np.ndarray, float]] | None,
        horizon_s: float,
        place: Place | None = None,
    ) -> None:
        self.scene_starts, self.scene_ids = scene_starts, scene_ids
        self.uplink_chunks, self.uplink_ended = uplink_chunks, uplink_ended
        self.downlink_chunks, self.downlink_ended = downlink_chunks, downlink_ended
        self.rtt_blocks, self.jitter_blocks = rtt_blocks, jitter_blocks
        self.background_windows = background_windows
        self.horizon_s = horizon_s
        self.place = place

    def world(self) -> World:
        h = self.horizon_s
        return World(
            scene=RecordedScene(self.scene_starts, self.scene_ids, h),
            uplink=CapacitySeries(_ChunkReplay(self.uplink_chunks, self.uplink_ended, h, "uplink")),
            downlink=CapacitySeries(_ChunkReplay(self.downlink_chunks, self.downlink_ended, h, "downlink")),
            rtt_s=PerFrame(_BlockReplay(self.rtt_blocks, "RTT")),
            jitter=PerFrame(_BlockReplay(self.jitter_blocks, "service-time")),
            background=None if self.background_windows is None else _BackgroundReplay(self.background_windows, h),
            horizon_s=h,
            place=self.place,
        )
