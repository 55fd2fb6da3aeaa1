"""Compare policies on the same recorded scenarios: tables, confidence intervals, plots.

Every policy replays every scenario (common random numbers); tasks run serially or on a
process pool and give identical results either way. Outputs (``out/``):

- ``results.csv``: one row per policy x scenario (columns in :data:`RESULT_COLUMNS`);
- ``frames/<policy>__<scenario>.parquet``: the per-frame records of each run (a trained
  agent's file name adds a hash of its full spec, so two models of one run never collide);
- ``summary.md`` and ``summary.csv``: per policy, means with 95 % Student-t confidence
  intervals over scenarios; the paired differences against ``local-robust`` (energy, risky
  rate) with their Student-t intervals; and the paper's two headline metrics (energy saving vs
  ``local-robust``, risky-frame reduction vs ``robust-agnostic``) with paired BCa bootstrap
  intervals (:mod:`romanus.stats`);
- ``pareto.png``, ``latency_cdf.png``, ``timeline.png`` (one scenario, ``timeline_scenario``),
  ``modes_per_scene.png`` (:mod:`romanus.plots`, which is handed the data and imports nothing
  from here).

Outputs are made in a private folder inside ``out/`` and published together under a lock:
the files a comparison owns (:data:`OWNED`) are replaced as a set, so a re-run leaves no stale
frame logs and two comparisons writing to one folder never mix their files.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from romanus.fileio import atomic_write_bytes
from romanus.scenario import Scenario
from romanus.sim.records import FrameLog, kpis
from romanus.sim.simulator import Simulator, build_catalogue
from romanus.stats import MeanCI, RatioCI, mean_ci, paired_difference, reduction_ci
from romanus.vehicle.view import drive
from romanus.workers import worker_pool

__all__ = [
    "PAIRED_METRICS",
    "REFERENCE_POLICY",
    "RESULT_COLUMNS",
    "SUMMARY_METRICS",
    "CompareResult",
    "compare",
    "paired_difference_ci",
    "paired_values",
    "plot_timeline",
    "run_one",
    "scenario_index",
    "summarise",
    "summary_csv",
    "summary_markdown",
]

log = logging.getLogger(__name__)

#: columns of results.csv, in order (documented in the README)
RESULT_COLUMNS: tuple[str, ...] = (
    "policy",
    "scenario",
    "seed",
    "checksum",
    "frames",
    "energy_per_frame_mj",
    "compute_energy_per_frame_mj",
    "radio_energy_per_frame_mj",
    "radio_transfer_energy_per_frame_mj",
    "radio_state_energy_per_frame_mj",
    "idle_energy_per_frame_mj",
    "risky_rate",
    "deadline_miss_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "longest_miss_streak",
    "offload_fraction",
    "uplink_kbytes_per_frame",
    "aoi_mean_ms",
    "aoi_peak_ms",
    "fallback_armed_fraction",
    "fallback_rate",
    "wasted_energy_per_frame_mj",
    "deadline_mean_ms",
)

#: the policy every other is paired against, scenario by scenario
REFERENCE_POLICY = "local-robust"

#: (results.csv column, label, scale, unit) of the paired differences against the reference
PAIRED_METRICS: tuple[tuple[str, str, float, str], ...] = (
    ("energy_per_frame_mj", "Δ energy/frame", 1.0, "mJ"),
    ("risky_rate", "Δ risky", 100.0, "pp"),
)

#: (results.csv column, label, scale, unit) of the summary table
SUMMARY_METRICS: tuple[tuple[str, str, float, str], ...] = (
    ("energy_per_frame_mj", "energy/frame", 1.0, "mJ"),
    ("risky_rate", "risky", 100.0, "%"),
    ("deadline_miss_rate", "missed", 100.0, "%"),
    ("latency_p95_ms", "p95 latency", 1.0, "ms"),
    ("latency_p99_ms", "p99 latency", 1.0, "ms"),
    ("longest_miss_streak", "longest miss streak", 1.0, "frames"),
    ("offload_fraction", "offloaded", 100.0, "%"),
    ("fallback_rate", "fell back", 100.0, "%"),
    ("wasted_energy_per_frame_mj", "wasted/frame", 1.0, "mJ"),
)


@dataclass
class RunOutput:
    """What one policy x scenario run hands back to the parent process."""

    row: dict[str, Any]
    latency_ms: np.ndarray
    mode: np.ndarray
    scene: np.ndarray
    offloaded: np.ndarray
    energy_mj: np.ndarray  # compute + radio, per frame
    risky: np.ndarray
    deadline_met: np.ndarray | None = None


PolicyFactory = Callable[[str, Simulator], Any]


@lru_cache(maxsize=8)
def _load(path: str) -> Scenario:
    return Scenario.load(path)


def _default_factory(spec: str, sim: Simulator) -> Any:
    from romanus.policies import policy_for

    return policy_for(sim, spec)  # fixed policies and trained agents (<algo>:RUN_DIR) alike


def run_one(policy: str, scenario_path: str, frames_dir: str | None, factory: PolicyFactory | None = None) -> RunOutput:
    """Replay one scenario under one policy; optionally write its per-frame log (Parquet)."""
    sc = _load(scenario_path)
    sim = Simulator(sc.preset, sc.seed, world=sc.world())
    pol = (factory or _default_factory)(policy, sim)
    frames = drive(sim, pol, sc.frames)
    name = Path(scenario_path).stem
    if frames_dir is not None:
        _write_parquet(frames, sim, Path(frames_dir) / f"{frame_log_stem(policy)}__{name}.parquet")
    k = kpis(frames)
    row = {"policy": policy, "scenario": name, "seed": sc.seed, "checksum": sc.checksum, **k}
    row["frames"] = int(k["frames"])
    return RunOutput(
        row,
        frames["latency_ms"],
        frames["mode"],
        frames["scene"],
        frames["offloaded"],
        frames["compute_mj"] + frames["radio_mj"],
        frames["risky"],
        frames["deadline_met"],
    )


def display_name(policy: str) -> str:
    """A short label: trained agents by algorithm and run folder name, not full path."""
    algo, sep, target = policy.partition(":")
    if not sep:
        return policy
    path = Path(target)
    name = path.name if path.name not in ("best_model.zip", "final_model.zip") else path.parent.name
    return f"{algo}:{name}"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def frame_log_stem(policy: str) -> str:
    """The frame-log file name of a policy: its name, or for a trained agent its short name
    plus a hash of the full spec (``best_model.zip`` and ``final_model.zip`` of one run differ)."""
    if ":" not in policy:
        return _safe(policy)
    return f"{_safe(display_name(policy))}-{hashlib.sha256(policy.encode()).hexdigest()[:8]}"


#: what a comparison writes into its output folder (replaced as a set on publishing)
OWNED = (
    "frames",
    "results.csv",
    "summary.md",
    "summary.csv",
    "pareto.png",
    "latency_cdf.png",
    "timeline.png",
    "modes_per_scene.png",
)


def _publish(staging: Path, out: Path) -> None:
    """Move a finished comparison from ``staging`` into ``out``, replacing what an earlier one
    left there, under a lock (concurrent comparisons into one folder publish one at a time)."""
    with open(out / ".compare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in OWNED:
            old = out / name
            if old.is_dir():
                shutil.rmtree(old)
            elif old.exists():
                old.unlink()
        for item in staging.iterdir():
            os.replace(item, out / item.name)


def _write_parquet(frames: FrameLog, sim: Simulator, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = dict(frames.columns)
    names = [m.name for m in sim.catalogue.modes]
    table = pa.table(
        {
            **cols,
            "mode_name": pa.array([names[i] for i in cols["mode"].tolist()]),
            "scene_name": pa.array([sim.catalogue.scenes[i] for i in cols["scene"].tolist()]),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    atomic_write_bytes(path, buf.getvalue())


def _run_star(args: tuple[str, str, str | None]) -> RunOutput:
    return run_one(*args)


@dataclass
class CompareResult:
    policies: list[str]
    scenarios: list[str]
    outputs: list[RunOutput]  # policy-major order
    paths: list[str] = field(default_factory=list)  # the scenario files

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [o.row for o in self.outputs]

    def by_policy(self, policy: str) -> list[RunOutput]:
        return [o for o in self.outputs if o.row["policy"] == policy]


def compare(
    scenarios: Sequence[str | Path],
    policies: Sequence[str],
    out_dir: str | Path | None,
    *,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    timeline_scenario: int | str = 0,
) -> CompareResult:
    """Run every policy on every scenario; write the outputs into ``out_dir`` (if given), the
    timeline figure of scenario ``timeline_scenario`` (index or name, see :func:`scenario_index`)."""
    paths = [str(Path(p)) for p in scenarios]
    staging: Path | None = None
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".compare-", dir=out_dir))
    try:
        result = _compare(paths, policies, staging, workers, progress)
        if staging is not None and out_dir is not None:
            write_outputs(result, staging, _load(paths[0]), timeline_scenario=timeline_scenario)
            _publish(staging, Path(out_dir))
            log.info("wrote %s", os.fspath(out_dir))
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return result


def _compare(
    paths: list[str],
    policies: Sequence[str],
    staging: Path | None,
    workers: int,
    progress: Callable[[int], None] | None,
) -> CompareResult:
    frames_dir = None if staging is None else str(staging / "frames")
    tasks = [(p, s, frames_dir) for p in policies for s in paths]
    if workers > 1 and len(tasks) > 1:
        with worker_pool(workers) as pool:
            outputs = []
            for out in pool.map(_run_star, tasks, chunksize=max(1, len(tasks) // (workers * 8))):
                outputs.append(out)
                if progress is not None:
                    progress(1)
    else:
        outputs = []
        for task in tasks:
            outputs.append(_run_star(task))
            if progress is not None:
                progress(1)
    return CompareResult(list(policies), [Path(p).stem for p in paths], outputs, paths)


def write_results_csv(result: CompareResult, path: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RESULT_COLUMNS)
    for row in result.rows:
        w.writerow([repr(row[c]) if isinstance(row[c], float) else row[c] for c in RESULT_COLUMNS])
    atomic_write_bytes(path, buf.getvalue().encode())


def paired_values(result: CompareResult, policy: str, reference: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """``key`` of ``policy`` and of ``reference`` on the scenarios both ran, in the same
    scenario order (the pairs of common random numbers)."""
    ref = {o.row["scenario"]: float(o.row[key]) for o in result.by_policy(reference)}
    pairs = [(float(o.row[key]), ref[o.row["scenario"]]) for o in result.by_policy(policy) if o.row["scenario"] in ref]
    return np.array([p for p, _ in pairs]), np.array([r for _, r in pairs])


def paired_difference_ci(result: CompareResult, policy: str, reference: str, key: str, level: float = 0.95) -> MeanCI:
    """Mean over scenarios of ``policy``'s ``key`` minus ``reference``'s on the same scenario,
    with a Student-t interval on the differences."""
    values, ref = paired_values(result, policy, reference, key)
    return paired_difference(values, ref, level)


def _paired(result: CompareResult, policy: str, reference: str, key: str) -> RatioCI:
    """``1 - policy / reference`` for ``key``, summed over the scenarios both ran."""
    values, ref = paired_values(result, policy, reference, key)
    return reduction_ci(values, ref)


def _diff_key(column: str) -> str:
    return f"{column}_diff_vs_{REFERENCE_POLICY.replace('-', '_')}"


def summarise(result: CompareResult) -> dict[str, dict[str, Any]]:
    """Per policy: {metric: MeanCI} for the summary metrics; when ``local-robust`` took part,
    {``<metric>_diff_vs_local_robust``: MeanCI} for the paired differences of
    :data:`PAIRED_METRICS`; {headline: RatioCI} for the two headline metrics (when their
    reference policy took part)."""
    out: dict[str, dict[str, Any]] = {}
    for p in result.policies:
        runs = result.by_policy(p)
        stats: dict[str, Any] = {key: mean_ci([o.row[key] for o in runs]) for key, *_ in SUMMARY_METRICS}
        if REFERENCE_POLICY in result.policies:
            for key, *_ in PAIRED_METRICS:
                stats[_diff_key(key)] = paired_difference_ci(result, p, REFERENCE_POLICY, key)
            stats["energy_saving_vs_local_robust"] = _paired(result, p, REFERENCE_POLICY, "energy_per_frame_mj")
        if "robust-agnostic" in result.policies:
            stats["risky_reduction_vs_robust_agnostic"] = _paired(result, p, "robust-agnostic", "risky_rate")
        out[p] = stats
    return out


def _fmt_ratio(r: RatioCI) -> str:
    if r.n == 0 or math.isnan(r.estimate):
        return "n/a"
    if math.isnan(r.low):
        return f"{r.estimate * 100:.1f}"
    return f"{r.estimate * 100:.1f} [{r.low * 100:.1f}, {r.high * 100:.1f}]"


def _fmt(ci: Any, scale: float = 1.0, digits: int = 1) -> str:
    if ci.n == 0 or math.isnan(ci.mean):
        return "n/a"
    if math.isnan(ci.half_width):
        return f"{ci.mean * scale:.{digits}f}"
    return f"{ci.mean * scale:.{digits}f} ± {ci.half_width * scale:.{digits}f}"


def _fmt_interval(ci: MeanCI, scale: float = 1.0, digits: int = 1) -> str:
    if ci.n == 0 or math.isnan(ci.mean):
        return "n/a"
    mean = ci.mean * scale + 0.0  # no "-0.0"
    if math.isnan(ci.half_width):
        return f"{mean:+.{digits}f}"
    return f"{mean:+.{digits}f} [{ci.low * scale + 0.0:.{digits}f}, {ci.high * scale + 0.0:.{digits}f}]"


def summary_markdown(result: CompareResult, title: str, *, timeline_scenario: int | str = 0) -> str:
    stats = summarise(result)
    n = len(result.scenarios)
    paired = REFERENCE_POLICY in result.policies
    lines = [
        f"# {title}",
        "",
        f"{len(result.policies)} policies x {n} scenarios (common random numbers: every policy replays the same "
        "recorded inputs). Means over scenarios with 95 % Student-t confidence intervals.",
        "",
    ]
    head = ["policy"] + [f"{label} ({unit})" for _, label, _, unit in SUMMARY_METRICS]
    if paired:
        head += [f"{label} vs {REFERENCE_POLICY} ({unit})" for _, label, _, unit in PAIRED_METRICS]
    head += ["energy saving vs local-robust (%)", "risky reduction vs robust-agnostic (%)"]
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for p in result.policies:
        s = stats[p]
        cells = [f"`{display_name(p)}`"] + [_fmt(s[key], scale) for key, _, scale, _ in SUMMARY_METRICS]
        if paired:
            cells += [_fmt_interval(s[_diff_key(key)], scale) for key, _, scale, _ in PAIRED_METRICS]
        for key in ("energy_saving_vs_local_robust", "risky_reduction_vs_robust_agnostic"):
            cells.append(_fmt_ratio(s[key]) if key in s else "n/a")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Δ columns: the policy minus {REFERENCE_POLICY} on the same scenario, averaged over scenarios, with the "
        "95 % Student-t interval [low, high] of those paired differences (pp: percentage points). "
        "Headline metrics (the paper's) compare totals over the same scenarios: energy saving = 1 - E(policy) / "
        "E(local-robust), risky reduction = 1 - risky(policy) / risky(robust-agnostic), with 95 % intervals "
        "[low, high] from resampling scenarios (paired BCa bootstrap). Other cells: mean ± half-width. "
        "The same numbers are in `summary.csv`.",
        "",
        "Figures: `pareto.png` (energy vs risk, absolute and paired), `latency_cdf.png`, `timeline.png` "
        f"(scenario {_timeline_name(result, timeline_scenario)}; `romanus.compare.plot_timeline(result, path, "
        "scenario)` draws any other), `modes_per_scene.png`.",
        "",
    ]
    return "\n".join(lines)


def summary_csv(result: CompareResult) -> str:
    """The summary as CSV: one row per policy; per metric its mean and 95 % interval bounds
    (``<metric>``, ``<metric>_low``, ``<metric>_high``), unscaled (fractions, mJ, ms)."""
    stats = summarise(result)
    keys = [key for key, *_ in SUMMARY_METRICS]
    if REFERENCE_POLICY in result.policies:
        keys += [_diff_key(key) for key, *_ in PAIRED_METRICS]
    ratios = ["energy_saving_vs_local_robust", "risky_reduction_vs_robust_agnostic"]
    head = ["policy", "scenarios"] + [f"{k}{suffix}" for k in keys + ratios for suffix in ("", "_low", "_high")]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for p in result.policies:
        s = stats[p]
        row: list[Any] = [p, len(result.by_policy(p))]
        for k in keys:
            ci = s[k]
            row += [ci.mean, ci.low, ci.high]
        for k in ratios:
            r = s.get(k)
            row += [math.nan] * 3 if r is None else [r.estimate, r.low, r.high]
        w.writerow([repr(v) if isinstance(v, float) else v for v in row])
    return buf.getvalue()


def scenario_index(result: CompareResult, which: int | str) -> int:
    """The index of a scenario of ``result``: an index (negative counts from the end), a
    scenario name (file stem, e.g. ``seed-00001``) or a number written as text."""
    n = len(result.scenarios)
    if isinstance(which, str) and which in result.scenarios:
        return result.scenarios.index(which)
    try:
        index = int(which)
    except ValueError:
        raise ValueError(f"no scenario {which!r}; the scenarios are {', '.join(result.scenarios)}") from None
    if not -n <= index < n:
        raise ValueError(f"scenario index {index} out of range: there are {n} scenarios")
    return index % n


def _timeline_name(result: CompareResult, which: int | str) -> str:
    try:
        return f"`{result.scenarios[scenario_index(result, which)]}`"
    except (ValueError, IndexError):
        return f"{which!r}"


def plot_timeline(result: CompareResult, path: str | Path, scenario: int | str = 0) -> Path:
    """Draw ``timeline.png`` for one scenario of ``result`` (index or name) into ``path``."""
    from romanus import plots

    index = scenario_index(result, scenario)
    name = result.scenarios[index]
    sc = _load(result.paths[index])
    labels = plots.short_labels(result.policies)
    runs = {}
    for label, p in zip(labels, result.policies, strict=True):
        runs[label] = next(o for o in result.by_policy(p) if o.row["scenario"] == name)
    plots.timeline(Path(path), sc, build_catalogue(sc.preset), runs)
    return Path(path)


def _pareto_points(result: CompareResult, stats: dict[str, dict[str, Any]], labels: list[str]) -> list[Any]:
    from romanus.plots import PolicyPoint

    points = []
    for label, p in zip(labels, result.policies, strict=True):
        s = stats[p]
        paired = p != REFERENCE_POLICY and _diff_key("energy_per_frame_mj") in s
        points.append(
            PolicyPoint(
                label,
                s["risky_rate"],
                s["energy_per_frame_mj"],
                s[_diff_key("risky_rate")] if paired else None,
                s[_diff_key("energy_per_frame_mj")] if paired else None,
            )
        )
    return points


def _pooled_miss_rate(runs: Sequence[RunOutput]) -> float:
    """The share of all frames of ``runs`` that missed the deadline."""
    frames = sum(float(o.row["frames"]) for o in runs)
    if frames <= 0:
        return float(np.mean([o.row["deadline_miss_rate"] for o in runs])) if runs else math.nan
    return sum(float(o.row["deadline_miss_rate"]) * float(o.row["frames"]) for o in runs) / frames


def write_outputs(result: CompareResult, out: Path, first: Scenario, *, timeline_scenario: int | str = 0) -> None:
    from romanus import plots

    out.mkdir(parents=True, exist_ok=True)
    write_results_csv(result, out / "results.csv")
    title = f"{first.manifest['preset_name']}: policy comparison"
    text = summary_markdown(result, title, timeline_scenario=timeline_scenario)
    atomic_write_bytes(out / "summary.md", text.encode())
    atomic_write_bytes(out / "summary.csv", summary_csv(result).encode())
    preset = first.preset
    cat = build_catalogue(preset)
    stats = summarise(result)
    labels = plots.short_labels(result.policies)
    plots.pareto(out / "pareto.png", _pareto_points(result, stats, labels), reference=REFERENCE_POLICY)
    plots.latency_cdf(
        out / "latency_cdf.png",
        {
            lab: np.concatenate([o.latency_ms for o in result.by_policy(p)])
            for lab, p in zip(labels, result.policies, strict=True)
        },
        preset.deadline_ms,
        {lab: _pooled_miss_rate(result.by_policy(p)) for lab, p in zip(labels, result.policies, strict=True)},
    )
    if result.paths:
        plot_timeline(result, out / "timeline.png", timeline_scenario)
    plots.modes_per_scene(
        out / "modes_per_scene.png",
        cat,
        {lab: result.by_policy(p) for lab, p in zip(labels, result.policies, strict=True)},
    )
