"""Figures: each draws from a small constructed input, and the helpers that place and name
things do what the figures rely on."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.text import Text

from romanus import plots
from romanus.config import load_preset
from romanus.plots import PolicyPoint, SweepPoint, short_label, short_labels, shows_ci, spread_labels
from romanus.scenario import record_scenario
from romanus.sim.simulator import build_catalogue
from romanus.stats import MeanCI

RUN = "runs/Default-v2__maskable_ppo__0__20261202-013512"


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures handed to ``plots.save`` (still written), to look inside them."""
    figures: list[Any] = []
    real_save = plots.save

    def keep(fig: Any, path: Path | str) -> None:
        figures.append(fig)
        fig.canvas.draw()
        real_save(fig, path)

    monkeypatch.setattr(plots, "save", keep)
    return figures


def test_plots_do_not_import_compare() -> None:
    code = "import sys, romanus.plots; assert 'romanus.compare' not in sys.modules, 'plots imports compare'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("policy", "label"),
    [
        ("local-robust", "local-robust"),
        ("scene-aware-greedy@0.25", "scene-aware-greedy@0.25"),
        (f"maskable_ppo:{RUN}", "maskable_ppo#0"),
        (f"maskable_ppo:{RUN}/", "maskable_ppo#0"),
        (f"ppo:/abs/{RUN.replace('maskable_ppo', 'ppo').replace('__0__', '__12__')}/best_model.zip", "ppo#12"),
        ("ppo:models/my_agent.zip", "ppo:models"),
        ("dqn:agents/handmade", "dqn:handmade"),
    ],
)
def test_short_label(policy: str, label: str) -> None:
    assert short_label(policy) == label


def test_short_labels_are_short_and_unique() -> None:
    long = "a-policy-name-that-goes-on-and-on-and-on"
    assert short_label(long, max_len=20) == long[:19] + "…" and len(short_label(long, max_len=20)) == 20
    other = RUN.replace("Default-v2", "Highway-v0")
    labels = short_labels([f"maskable_ppo:{RUN}", f"maskable_ppo:{other}", "random", "random"])
    assert labels == ["maskable_ppo#0 Default-v2", "maskable_ppo#0 Highway-v0", "random (1)", "random (2)"]


def test_spread_labels_keeps_order_gap_and_range() -> None:
    want = [0.0, 0.01, 0.02, 0.5, 0.51, 0.99, 1.0]
    got = spread_labels(want, 0.05, lo=0.02, hi=0.98)
    order = np.argsort(want, kind="stable")
    assert np.all(np.diff(got[order]) >= 0.05 - 1e-12)
    assert got.min() >= 0.02 - 1e-12 and got.max() <= 0.98 + 1e-12
    free = spread_labels([0.1, 0.5, 0.9], 0.05)
    assert np.allclose(free, [0.1, 0.5, 0.9])  # labels with room stay where they were wanted
    crowded = spread_labels(np.zeros(30), 0.05)
    assert np.allclose(np.sort(crowded), np.linspace(0, 1, 30))  # too many: evenly spread
    pair = spread_labels([0.5, 0.5], 0.1)
    assert sorted(pair) == pytest.approx([0.45, 0.55])  # centred on what they wanted


def test_placed_labels_stay_inside_the_axes_and_apart() -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [0.0, 0.0, 0.0, 0.01, 100.0, 99.0, 50.0, 4.0]
    ys = [100.0, 101.0, 99.0, 100.5, 0.0, 400.0, 200.0, 300.0]
    labels = ["local-robust", "risk-budget-greedy", "oracle", "maskable_ppo#0", "a-long-label-at-the-edge", "x", "y"]
    labels.append("a label right of its point too long to end before the right edge")
    ax.scatter(xs, ys)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(-0.3, 100.0)
    ax.set_ylim(0.0, 400.0)
    texts = plots.place_labels(ax, xs, ys, labels, ["k"] * len(xs))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg
    box = ax.get_window_extent(renderer)
    extents = [Text.get_window_extent(t, renderer) for t in texts]  # the texts, not their leader lines
    for ext, label in zip(extents, labels, strict=True):
        assert box.x0 <= ext.x0 and ext.x1 <= box.x1 and box.y0 <= ext.y0 and ext.y1 <= box.y1, label
    for a, b in itertools.combinations(extents, 2):
        assert not a.overlaps(b)
    plt.close(fig)


def ci(mean: float, half: float, n: int = 3) -> MeanCI:
    return MeanCI(mean, half, n)


def test_pareto_draws_the_paired_panel_with_bounded_intervals(tmp_path: Path, drawn: list[Any]) -> None:
    points = [
        PolicyPoint("local-robust", ci(0.0, 0.0), ci(390.0, 170.0)),
        PolicyPoint("oracle", ci(0.0, 0.0), ci(110.0, 70.0), ci(0.0, 0.0), ci(-275.0, 100.0)),
        PolicyPoint("robust-agnostic", ci(0.39, 0.84), ci(79.0, 4.0), ci(0.39, 0.84), ci(-310.0, 180.0)),
        PolicyPoint("maskable_ppo#0", ci(0.02, float("nan"), 1), ci(200.0, float("nan"), 1), None, None),
    ]
    plots.pareto(tmp_path / "pareto.png", points)
    assert (tmp_path / "pareto.png").stat().st_size > 0
    fig = drawn[-1]
    left, right = fig.axes
    assert left.get_xscale() == "symlog" and right.get_xscale() == "symlog"
    assert "local-robust" in right.get_ylabel()
    texts = {t.get_text() for t in right.texts}
    assert {"oracle", "robust-agnostic"} <= texts and "local-robust" not in texts  # the reference is the origin
    assert {t.get_text() for t in left.texts} == {p.label for p in points}
    assert left.get_legend() is None and right.get_legend() is None  # labels on the points instead
    for ax in (left, right):  # a risky rate lies in [0, 100] %: no interval reaches below what is possible
        for container in ax.containers:
            assert isinstance(container, ErrorbarContainer)
            for segments in container.lines[2]:
                xs = np.concatenate([s[:, 0] for s in segments.get_segments()])
                assert xs.min() >= (0.0 if ax is left else -1e-9) - 1e-9 and xs.max() <= 100.0 + 1e-9


def test_latency_cdf_names_each_miss_rate(tmp_path: Path, drawn: list[Any]) -> None:
    rng = np.random.default_rng(0)
    lat = {"a": rng.uniform(20, 120, 500), "b": rng.uniform(20, 90, 500), "c": np.full(10, 50.0)}
    plots.latency_cdf(tmp_path / "cdf.png", lat, 100.0, {"a": 0.2, "b": 0.0, "c": 0.0})
    assert (tmp_path / "cdf.png").stat().st_size > 0
    titles = [ax.get_title() for ax in drawn[-1].axes if ax.get_title()]
    assert titles == ["a\nmissed 20.0 %", "b\nmissed 0.0 %", "c\nmissed 0.0 %"]
    plots.latency_cdf(tmp_path / "cdf2.png", {"a": lat["a"]}, 100.0)  # without rates: from the latencies
    expected = np.mean(lat["a"] > 100.0) * 100
    assert drawn[-1].axes[0].get_title() == f"a\nmissed {expected:.1f} %"


class Run:
    def __init__(self, n: int, n_modes: int, n_scenes: int, seed: int, scene: int | None = None) -> None:
        rng = np.random.default_rng(seed)
        self.mode = rng.integers(0, n_modes, n)
        self.scene = np.full(n, scene) if scene is not None else rng.integers(0, n_scenes, n)
        self.offloaded = rng.random(n) < 0.5
        self.latency_ms = rng.uniform(20, 110, n)
        self.deadline_met = self.latency_ms <= 100
        self.risky = ~self.deadline_met | (rng.random(n) < 0.1)


def test_timeline_marks_scenes_splits_and_misses(tmp_path: Path, drawn: list[Any]) -> None:
    sc = record_scenario(load_preset("default"), 3, 6.0)
    cat = build_catalogue(sc.preset)
    runs = {f"p{i}": Run(sc.frames, len(cat.modes), len(cat.scenes), i) for i in range(2)}
    plots.timeline(tmp_path / "timeline.png", sc, cat, runs)
    assert (tmp_path / "timeline.png").stat().st_size > 0
    fig = drawn[-1]
    assert fig.axes[0].get_ylim()[0] == 0.0  # the uplink axis starts at 0
    legends = {lg.get_title().get_text(): [t.get_text() for t in lg.get_texts()] for lg in fig.legends}
    assert set(legends) == {"scene", "placement (split point)"}
    assert legends["scene"] and set(legends["scene"]) <= set(cat.scenes)
    assert {"local", "deadline missed", "risky (robustness too low)"} <= set(legends["placement (split point)"])
    assert set(legends["placement (split point)"]) & set(cat.pipeline.split_points)
    row = fig.axes[1]
    assert row.get_yticklabels()[-1].get_text() == "missed/risky"
    missed = int((~runs["p0"].deadline_met).sum())
    lane = len(cat.pipeline.tiers)
    marks = [c for c in row.collections if len(c.get_offsets()) and np.all(c.get_offsets()[:, 1] == lane)]
    assert sum(len(c.get_offsets()) for c in marks) == missed + int((runs["p0"].risky & runs["p0"].deadline_met).sum())


def test_modes_per_scene_marks_empty_scenes_and_counts(tmp_path: Path, drawn: list[Any]) -> None:
    cat = build_catalogue(load_preset("default"))
    runs = {
        "a-policy-with-a-long-name-that-would-not-fit-in-one-title-line": [Run(50, len(cat.modes), 0, 1, scene=0)],
        "b": [Run(30, len(cat.modes), 0, 2, scene=0), Run(20, len(cat.modes), 0, 3, scene=2)],
    }
    plots.modes_per_scene(tmp_path / "modes.png", cat, runs)
    assert (tmp_path / "modes.png").stat().st_size > 0
    fig = drawn[-1]
    first, second = fig.axes[:2]
    assert sum(t.get_text() == "no frames" for t in first.texts) == len(cat.scenes) - 1
    assert sum(t.get_text() == "no frames" for t in second.texts) == len(cat.scenes) - 2
    ticks = [t.get_text() for t in second.get_xticklabels()]
    assert ticks[0] == f"{cat.scenes[0]}\n30" and ticks[2] == f"{cat.scenes[2]}\n20" and ticks[1].endswith("\n0")
    assert "\n" in first.get_title()  # wrapped, not cut


def test_fewer_than_three_seeds_are_points(tmp_path: Path, drawn: list[Any]) -> None:
    assert not shows_ci(2) and shows_ci(3)
    points = [
        SweepPoint("ppo base", (0.10, 0.60), (100.0, 700.0)),  # 2 seeds: a t interval would span -1900..2700 mJ
        SweepPoint("dqn base", (0.01, 0.02, 0.03), (300.0, 310.0, 320.0)),
    ]
    plots.sweep_pareto(tmp_path / "sweep.png", points, "Sweep t")
    assert (tmp_path / "sweep.png").stat().st_size > 0
    ax = drawn[-1].axes[0]
    assert len(ax.containers) == 1  # only the 3-seed configuration has error bars
    (bars,) = ax.containers
    y = bars.lines[0].get_ydata()
    assert y[0] == pytest.approx(310.0)
    seeds = [c for c in ax.collections if len(c.get_offsets()) == 2]
    assert len(seeds) == 1 and sorted(seeds[0].get_offsets()[:, 1].tolist()) == [100.0, 700.0]
    assert ax.get_ylim()[0] >= 0.0  # nothing drawn below 0 mJ
