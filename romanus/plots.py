"""Figures of the comparison harness (matplotlib, Agg backend, written atomically)."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from romanus.compare import display_name
from romanus.fileio import atomic_write_bytes
from romanus.pipeline.modes import ModeCatalogue
from romanus.scenario import Scenario

__all__ = ["latency_cdf", "modes_per_scene", "pareto", "save", "timeline"]


def save(fig: Any, path: Path | str) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, dpi=120, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _colors(n: int) -> list[Any]:
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def pareto(path: Path, policies: Sequence[str], stats: Mapping[str, Mapping[str, Any]]) -> None:
    """Energy per frame against the risky-frame rate, with 95 % CIs on both axes."""
    fig, ax = plt.subplots(figsize=(7, 5))
    for color, p in zip(_colors(len(policies)), policies, strict=True):
        e, r = stats[p]["energy_per_frame_mj"], stats[p]["risky_rate"]
        xerr = None if math.isnan(r.half_width) else r.half_width * 100
        yerr = None if math.isnan(e.half_width) else e.half_width
        label = display_name(p)
        ax.errorbar(r.mean * 100, e.mean, xerr=xerr, yerr=yerr, fmt="o", color=color, capsize=3, label=label)
        ax.annotate(label, (r.mean * 100, e.mean), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel("risky frames (%)")
    ax.set_ylabel("energy per frame (mJ)")
    ax.set_title("Energy vs risk (lower left is better; 95 % CIs over scenarios)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    save(fig, path)


def latency_cdf(path: Path, latencies: Mapping[str, np.ndarray], deadline_ms: float) -> None:
    """Empirical CDF of frame latency per policy (abandoned frames at the abandon time)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for color, (p, lat) in zip(_colors(len(latencies)), latencies.items(), strict=True):
        xs = np.sort(lat)
        ax.step(xs, np.arange(1, len(xs) + 1) / max(len(xs), 1), where="post", color=color, label=display_name(p))
    ax.axvline(deadline_ms, color="k", ls="--", lw=0.8, label="deadline")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("share of frames")
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Latency CDF (all scenarios pooled)")
    fig.tight_layout()
    save(fig, path)


def _tier_style(cat: ModeCatalogue) -> dict[str, int]:
    return {t: i for i, t in enumerate(cat.pipeline.tiers)}


def timeline(path: Path, scenario: Scenario, cat: ModeCatalogue, runs: Mapping[str, Any]) -> None:
    """Uplink capacity and scene over time, and each policy's chosen tier and placement."""
    a = scenario.arrays
    n_pol = len(runs)
    fig, axes = plt.subplots(n_pol + 1, 1, figsize=(11, 1.3 * (n_pol + 1) + 1.2), sharex=True)
    axes = np.atleast_1d(axes)
    top = axes[0]
    edges = np.concatenate([[0.0], np.cumsum(a["uplink_durations"])])
    keep = edges[:-1] <= scenario.duration_s
    top.step(edges[:-1][keep], a["uplink_rates"][keep], where="post", lw=0.7, color="tab:blue")
    top.set_ylabel("uplink\n(Mbit/s)", fontsize=8)
    scenes = scenario.manifest["scenes"]
    starts = np.append(a["scene_starts"], scenario.duration_s)
    scene_colors = _colors(len(scenes))
    for i, s in enumerate(a["scene_ids"].tolist()):
        lo, hi = starts[i], min(starts[i + 1], scenario.duration_s)
        if lo >= scenario.duration_s:
            break
        top.axvspan(lo, hi, color=scene_colors[s], alpha=0.15, lw=0)
        top.text(lo, top.get_ylim()[1] * 0.9 if top.get_ylim()[1] > 0 else 1, scenes[s], fontsize=7, va="top")
    tiers = _tier_style(cat)
    tier_of = np.array([tiers[m.tier] for m in cat.modes])
    for ax, (p, run) in zip(axes[1:], runs.items(), strict=True):
        t = np.arange(len(run.mode)) * scenario.preset.period_ms / 1000.0
        y = tier_of[run.mode]
        off = run.offloaded.astype(bool)
        ax.scatter(t[~off], y[~off], s=3, marker="s", color="tab:gray", label="local")
        ax.scatter(t[off], y[off], s=3, marker="o", color="tab:orange", label="offloaded")
        ax.set_yticks(range(len(tiers)))
        ax.set_yticklabels(list(tiers), fontsize=6)
        ax.set_ylabel(display_name(p), fontsize=8, rotation=0, ha="right", va="center")
        ax.set_ylim(-0.5, len(tiers) - 0.5)
    axes[1].legend(fontsize=6, loc="upper right", markerscale=3)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(
        f"Chosen tier (orange: offloaded) against uplink capacity and scene: {Path(scenario.path or '').stem}",
        fontsize=9,
    )
    fig.tight_layout()
    save(fig, path)


def modes_per_scene(path: Path, cat: ModeCatalogue, runs: Mapping[str, Sequence[Any]]) -> None:
    """For each policy, how its frames split over tiers (local / offloaded) in each scene."""
    tiers = list(cat.pipeline.tiers)
    cats = [f"{t} local" for t in tiers] + [f"{t} offloaded" for t in tiers]
    tier_idx = np.array([tiers.index(m.tier) for m in cat.modes])
    n_pol = len(runs)
    cols = min(3, n_pol)
    rows = math.ceil(n_pol / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    colors = _colors(len(cats))
    for k, (p, outs) in enumerate(runs.items()):
        ax = axes[k // cols][k % cols]
        counts = np.zeros((len(cat.scenes), len(cats)))
        for o in outs:
            c = tier_idx[o.mode] + len(tiers) * o.offloaded.astype(int)
            np.add.at(counts, (o.scene, c), 1)
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        bottom = np.zeros(len(cat.scenes))
        for j in range(len(cats)):
            if share[:, j].any():
                ax.bar(range(len(cat.scenes)), share[:, j], bottom=bottom, color=colors[j], label=cats[j])
                bottom += share[:, j]
        ax.set_xticks(range(len(cat.scenes)))
        ax.set_xticklabels(cat.scenes, rotation=45, fontsize=7)
        ax.set_title(display_name(p), fontsize=9)
        ax.set_ylim(0, 1)
    for k in range(n_pol, rows * cols):
        axes[k // cols][k % cols].axis("off")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=min(5, len(labels)))
    fig.suptitle("Mode distribution per scene (share of frames)", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.96))
    save(fig, path)
