"""Figures of the comparison harness and of sweeps (matplotlib, Agg backend, written atomically).

The figures take plain data (labels, :class:`~romanus.stats.MeanCI` values, per-frame arrays)
and know nothing of how it was computed: :mod:`romanus.compare` and :mod:`romanus.sweep`
call them, never the other way round.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from numpy.typing import ArrayLike

from romanus.fileio import atomic_write_bytes
from romanus.pipeline.modes import LOCAL, ModeCatalogue
from romanus.scenario import Scenario
from romanus.stats import MeanCI, mean_ci

__all__ = [
    "MIN_VALUES_FOR_CI",
    "FrameArrays",
    "PolicyPoint",
    "SweepPoint",
    "latency_cdf",
    "modes_per_scene",
    "pareto",
    "place_labels",
    "save",
    "short_label",
    "short_labels",
    "shows_ci",
    "spread_labels",
    "sweep_pareto",
    "timeline",
]

#: with fewer values than this (seeds, scenarios) a figure shows the values, not a t interval
#: (two values give t(0.975, 1) = 12.7 times the standard error: an interval wider than the data)
MIN_VALUES_FOR_CI = 3

#: the risky-rate axis is linear below this many percent and logarithmic above
_RISK_LINTHRESH_PCT = 1.0


def save(fig: Any, path: Path | str) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, dpi=120, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _colors(n: int) -> list[Any]:
    """Ten strong colours, repeated past ten (:func:`_markers` tells the repeats apart; the
    pale half of tab20 is unreadable as text)."""
    cmap = plt.get_cmap("tab10")
    return [cmap(i % cmap.N) for i in range(n)]


def _markers(n: int) -> list[str]:
    return [("o", "s", "^", "D", "v")[(i // 10) % 5] for i in range(n)]


# --- labels ---------------------------------------------------------------------------------

_RUN_NAME = re.compile(r"^(?P<env>.+?)__(?P<algo>[^_].*?)__(?P<seed>\d+)__(?P<stamp>[\d-]+)$")


def short_label(policy: str, max_len: int = 28) -> str:
    """A label for a figure: fixed policies as they are; a trained agent
    ``<algo>:<dir>/<Env>__<algo>__<seed>__<stamp>[/best_model.zip]`` as ``<algo>#<seed>``; any
    other agent path by its algorithm and folder name; long names shortened with an ellipsis."""
    algo, sep, target = policy.partition(":")
    if not sep:
        label = policy
    else:
        path = Path(target.rstrip("/"))
        if path.suffix == ".zip":
            path = path.parent
        match = _RUN_NAME.match(path.name)
        label = f"{algo}#{match['seed']}" if match else f"{algo}:{path.name or target}"
    return label if len(label) <= max_len else label[: max_len - 1] + "…"


def short_labels(policies: Sequence[str], max_len: int = 28) -> list[str]:
    """:func:`short_label` of each policy, made unique: labels that two policies share get the
    run's environment, then a running number."""
    first = [short_label(p, max_len) for p in policies]
    labels = list(first)
    for i, policy in enumerate(policies):
        if first.count(first[i]) > 1:
            path = Path(policy.partition(":")[2].rstrip("/"))
            match = _RUN_NAME.match((path.parent if path.suffix == ".zip" else path).name)
            if match:
                labels[i] = f"{labels[i]} {match['env']}"
    second = list(labels)
    seen: dict[str, int] = {}
    for i, label in enumerate(second):
        if second.count(label) > 1:
            seen[label] = seen.get(label, 0) + 1
            labels[i] = f"{label} ({seen[label]})"
    return labels


def spread_labels(positions: ArrayLike, min_gap: float, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """Positions for labels wanted at ``positions`` (one axis, e.g. axes-fraction heights):
    the same order, at least ``min_gap`` apart, inside ``[lo, hi]``, each moved as little as
    the others allow. Too many labels for the range: evenly spread over it."""
    want = np.asarray(positions, dtype=np.float64)
    n = len(want)
    if n == 0:
        return want
    order = np.argsort(want, kind="stable")
    if (n - 1) * min_gap > hi - lo:
        placed = np.linspace(lo, hi, n)
    else:
        placed = np.clip(want[order], lo, hi)
        for i in range(1, n):  # push up from the bottom
            placed[i] = max(placed[i], placed[i - 1] + min_gap)
        placed[-1] = min(placed[-1], hi)
        for i in range(n - 2, -1, -1):  # then down from the top
            placed[i] = min(placed[i], placed[i + 1] - min_gap)
        # centre each block of touching labels on the mean of what its labels wanted
        start = 0
        for i in range(1, n + 1):
            if i == n or placed[i] - placed[i - 1] > min_gap * (1 + 1e-9):
                block = slice(start, i)
                shift = float(np.mean(want[order][block] - placed[block]))
                low_room = placed[start] - (lo if start == 0 else placed[start - 1] + min_gap)
                high_room = (hi if i == n else placed[i] - min_gap) - placed[i - 1]
                placed[block] += min(max(shift, -low_room), high_room)
                start = i
    out = np.empty(n)
    out[order] = placed
    return out


def place_labels(
    ax: Any, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], colors: Sequence[Any], fontsize: float = 7
) -> list[Any]:
    """Label the points ``(xs, ys)`` (data coordinates, the axes' limits already final) with
    texts that do not overlap one another and stay inside the axes, each joined to its point by
    a leader line: heights spread apart, texts right of their point (left of it in the right
    part of the axes)."""
    fig = ax.figure
    to_axes = ax.transData + ax.transAxes.inverted()
    frac = to_axes.transform(np.column_stack([xs, ys])) if len(xs) else np.zeros((0, 2))
    height_px = ax.get_window_extent().height
    gap = fontsize * 1.45 * fig.dpi / 72.0 / max(height_px, 1.0)
    # wanted a little above the point, off the point's own horizontal error bar
    heights = spread_labels(frac[:, 1] + 0.6 * gap, gap, lo=gap / 2, hi=1 - gap / 2)
    texts = []
    for (fx, _), y, label, color, x_data, y_data in zip(frac, heights, labels, colors, xs, ys, strict=True):
        right = fx < 0.6
        text = ax.annotate(
            label,
            xy=(x_data, y_data),
            xycoords="data",
            xytext=(fx + (0.05 if right else -0.05), y),
            textcoords="axes fraction",
            ha="left" if right else "right",
            va="center",
            fontsize=fontsize,
            color=color,
            arrowprops={"arrowstyle": "-", "color": color, "lw": 0.6, "alpha": 0.7, "shrinkA": 1, "shrinkB": 3},
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            annotation_clip=False,
        )
        texts.append(text)
    _keep_inside(ax, texts)
    return texts


def _keep_inside(ax: Any, texts: Sequence[Any]) -> None:
    """Shift texts that run past the left or right edge of the axes back inside."""
    renderer = ax.figure.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    for text in texts:
        text.update_positions(renderer)  # an annotation places its text at draw time
        ext = Text.get_window_extent(text, renderer)  # the text alone, not its leader line
        shift = 0.0
        if ext.x1 > box.x1:
            shift = (box.x1 - ext.x1 - 2) / box.width
        elif ext.x0 < box.x0:
            shift = (box.x0 - ext.x0 + 2) / box.width
        if shift:
            x, y = text.get_position()
            text.set_position((x + shift, y))


def _freeze_limits(ax: Any) -> None:
    ax.autoscale_view()
    ax.set_xlim(ax.get_xlim())
    ax.set_ylim(ax.get_ylim())


# --- pareto -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyPoint:
    """One policy in the energy-risk plane: means over scenarios, and paired differences
    against the reference policy on the same scenarios (None for the reference itself or
    when it did not take part)."""

    label: str
    risky_rate: MeanCI  # fraction
    energy_mj: MeanCI
    risky_diff: MeanCI | None = None  # fraction, policy - reference
    energy_diff_mj: MeanCI | None = None


def _err(ci: MeanCI, scale: float = 1.0, lo: float = -math.inf, hi: float = math.inf) -> list[list[float]] | None:
    """Asymmetric error bar of ``ci`` (clipped to [lo, hi]); None without an interval."""
    if math.isnan(ci.half_width):
        return None
    m = ci.mean * scale
    return [[m - max(ci.low * scale, lo)], [min(ci.high * scale, hi) - m]]


def _risk_axis(ax: Any, label: str) -> None:
    ax.set_xscale("symlog", linthresh=_RISK_LINTHRESH_PCT, linscale=1.0)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel(label)


def pareto(path: Path | str, points: Sequence[PolicyPoint], reference: str = "local-robust") -> None:
    """Energy per frame against the risky-frame rate. Left: means over scenarios with 95 %
    Student-t CIs (clipped to the possible range). Right, when the reference took part: the
    paired differences against it, scenario by scenario, with their 95 % CIs (clipped to what
    the reference's means allow); these are what
    separates policies when the scenarios differ more than the policies do. The risk axes are
    linear to 1 % and logarithmic above, so the low-risk region is not squeezed."""
    paired = [p for p in points if p.energy_diff_mj is not None and p.risky_diff is not None]
    ncols = 2 if paired else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6.2 * ncols, 5.2), squeeze=False)
    colors = dict(zip([p.label for p in points], _colors(len(points)), strict=True))
    markers = dict(zip([p.label for p in points], _markers(len(points)), strict=True))

    ax = axes[0][0]
    for p in points:
        x, y = p.risky_rate.mean * 100, p.energy_mj.mean
        ax.errorbar(
            x,
            y,
            xerr=_err(p.risky_rate, 100, 0, 100),
            yerr=_err(p.energy_mj, 1, 0),
            fmt="none",
            ecolor=colors[p.label],
            capsize=2,
            elinewidth=0.8,
            alpha=0.4,
        )
        ax.plot(x, y, markers[p.label], color=colors[p.label], ms=5)
    _risk_axis(ax, "risky frames (%, linear below 1 %)")
    ax.set_ylabel("energy per frame (mJ)")
    ax.set_title("Means over scenarios (light bars: unpaired 95 % CIs)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.set_ylim(bottom=0)
    ax.margins(x=0.08, y=0.08)
    _freeze_limits(ax)
    left, right = ax.get_xlim()
    ax.set_xlim(min(left, -0.3), right)
    place_labels(
        ax,
        [p.risky_rate.mean * 100 for p in points],
        [p.energy_mj.mean for p in points],
        [p.label for p in points],
        [colors[p.label] for p in points],
    )

    if paired:
        ax = axes[0][1]
        ax.axhline(0, color="k", lw=0.7)
        ax.axvline(0, color="k", lw=0.7)
        for p in paired:
            assert p.risky_diff is not None and p.energy_diff_mj is not None
            # a policy's rate lies in [0, 1], so its mean difference lies in [-ref, 1 - ref]
            ref_risky = p.risky_rate.mean - p.risky_diff.mean
            ref_energy = p.energy_mj.mean - p.energy_diff_mj.mean
            ax.errorbar(
                p.risky_diff.mean * 100,
                p.energy_diff_mj.mean,
                xerr=_err(p.risky_diff, 100, -ref_risky * 100, (1 - ref_risky) * 100),
                yerr=_err(p.energy_diff_mj, 1, -ref_energy),
                fmt=markers[p.label],
                color=colors[p.label],
                ms=5,
                capsize=2,
                elinewidth=0.8,
            )
        _risk_axis(ax, f"risky frames minus {reference}'s (percentage points)")
        ax.set_ylabel(f"energy per frame minus {reference}'s (mJ)")
        ax.set_title(f"Paired by scenario against {reference} (95 % CIs)", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.margins(x=0.08, y=0.08)
        _freeze_limits(ax)
        place_labels(
            ax,
            [p.risky_diff.mean * 100 for p in paired if p.risky_diff is not None],
            [p.energy_diff_mj.mean for p in paired if p.energy_diff_mj is not None],
            [p.label for p in paired],
            [colors[p.label] for p in paired],
        )
    fig.suptitle("Energy against risk: lower left is better", fontsize=11)
    fig.tight_layout()
    save(fig, path)


# --- latency CDF ----------------------------------------------------------------------------


def latency_cdf(
    path: Path | str,
    latencies: Mapping[str, np.ndarray],
    deadline_ms: float,
    miss_rates: Mapping[str, float] | None = None,
) -> None:
    """Empirical CDF of frame latency, one small panel per policy (abandoned frames at the
    abandon time), the other policies in grey behind it; each panel names the policy's
    deadline-miss rate (``miss_rates``, else the share of latencies above the deadline)."""
    names = list(latencies)
    n = len(names)
    cols = min(4, max(n, 1))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.1 * cols, 2.6 * rows + 0.6), sharex=True, sharey=True, squeeze=False
    )
    colors = _colors(n)
    curves = {}
    for p in names:
        xs = np.sort(np.asarray(latencies[p], dtype=np.float64))
        curves[p] = (xs, np.arange(1, len(xs) + 1) / max(len(xs), 1))
    for k, p in enumerate(names):
        ax = axes[k // cols][k % cols]
        for q in names:
            if q != p:
                ax.step(*curves[q], where="post", color="0.8", lw=0.8)
        ax.step(*curves[p], where="post", color=colors[k], lw=2.0)
        ax.axvline(deadline_ms, color="k", ls="--", lw=0.8)
        lat = curves[p][0]
        miss = miss_rates[p] if miss_rates is not None else float(np.mean(lat > deadline_ms)) if len(lat) else math.nan
        ax.set_title(textwrap.shorten(p, 30) + f"\nmissed {miss * 100:.1f} %", fontsize=8.5)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if k % cols == 0:
            ax.set_ylabel("share of frames")
        if k // cols == rows - 1 or k + cols >= n:
            ax.set_xlabel("latency (ms)")
            ax.tick_params(labelbottom=True)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle(
        f"Latency CDF per policy (all scenarios pooled; grey: the other policies; dashed: deadline {deadline_ms:g} ms)",
        fontsize=10,
    )
    fig.tight_layout()
    save(fig, path)


# --- per-frame figures ----------------------------------------------------------------------


class FrameArrays(Protocol):
    """Per-frame arrays of one run (``romanus.compare.RunOutput`` has them)."""

    mode: np.ndarray
    scene: np.ndarray
    offloaded: np.ndarray
    risky: np.ndarray
    latency_ms: np.ndarray


def _missed(run: Any, deadline_ms: float) -> np.ndarray:
    met = getattr(run, "deadline_met", None)
    if met is not None:
        return ~np.asarray(met, dtype=bool)
    return np.asarray(run.latency_ms) > deadline_ms


def _split_of(cat: ModeCatalogue) -> tuple[list[str], np.ndarray]:
    """Placement categories (``local``, each split point in configuration order, ``mixed``
    for modes splitting their groups at different points) and each mode's category."""
    names = [LOCAL, *cat.pipeline.split_points]
    of = []
    mixed = False
    for m in cat.modes:
        points = {p for _, p in m.placement if p != LOCAL}
        if not points:
            of.append(0)
        elif len(points) == 1:
            of.append(names.index(points.pop()))
        else:
            of.append(-1)
            mixed = True
    if mixed:
        names.append("mixed splits")
    idx = np.array(of)
    idx[idx < 0] = len(names) - 1
    return names, idx


def timeline(
    path: Path | str,
    scenario: Scenario,
    cat: ModeCatalogue,
    runs: Mapping[str, FrameArrays],
    deadline_ms: float | None = None,
) -> None:
    """One scenario over time: the uplink capacity (from 0) and the scene on top; below, per
    policy, each frame's tier (row) and placement (colour: local or the split point), with
    missed-deadline and other risky frames marked in a lane above the tiers."""
    a = scenario.arrays
    preset = scenario.preset
    deadline = preset.deadline_ms if deadline_ms is None else deadline_ms
    n_pol = len(runs)
    fig, axes = plt.subplots(
        n_pol + 1,
        1,
        figsize=(11, 1.25 * n_pol + 3.4),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [1.5] + [1.0] * n_pol},
    )
    axes = axes[:, 0]
    top = axes[0]
    edges = np.concatenate([[0.0], np.cumsum(a["uplink_durations"])])
    keep = edges[:-1] <= scenario.duration_s
    rates = np.asarray(a["uplink_rates"])[keep]
    top.step(edges[:-1][keep], rates, where="post", lw=0.7, color="tab:blue")
    top.set_ylim(0, max(float(rates.max()) if len(rates) else 1.0, 1e-9) * 1.08)
    top.set_ylabel("uplink\n(Mbit/s)", fontsize=8)

    scenes = list(scenario.manifest["scenes"])
    scene_cmap = plt.get_cmap("Set2" if len(scenes) <= 8 else "tab20")
    scene_colors = {s: scene_cmap(i % scene_cmap.N) for i, s in enumerate(scenes)}
    starts = np.append(a["scene_starts"], scenario.duration_s)
    shown: list[str] = []
    for i, s in enumerate(a["scene_ids"].tolist()):
        lo, hi = float(starts[i]), min(float(starts[i + 1]), scenario.duration_s)
        if lo >= scenario.duration_s:
            break
        for ax in axes:
            ax.axvspan(lo, hi, color=scene_colors[scenes[s]], alpha=0.35 if ax is top else 0.18, lw=0)
        if scenes[s] not in shown:
            shown.append(scenes[s])

    tiers = list(cat.pipeline.tiers)
    tier_of = np.array([tiers.index(m.tier) for m in cat.modes])
    split_names, split_of = _split_of(cat)
    palette = [plt.get_cmap("tab10")(i) for i in range(10) if i != 7]  # tab10 without its grey
    split_colors = ["0.3"] + [palette[i % len(palette)] for i in range(len(split_names) - 1)]
    lane = len(tiers)  # the lane of missed / risky marks, above the tiers
    used: set[int] = set()
    for ax, (label, run) in zip(axes[1:], runs.items(), strict=True):
        t = np.arange(len(run.mode)) * preset.period_ms / 1000.0
        y = tier_of[run.mode]
        place = split_of[run.mode]
        for k in np.unique(place).tolist():
            sel = place == k
            ax.scatter(t[sel], y[sel], s=5, marker="s" if k == 0 else "o", color=split_colors[k], lw=0)
            used.add(k)
        missed = _missed(run, deadline)
        risky_met = np.asarray(run.risky, dtype=bool) & ~missed
        ax.scatter(t[missed], np.full(missed.sum(), lane), s=14, marker="x", color="tab:red", lw=0.9)
        ax.scatter(t[risky_met], np.full(risky_met.sum(), lane), s=12, marker="v", color="tab:purple", lw=0)
        ax.set_yticks(range(len(tiers) + 1))
        ax.set_yticklabels([*tiers, "missed/risky"], fontsize=6)
        ax.set_ylim(-0.6, lane + 0.6)
        ax.axhline(lane - 0.5, color="0.6", lw=0.5)
        n = max(len(run.mode), 1)
        ax.set_ylabel(
            f"{textwrap.shorten(label, 22)}\nmissed {missed.mean() * 100 if len(missed) else 0:.0f} %"
            f", risky {np.mean(run.risky) * 100 if len(run.risky) else 0:.0f} %\noffloaded "
            f"{np.asarray(run.offloaded).sum() / n * 100:.0f} %",
            fontsize=7,
            rotation=0,
            ha="right",
            va="center",
        )
    handles = [
        Line2D([], [], ls="", marker="s" if k == 0 else "o", color=split_colors[k], label=split_names[k])
        for k in sorted(used)
    ]
    handles += [
        Line2D([], [], ls="", marker="x", color="tab:red", label="deadline missed"),
        Line2D([], [], ls="", marker="v", color="tab:purple", label="risky (robustness too low)"),
    ]
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, scenario.duration_s)
    name = Path(scenario.path).stem if scenario.path else f"seed {scenario.seed}"
    fig.suptitle(
        f"Scenario {name}: uplink capacity and scene, and each policy's tier and placement per frame", fontsize=10
    )
    # the legends sit in a right-hand margin of their own, so they neither cover frames nor
    # stretch the rows
    margin = 0.8
    fig.tight_layout(rect=(0, 0, margin, 0.98))
    box = top.get_position()
    scene_legend = fig.legend(
        handles=[Patch(color=scene_colors[s], alpha=0.6, label=s) for s in shown],
        title="scene",
        title_fontsize=8,
        fontsize=7.5,
        loc="upper left",
        bbox_to_anchor=(margin + 0.01, box.y1),
    )
    fig.legend(
        handles=handles,
        title="placement (split point)",
        title_fontsize=8,
        fontsize=7.5,
        loc="upper left",
        bbox_to_anchor=(margin + 0.01, box.y0 - 0.01),
    )
    fig.add_artist(scene_legend)
    save(fig, path)


def modes_per_scene(
    path: Path | str, cat: ModeCatalogue, runs: Mapping[str, Sequence[FrameArrays]], wrap: int = 34
) -> None:
    """Per policy, how its frames split over tiers (colour) run locally (hatched) or offloaded
    (solid) in each scene; a scene without frames is marked so, and each scene's frame count
    is under its name."""
    tiers = list(cat.pipeline.tiers)
    tier_idx = np.array([tiers.index(m.tier) for m in cat.modes])
    n_pol = len(runs)
    cols = min(3, max(n_pol, 1))
    rows = max(1, math.ceil(n_pol / cols))
    height = 3.4 * rows + 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, height), squeeze=False)
    tier_colors = _colors(len(tiers))
    n_scenes = len(cat.scenes)
    x = np.arange(n_scenes)
    for k, (label, outs) in enumerate(runs.items()):
        ax = axes[k // cols][k % cols]
        counts = np.zeros((n_scenes, 2 * len(tiers)))
        for o in outs:
            c = tier_idx[o.mode] + len(tiers) * np.asarray(o.offloaded, dtype=int)
            np.add.at(counts, (o.scene, c), 1)
        total = counts.sum(axis=1)
        share = counts / np.maximum(total, 1)[:, None]
        bottom = np.zeros(n_scenes)
        for j in range(2 * len(tiers)):
            if share[:, j].any():
                offloaded = j >= len(tiers)
                ax.bar(
                    x,
                    share[:, j],
                    bottom=bottom,
                    color=tier_colors[j % len(tiers)],
                    alpha=1.0 if offloaded else 0.45,
                    hatch=None if offloaded else "///",
                    edgecolor="white",
                    lw=0.4,
                )
                bottom += share[:, j]
        for s in np.flatnonzero(total == 0).tolist():
            ax.axvspan(s - 0.4, s + 0.4, color="0.93", lw=0)
            ax.text(s, 0.5, "no frames", rotation=90, ha="center", va="center", fontsize=7, color="0.35")
        ax.set_xticks(x)
        ax.set_xticklabels([f"{s}\n{int(c)}" for s, c in zip(cat.scenes, total, strict=True)], fontsize=6.5)
        ax.set_ylim(0, 1)
        ax.set_title("\n".join(textwrap.wrap(label, wrap)) or label, fontsize=9)
        if k % cols == 0:
            ax.set_ylabel("share of the scene's frames")
    for k in range(n_pol, rows * cols):
        axes[k // cols][k % cols].axis("off")
    handles = [Patch(color=tier_colors[i], label=t) for i, t in enumerate(tiers)]
    handles += [
        Patch(facecolor="0.6", alpha=0.45, hatch="///", edgecolor="white", label="run locally"),
        Patch(facecolor="0.3", label="offloaded"),
    ]
    fig.legend(handles=handles, fontsize=7.5, loc="lower center", ncol=min(7, len(handles)), title="tier")
    fig.suptitle("Mode distribution per scene (share of frames; number under each scene: its frames)", fontsize=10)
    fig.tight_layout(rect=(0, 0.8 / height, 1, 1))
    save(fig, path)


# --- sweeps -----------------------------------------------------------------------------------


def shows_ci(n: int) -> bool:
    """Whether ``n`` values (seeds, scenarios) get a confidence interval rather than being
    drawn one by one (:data:`MIN_VALUES_FOR_CI`)."""
    return n >= MIN_VALUES_FOR_CI


@dataclass(frozen=True)
class SweepPoint:
    """One configuration of a sweep: its per-seed (or per-scenario) results."""

    label: str
    risky_rates: tuple[float, ...]  # fractions
    energies_mj: tuple[float, ...]


def sweep_pareto(path: Path | str, points: Sequence[SweepPoint], title: str) -> None:
    """Energy against risk per configuration: the mean with a 95 % Student-t CI when there
    are at least :data:`MIN_VALUES_FOR_CI` values, else every value as a small point around
    a hollow mean (an interval from two seeds would be wider than anything it describes)."""
    fig, ax = plt.subplots(figsize=(8, 5.5))
    colors = _colors(len(points))
    xs, ys = [], []
    any_points = False
    for color, marker, p in zip(colors, _markers(len(points)), points, strict=True):
        risk, energy = mean_ci(p.risky_rates), mean_ci(p.energies_mj)
        xs.append(risk.mean * 100)
        ys.append(energy.mean)
        if shows_ci(min(risk.n, energy.n)):
            ax.errorbar(
                risk.mean * 100,
                energy.mean,
                xerr=_err(risk, 100, 0, 100),
                yerr=_err(energy, 1, 0),
                fmt=marker,
                color=color,
                capsize=3,
                ms=5,
            )
        else:
            any_points = True
            r = np.asarray(p.risky_rates) * 100
            e = np.asarray(p.energies_mj)
            for ri, ei in zip(r, e, strict=True):
                ax.plot([risk.mean * 100, ri], [energy.mean, ei], color=color, lw=0.6, alpha=0.6)
            ax.scatter(r, e, s=14, color=color, marker="D", lw=0)
            ax.scatter([risk.mean * 100], [energy.mean], s=40, facecolors="white", edgecolors=[color], lw=1.3, zorder=3)
    _risk_axis(ax, "risky frames (%, linear below 1 %)")
    ax.set_ylabel("energy per frame (mJ)")
    ax.grid(alpha=0.3, which="both")
    ax.set_ylim(bottom=0)
    ax.margins(x=0.08, y=0.08)
    _freeze_limits(ax)
    left, right = ax.get_xlim()
    ax.set_xlim(min(left, -0.3), right)
    place_labels(ax, xs, ys, [p.label for p in points], colors)
    note = "filled dot with bars: mean and 95 % CI"
    if any_points:
        note += f"; fewer than {MIN_VALUES_FOR_CI} seeds: each seed (diamond) around the mean (hollow)"
    ax.set_title("\n".join(textwrap.wrap(f"{title} ({note})", 90)), fontsize=9)
    fig.tight_layout()
    save(fig, path)


def trace_capacity(path: Path | str, rates_mbps: np.ndarray, window_ms: float, mean_mbps: float, title: str) -> None:
    """A capacity trace over time in ``window_ms`` windows, outages shaded, its mean marked."""
    t = np.arange(len(rates_mbps)) * window_ms / 1000.0
    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.step(t, rates_mbps, where="post", lw=0.8, color="tab:blue", label=f"capacity ({window_ms:g} ms windows)")
    top = float(rates_mbps.max()) if len(rates_mbps) and rates_mbps.max() > 0 else 1.0
    ax.fill_between(t, 0, top, where=rates_mbps <= 0, step="post", color="tab:red", alpha=0.2, label="outage")
    ax.axhline(mean_mbps, color="k", lw=0.8, ls="--", label=f"mean {mean_mbps:.2f} Mbit/s")
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("capacity (Mbit/s)")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    save(fig, path)


def drive_map(path: Path | str, drive: Any, values: np.ndarray, label: str) -> None:
    """A drive's route coloured by a per-sample value (e.g. capacity in Mbit/s, logarithmic
    colours), samples with no capacity as red crosses, handovers as black triangles, start and
    end marked; axes in metres east/north of the route's centre at equal scale. Samples sit at
    positions interpolated between GPS fixes (:func:`romanus.drives.positions`).

    ``drive`` is a :class:`romanus.drives.Drive`; ``values`` has one value per sample.
    """
    from matplotlib.colors import LogNorm

    from romanus.drives import handovers, local_metres

    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(drive),):
        raise ValueError(f"drive_map needs one value per sample ({len(drive)}), got shape {values.shape}")
    east, north = local_metres(drive)
    fig, ax = plt.subplots(figsize=(8.5, 7.5))
    ax.plot(east, north, color="0.8", lw=2.5, zorder=1, solid_capstyle="round")
    positive = np.isfinite(values) & (values > 0)
    if positive.any():
        # colours over the 5th-99.5th percentile, at most three decades: a few kbit/s samples
        # at a download's start would otherwise squeeze the route into one colour
        hi = float(np.percentile(values[positive], 99.5))
        lo = max(float(np.percentile(values[positive], 5)), hi / 1000.0)
        hi = max(hi, lo * 10)
        keep = np.flatnonzero(positive)  # in time order: a later pass over a road draws on top
        sc = ax.scatter(
            east[keep],
            north[keep],
            c=np.clip(values[keep], lo, hi),
            cmap="viridis",
            norm=LogNorm(lo, hi),
            s=16,
            lw=0,
            zorder=2,
        )
        fig.colorbar(sc, ax=ax, shrink=0.8, pad=0.02, label=label)
    zero = np.isfinite(values) & (values <= 0)
    ax.scatter(
        east[zero],
        north[zero],
        marker="x",
        color="tab:red",
        s=14,
        lw=0.9,
        zorder=3,
        label=f"no capacity ({int(zero.sum())} samples)",
    )
    hos = handovers(drive)
    idx = np.asarray([h.index for h in hos], dtype=np.int64)
    inter = np.asarray([h.inter_rat for h in hos], dtype=bool)
    if len(idx):
        ax.scatter(
            east[idx[~inter]],
            north[idx[~inter]],
            marker="^",
            s=26,
            facecolor="k",
            edgecolor="w",
            lw=0.5,
            zorder=4,
            label=f"handover ({int((~inter).sum())})",
        )
        if inter.any():
            ax.scatter(
                east[idx[inter]],
                north[idx[inter]],
                marker="^",
                s=60,
                facecolor="tab:orange",
                edgecolor="k",
                lw=0.8,
                zorder=5,
                label=f"inter-RAT handover ({int(inter.sum())})",
            )
    ax.scatter(
        [east[0]], [north[0]], marker="o", s=80, facecolor="none", edgecolor="k", lw=1.5, zorder=6, label="start"
    )
    ax.scatter(
        [east[-1]], [north[-1]], marker="s", s=70, facecolor="none", edgecolor="k", lw=1.5, zorder=6, label="end"
    )
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("east of route centre (m)")
    ax.set_ylabel("north of route centre (m)")
    lat_c = (np.nanmin(drive.latitude) + np.nanmax(drive.latitude)) / 2
    lon_c = (np.nanmin(drive.longitude) + np.nanmax(drive.longitude)) / 2
    mean = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
    ax.set_title(
        f"{drive.name} ({drive.day}): {label}, sample mean {mean:.3g}\n"
        f"centre {lat_c:.4f}°N {abs(lon_c):.4f}°{'W' if lon_c < 0 else 'E'}, "
        f"{drive.duration_s / 60:.0f} min, {len(hos)} handovers",
        fontsize=9,
    )
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(loc="best", fontsize=8, framealpha=0.85)
    fig.tight_layout()
    save(fig, path)
