"""Drawing an episode of :class:`romanus.env.core.RomanusEnv`: the last seconds of one run.

The env keeps a :class:`RenderHistory` (a ring buffer of per-frame tuples, filled only when
it was made with a ``render_mode``); :class:`EpisodeRenderer` draws it on a matplotlib Agg
canvas when ``render()`` is called and returns the picture as an ``H x W x 3`` ``uint8``
array. Figure and artists are made once and their data replaced at each call, so a frame
costs one canvas draw. matplotlib is imported here only: the env imports this module when
it renders, never otherwise.

A frame shows, over the last ``window_s`` seconds (x axis: seconds before now):

1. the scene the vehicle was in (a coloured band, one colour per scene, with a legend);
2. the uplink capacity the modem measured over each period (Mbit/s, axis from 0);
3. the chosen tier of each frame, marked by placement (offloaded or all on the vehicle);
4. each resolved frame's latency against the deadline: met, met but not robust enough
   for the scene (risky), or missed;
5. the vehicle's accelerator and uplink backlogs and the edge server's telemetry wait
   (ms; the newest, delayed report).
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

import numpy as np

__all__ = ["DecisionRow", "EpisodeRenderer", "HumanWindow", "OutcomeRow", "RenderHistory"]

WIDTH_PX, HEIGHT_PX, DPI = 800, 600, 80


class DecisionRow(NamedTuple):
    """What the vehicle knew and chose at one decision."""

    time_s: float
    scene: int
    uplink_mbps: float  # capacity measured over the period before the decision
    mode: int
    offloaded: bool
    accelerator_backlog_ms: float
    uplink_backlog_ms: float
    server_wait_ms: float  # newest telemetry report (nan: none yet or no server)


class OutcomeRow(NamedTuple):
    """A resolved frame."""

    capture_s: float
    latency_ms: float
    deadline_met: bool
    risky: bool


class RenderHistory:
    """The last ``window_s`` seconds of decisions and outcomes (bounded: cheap per step)."""

    def __init__(self, window_s: float, period_ms: float) -> None:
        self.window_s = window_s
        n = max(2, int(np.ceil(window_s * 1000.0 / period_ms)) + 2)
        self.decisions: deque[DecisionRow] = deque(maxlen=n)
        # several frames may resolve per step when frames outlive the period
        self.outcomes: deque[OutcomeRow] = deque(maxlen=2 * n)
        self.now_s = 0.0

    def clear(self) -> None:
        self.decisions.clear()
        self.outcomes.clear()
        self.now_s = 0.0


class EpisodeRenderer:
    """One Agg figure for one env; :meth:`draw` returns the frame as an RGB array."""

    def __init__(
        self,
        *,
        title: str,
        scenes: tuple[str, ...],
        tiers: tuple[str, ...],
        mode_tiers: tuple[str, ...],
        deadline_ms: float,
        latency_cap_ms: float,
        window_s: float,
    ) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.colors import ListedColormap
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch

        self._title = title
        index = {t: i for i, t in enumerate(tiers)}
        #: row of each mode (by catalogue index) in the tier panel
        self._tier_of_mode = np.array([index[t] for t in mode_tiers], dtype=np.float64)
        self._window_s = window_s
        self.figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
        self._canvas = FigureCanvasAgg(self.figure)
        grid = self.figure.add_gridspec(5, 1, height_ratios=[0.35, 1.2, 1.0, 1.2, 1.2], hspace=0.35)
        ax_scene = self.figure.add_subplot(grid[0])
        ax_up = self.figure.add_subplot(grid[1], sharex=ax_scene)
        ax_tier = self.figure.add_subplot(grid[2], sharex=ax_scene)
        ax_lat = self.figure.add_subplot(grid[3], sharex=ax_scene)
        ax_q = self.figure.add_subplot(grid[4], sharex=ax_scene)
        self._axes = (ax_scene, ax_up, ax_tier, ax_lat, ax_q)
        self.figure.subplots_adjust(left=0.1, right=0.77, top=0.93, bottom=0.08)

        palette = [
            "#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c",
            "#ccb974", "#64b5cd",
        ]  # fmt: skip
        colours = [palette[i % len(palette)] for i in range(max(len(scenes), 1))]
        self._scene_image = ax_scene.imshow(
            np.zeros((1, 1)),
            aspect="auto",
            cmap=ListedColormap(colours),
            vmin=-0.5,
            vmax=len(colours) - 0.5,
            extent=(-window_s, 0.0, 0.0, 1.0),
            interpolation="nearest",
        )
        ax_scene.set_yticks([])
        ax_scene.set_ylabel("scene", rotation=0, ha="right", va="center", fontsize=8)
        ax_scene.legend(
            handles=[Patch(color=c, label=s) for c, s in zip(colours, scenes, strict=False)],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.6),
            fontsize=7,
            frameon=False,
            title="scene",
            title_fontsize=7,
        )

        (self._uplink,) = ax_up.step([], [], where="pre", color="tab:blue", lw=1.2)
        ax_up.set_ylabel("uplink\nMbit/s", fontsize=8)

        (self._local,) = ax_tier.plot([], [], "s", color="tab:green", ms=3, label="on the vehicle")
        (self._offload,) = ax_tier.plot([], [], "^", color="tab:orange", ms=4, label="offloaded")
        ax_tier.set_yticks(range(len(tiers)), tiers, fontsize=7)
        ax_tier.set_ylim(-0.6, len(tiers) - 0.4)
        ax_tier.legend(
            loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False, title="placement", title_fontsize=7
        )

        ax_lat.axhline(deadline_ms, color="k", lw=0.8, ls="--")
        (self._met,) = ax_lat.plot([], [], ".", color="tab:green", ms=4, label="met")
        (self._risky,) = ax_lat.plot([], [], "o", mfc="none", color="tab:purple", ms=4, label="met, not robust")
        (self._missed,) = ax_lat.plot([], [], "x", color="tab:red", ms=5, label="missed")
        ax_lat.set_ylabel("latency\nms", fontsize=8)
        ax_lat.set_ylim(0.0, latency_cap_ms * 1.1)  # no frame outlives its abandon time
        ax_lat.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=7,
            frameon=False,
            title="deadline (--)",
            title_fontsize=7,
        )

        (self._acc,) = ax_q.plot([], [], color="tab:green", lw=1.0, label="accelerator backlog")
        (self._upq,) = ax_q.plot([], [], color="tab:blue", lw=1.0, label="uplink backlog")
        (self._srv,) = ax_q.plot([], [], color="tab:gray", lw=1.0, ls=":", label="server wait (telemetry)")
        ax_q.set_ylabel("queues\nms", fontsize=8)
        ax_q.set_xlabel("seconds before now", fontsize=8)
        ax_q.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)

        for ax in self._axes:
            ax.tick_params(labelsize=7)
            ax.set_xlim(-window_s, 0.0)
        for ax in self._axes[:-1]:
            ax.tick_params(labelbottom=False)
        self._suptitle = self.figure.suptitle("", fontsize=9)
        # blitting: axes, ticks and legends are drawn once into a background; a frame restores
        # it and draws only these (a y-limit change redraws the background)
        self._dynamic = (
            self._scene_image, self._uplink, self._local, self._offload, self._met, self._risky, self._missed,
            self._acc, self._upq, self._srv,
        )  # fmt: skip
        for artist in (*self._dynamic, self._suptitle):
            artist.set_animated(True)
        self._background: Any = None
        self._ylims: tuple[float, float] = (0.0, 0.0)

    def draw(self, history: RenderHistory, status: str) -> np.ndarray:
        """The frame for ``history`` as an ``(H, W, 3)`` uint8 array."""
        now = history.now_s
        rows = list(history.decisions)
        up_top = queue_top = 1.0
        if rows:
            d = np.array([(r.time_s, r.scene, r.uplink_mbps, r.mode) for r in rows], dtype=np.float64)
            t = d[:, 0] - now
            self._set_scenes(t, d[:, 1].astype(np.int64))
            self._uplink.set_data(t, d[:, 2])
            up_top = float(d[:, 2].max())
            tier = self._tier_of_mode[d[:, 3].astype(np.int64)]
            off = np.array([r.offloaded for r in rows], dtype=bool)
            self._local.set_data(t[~off], tier[~off])
            self._offload.set_data(t[off], tier[off])
            q = np.array([(r.accelerator_backlog_ms, r.uplink_backlog_ms, r.server_wait_ms) for r in rows])
            self._acc.set_data(t, q[:, 0])
            self._upq.set_data(t, q[:, 1])
            self._srv.set_data(t, q[:, 2])
            queue_top = float(np.nanmax(q, initial=0.0))
        else:
            for line in (self._uplink, self._local, self._offload, self._acc, self._upq, self._srv):
                line.set_data([], [])
            self._scene_image.set_data(np.full((1, 1), np.nan))
        outs = list(history.outcomes)
        if outs:
            o = np.array([(r.capture_s - now, r.latency_ms, r.deadline_met, r.risky) for r in outs], dtype=np.float64)
            met, risky = o[:, 2] > 0, o[:, 3] > 0
            self._met.set_data(o[met & ~risky, 0], o[met & ~risky, 1])
            self._risky.set_data(o[met & risky, 0], o[met & risky, 1])
            self._missed.set_data(o[~met, 0], o[~met, 1])
        else:
            for line in (self._met, self._risky, self._missed):
                line.set_data([], [])
        self._suptitle.set_text(f"{self._title}   t = {now:.1f} s   {status}")
        self._blit((_nice_ceiling(up_top * 1.05), _nice_ceiling(queue_top * 1.1)))
        return np.asarray(self._canvas.buffer_rgba())[..., :3].copy()

    def _blit(self, ylims: tuple[float, float]) -> None:
        _, ax_up, _, _, ax_q = self._axes
        if self._background is None or ylims != self._ylims:
            self._ylims = ylims
            ax_up.set_ylim(0.0, ylims[0])
            ax_q.set_ylim(0.0, ylims[1])
            self._canvas.draw()  # everything not animated
            self._background = self._canvas.copy_from_bbox(self.figure.bbox)
        else:
            self._canvas.restore_region(self._background)
        for artist in self._dynamic:
            assert artist.axes is not None
            artist.axes.draw_artist(artist)
        self.figure.draw_artist(self._suptitle)

    def _set_scenes(self, t: np.ndarray, scenes: np.ndarray) -> None:
        """One column per decision, stretched over its period (the band's left edge is the
        oldest decision kept)."""
        self._scene_image.set_data(scenes[np.newaxis, :].astype(np.float64))
        period = float(t[1] - t[0]) if len(t) > 1 else 0.1
        self._scene_image.set_extent((float(t[0]), float(t[-1]) + period, 0.0, 1.0))

    def close(self) -> None:
        self.figure.clear()


def _nice_ceiling(x: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at or above ``x`` (axis limits that rarely change)."""
    if not x > 0 or not np.isfinite(x):
        return 1.0
    k = 10.0 ** np.floor(np.log10(x))
    return float(next(m * k for m in (1.0, 2.0, 5.0, 10.0) if m * k >= x))


class HumanWindow:
    """Shows frames in a pyplot window without blocking (``render_mode="human"``)."""

    def __init__(self, fps: float) -> None:
        import matplotlib.pyplot as plt

        self._plt = plt
        self._pause_s = 1.0 / fps
        self._figure: Any = None
        self._image: Any = None

    def show(self, frame: np.ndarray) -> None:
        plt = self._plt
        if self._figure is None or not plt.fignum_exists(self._figure.number):
            self._figure = plt.figure("romanus", figsize=(frame.shape[1] / DPI, frame.shape[0] / DPI), dpi=DPI)
            ax = self._figure.add_axes((0.0, 0.0, 1.0, 1.0))
            ax.set_axis_off()
            self._image = ax.imshow(frame)
        else:
            self._image.set_data(frame)
        canvas = self._figure.canvas
        if getattr(canvas, "required_interactive_framework", None):  # a GUI backend: show, don't block
            plt.show(block=False)
            plt.pause(self._pause_s)
        else:  # Agg and other file backends: draw only
            canvas.draw()

    def close(self) -> None:
        if self._figure is not None:
            self._plt.close(self._figure)
            self._figure = None
