"""Place on held-out days (issue 16, item 5): map-free vs map-aware heuristics vs a learner
that sees the map and the KPIs, and how well the map predicts a short period one second ahead.

World: the default preset with the radio kept connected and speed deadlines
(``radio.accounting: connected``, ``deadlines.model: speed``), driven by the irish-5g drives
cut into 120 s windows. Days (``romanus.drives.Drive.day``):

- **training days** (2019-12-16, 2019-12-17, 2020-01-16): the learners train on their windows;
  the validation map is built from them;
- **validation day** (2020-02-13): every setting is chosen here (the heuristics' budget, the
  learner among those that see the map), with the validation map, which has not seen this day;
- **test day** (2020-02-14, the latest): reported only; the test map is built from all four
  earlier days (never from the test day; the recording and the env refuse that).

Stages (each skipped when its output exists, so an interrupted study resumes):

1. maps, capacity libraries and suites (``romanus coverage build``, ``romanus coverage paths``,
   ``romanus scenario suite`` as functions): beside each map, a library of the same days'
   windows is the risk estimate's population prior (:mod:`romanus.vehicle.population`; an
   estimate passes over its own drive's transitions); ``--no-population`` leaves it out;
2. the learners (:func:`romanus.train.suite.train_on_suite`): MaskablePPO on the training days'
   windows, one or more seeds per learner of :data:`LEARNERS` (observation ``place``: the
   vehicle's measurements + delayed KPIs + map ahead; ``risk_place``: also the vehicle's own risk
   estimate; ``+shield``: the env's shield at the shipped ``DefaultShielded`` budget masks the
   modes whose estimated P(miss) exceeds it, the recipe of ``romanus reproduce --drives``;
   ``risk+shield``: that recipe without the map and KPIs, the map-free control; ``+clone`` /
   ``+kick``: kick-started from the hedged greedy, :data:`KICKSTART`; ``+credit``: each frame's
   reward credited in full to its decision, ``env.reward.credit_gamma``);
3. validation: the heuristics' frontier (``risk-budget-greedy+fallback@B`` map-free,
   ``map-aware-greedy+fallback@B`` map-aware) and the learners, on the validation windows;
   per family, the least-energy budget whose risky rate (upper end of its 95 % interval) is
   within 0.05 points of ``local-robust``'s; among the learners that see the map, the one with
   the lowest validation energy whose every seed is within that risk;
4. test: both families at the ends of the validation budgets (:data:`TEST_BUDGETS`) and the
   kept ones, the references (``local-robust``, ``offload-all+fallback``, ``oracle``) and every
   learner seed, on the test windows: energy,
   risky, fell back, saving and regret share with 95 % intervals over scenarios (the fallback
   study's helpers); the learner's mean and interval over seeds (Student t over the per-seed
   mean energies); paired per-scenario differences of the learner against the best map-aware
   heuristic;
5. AUROC (``experiments/coverage/auroc.py``): one second ahead, "the capacity cannot carry the
   payload in time", with and without the map, on the test day (map and model from the
   earlier days), with bootstrap intervals.

It writes ``report.md`` and ``study.json`` into ``--out``.

    python experiments/place/study.py --out /work/runs/place/study --workers 2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from romanus.compare import CompareResult, compare, paired_values
from romanus.coverage import build_coverage
from romanus.drives import find_drives, load_drive
from romanus.fileio import atomic_write_bytes
from romanus.scenario import record_drive_suite
from romanus.stats import mean_ci
from romanus.study import cell, policy_rows, pooled_risky, risky_upper
from romanus.train.hyperparams import load_hyperparams
from romanus.train.suite import HYPERPARAMS_ENV_ID, train_on_suite
from romanus.vehicle.population import build_library

_EXPERIMENTS = Path(__file__).resolve().parents[1]


def _sibling(relative: str, name: str) -> Any:
    """A sibling experiment script as a module (experiments/ is not a package, and its folder
    names, ``coverage`` for one, would shadow installed packages on sys.path)."""
    spec = importlib.util.spec_from_file_location(name, _EXPERIMENTS / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


auroc = _sibling("coverage/auroc.py", "place_study_auroc")

log = logging.getLogger("place-study")

TRAIN_DAYS = ("2019-12-16", "2019-12-17", "2020-01-16")
VALIDATION_DAY = "2020-02-13"
TEST_DAY = "2020-02-14"
WORLD: dict[str, Any] = {
    "extends": "default",
    "name": "PlaceStudy",
    "radio": {"accounting": "connected"},
    "deadlines": {"model": "speed"},
}
BUDGETS = (0.0005, 0.002, 0.005, 0.02)
#: the budgets also run on the test day (the frontier's ends; the middle ones only on validation, for CPU)
TEST_BUDGETS = (0.0005, 0.02)
FAMILIES = {"map-free": "risk-budget-greedy+fallback", "map-aware": "map-aware-greedy+fallback"}
REFERENCES = ("local-robust", "offload-all+fallback", "oracle")
#: the shipped shield's budget (``DefaultShielded``'s ``env.shield.risk_budget``)
SHIELD = {"risk_budget": 0.002}
#: the map-and-KPI learner with the shield at the drives' hedged budget (``romanus reproduce
#: --drives``' kept one), and the same with each frame's reward credited in full to its decision
#: (``env.reward.credit_gamma`` = the learner's own discount)
STRICT: dict[str, Any] = {"observation": "risk_place", "shield": {"risk_budget": 0.0005}}
CREDITED: dict[str, Any] = {
    **STRICT,
    "reward": {"credit_gamma": load_hyperparams("maskable_ppo", HYPERPARAMS_ENV_ID, None).gamma},
}
#: the learners: name -> (the env's decision stack over the world, whether it sees the map and KPIs)
LEARNERS: dict[str, tuple[dict[str, Any], bool]] = {
    "risk_place+shield": ({"observation": "risk_place", "shield": SHIELD}, True),
    "risk_place+shield@0.0005": (STRICT, True),
    "risk_place": ({"observation": "risk_place"}, True),
    "place": ({"observation": "place"}, True),
    "risk+shield": ({"observation": "risk", "shield": SHIELD}, False),
    # kick-started from the hedged greedy (romanus.train.kickstart): the clone alone, and the
    # clone trained on
    "risk_place+shield@0.0005+clone": (STRICT, True),
    "risk_place+shield@0.0005+kick": (STRICT, True),
    # each frame's reward credited in full to its decision (``env.reward.credit_gamma`` at the
    # learner's gamma): without it a fallback, credited at its deadline 1-2 steps later, reads
    # ~16 % cheaper than it is
    "risk_place+shield@0.0005+credit": (CREDITED, True),
    "risk_place+shield@0.0005+kick+credit": (CREDITED, True),
}
#: the kick-started learners' teacher: the drives' hedged greedy
TEACHER = "risk-budget-greedy+fallback@0.0005"
#: kick-started learners: name -> (the teacher, whether learning continues after the clone)
KICKSTART: dict[str, tuple[str, bool]] = {
    "risk_place+shield@0.0005+clone": (TEACHER, False),
    "risk_place+shield@0.0005+kick": (TEACHER, True),
    "risk_place+shield@0.0005+kick+credit": (TEACHER, True),
}
DEFAULT_LEARNERS = (
    "risk_place+shield",
    "risk_place+shield@0.0005",
    "risk+shield",
    "risk_place+shield@0.0005+clone",
    "risk_place+shield@0.0005+kick",
    "risk_place+shield@0.0005+credit",
    "risk_place+shield@0.0005+kick+credit",
)
ALGO = "maskable_ppo"  # the learner (train_on_suite's default)
TOLERANCE = 0.0005  # risky frames allowed above local-robust's, as a rate (the fallback study's)


def _write_yaml(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(doc, sort_keys=False).encode()
    if not path.is_file() or path.read_bytes() != text:
        atomic_write_bytes(path, text)
    return path


def _suite_files(folder: Path, day: str | None = None) -> list[Path]:
    index = json.loads((folder / "suite.json").read_text())
    return [folder / s["file"] for s in index["scenarios"] if day is None or s["day"] == day]


def _libraries(out: Path, drives_dir: str, world: Path, window_s: float) -> dict[str, Path]:
    """The risk estimate's population prior beside each map (``romanus coverage paths`` as a
    function): ``val`` from the training days' windows, ``test`` from those and the validation
    day's, recorded plain into ``suites/library`` (an estimate passes over its own drive's
    transitions, so the training windows read the validation library as the others do)."""
    libs = {"val": out / "maps" / "val-paths.npz", "test": out / "maps" / "test-paths.npz"}
    if all(p.is_file() for p in libs.values()):
        return libs
    windows = out / "suites" / "library"
    if not (windows / "train" / "suite.json").is_file():
        log.info("recording the earlier days' windows for the capacity libraries")
        record_drive_suite(drives_dir, windows, env=str(world), window_s=window_s, split="train", test_days=[TEST_DAY])
    index = json.loads((windows / "train" / "suite.json").read_text())["scenarios"]
    for name, days in (("val", TRAIN_DAYS), ("test", (*TRAIN_DAYS, VALIDATION_DAY))):
        if not libs[name].is_file():
            build_library([windows / "train" / e["file"] for e in index if e["day"] in days]).save(libs[name])
    return libs


def _recorded(folder: Path, library: Path | None) -> bool:
    """``folder`` holds a suite whose preset names ``library``."""
    index = folder / "suite.json"
    named = str(library.resolve()) if library is not None else None
    return index.is_file() and json.loads(index.read_text()).get("capacity_library") == named


def prepare(out: Path, drives_dir: str, window_s: float, population: bool = True) -> dict[str, Any]:
    """Maps, capacity libraries (unless not ``population``), presets and suites (stage 1)."""
    world = _write_yaml(out / "presets" / "world.yaml", WORLD)
    maps = {"val": out / "maps" / "val.json", "test": out / "maps" / "test.json"}
    drives = [load_drive(p) for p in find_drives(drives_dir)]
    for name, days in (("val", TRAIN_DAYS), ("test", (*TRAIN_DAYS, VALIDATION_DAY))):
        if not maps[name].is_file():
            maps[name].parent.mkdir(parents=True, exist_ok=True)
            build_coverage([d for d in drives if d.day in days]).save(maps[name])
    libs: dict[str, Path | None] = dict(_libraries(out, drives_dir, world, window_s)) if population else {}
    suites = {"val": out / "suites" / "val", "test": out / "suites" / "test"}
    if not _recorded(suites["val"] / "test", libs.get("val")):
        log.info("recording the training and validation windows")
        record_drive_suite(
            drives_dir,
            suites["val"],
            env=str(world),
            window_s=window_s,
            split="all",
            test_days=[VALIDATION_DAY, TEST_DAY],
            coverage_map=str(maps["val"]),
            capacity_library=_named(libs.get("val")),
        )
    if not _recorded(suites["test"] / "test", libs.get("test")):
        log.info("recording the test windows")
        record_drive_suite(
            drives_dir,
            suites["test"],
            env=str(world),
            window_s=window_s,
            split="test",
            coverage_map=str(maps["test"]),
            capacity_library=_named(libs.get("test")),
        )
    knowledge = {"coverage_map": "../maps/val.json"}
    if population:
        knowledge["capacity_library"] = "../maps/val-paths.npz"
    presets = {
        name: _write_yaml(
            out / "presets" / f"learner-{_safe(name)}.yaml",
            {
                "extends": "world.yaml",
                "name": "PlaceStudy" + "".join(ch for ch in name.title() if ch.isalnum()),
                "env": stack,
                **knowledge,
            },
        )
        for name, (stack, _) in LEARNERS.items()
    }
    return {
        "maps": maps,
        "presets": presets,
        "train": _suite_files(suites["val"] / "train"),
        "val": _suite_files(suites["val"] / "test", VALIDATION_DAY),
        "test": _suite_files(suites["test"] / "test"),
    }


def _named(library: Path | None) -> str | None:
    return str(library.resolve()) if library is not None else None


def _seed_counts(text: str, names: list[str]) -> dict[str, int]:
    """``--seeds``: one count for every learner, or ``NAME=N,...``."""
    if "=" not in text:
        return dict.fromkeys(names, int(text))
    counts = {k: int(v) for k, v in (part.split("=", 1) for part in text.split(","))}
    missing = [o for o in names if o not in counts]
    if missing:
        raise SystemExit(f"--seeds names no count for {', '.join(missing)}")
    return counts


def learners(out: Path, data: dict[str, Any], names: list[str], seeds: list[int], steps: int) -> dict[str, Any]:
    """Stage 2: every (learner, seed) run; returns their train.json by run name."""
    runs: dict[str, Any] = {}
    for learner in names:
        for seed in seeds:
            run = _run(learner, seed)
            teacher, learns = KICKSTART.get(learner, (None, True))
            runs[run] = train_on_suite(
                data["presets"][learner],
                data["train"],
                out / "learners" / run,
                seed=seed,
                timesteps=steps if learns else 0,
                progress=True,
                teacher=teacher,
            )
    return runs


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "@.+-_" else "_" for ch in name)


def evaluate(out: Path, stage: str, files: list[Path], policies: list[str], workers: int) -> CompareResult:
    """Every policy on every file; one policy at a time, its rows cached in
    ``out/rows/<stage>/`` (an interrupted study resumes at the next policy)."""
    from romanus.compare import RunOutput

    folder = out / "rows" / stage
    folder.mkdir(parents=True, exist_ok=True)
    outputs: list[RunOutput] = []
    empty = np.empty(0)
    for i, policy in enumerate(policies, 1):
        cache = folder / f"{_safe(Path(policy).name if ':' in policy else policy)}.json"
        if cache.is_file():
            rows = json.loads(cache.read_text())
        else:
            t = time.perf_counter()
            res = compare(files, [policy], None, workers=workers)
            rows = [o.row for o in res.outputs]
            atomic_write_bytes(cache, json.dumps(rows).encode())
            log.info("%s %d/%d %s: %.0f s", stage, i, len(policies), policy, time.perf_counter() - t)
        outputs += [RunOutput(r, empty, empty, empty, empty, empty, empty) for r in rows]
    return CompareResult(list(policies), [f.stem for f in files], outputs, [str(f) for f in files])


def _run(learner: str, seed: int) -> str:
    return f"{_safe(learner)}-s{seed}"


def _agent(out: Path, run: str) -> str:
    return f"{ALGO}:{out / 'learners' / run}"


def _energy(result: CompareResult, policy: str) -> float:
    return float(np.mean([o.row["energy_per_frame_mj"] for o in result.by_policy(policy)]))


def select(result: CompareResult, runs: dict[str, list[str]]) -> dict[str, Any]:
    """Stage 3's choices on the validation day: per heuristic family the least-energy budget
    whose risky rate (upper end of its 95 % interval over windows) is within the tolerance of
    ``local-robust``'s; among the learners that see the map, the one whose seeds' mean energy
    is lowest among those whose every seed is within it (else the least risky)."""
    limit = pooled_risky(result, "local-robust") + TOLERANCE
    kept: dict[str, str] = {}
    for family, base in FAMILIES.items():
        names = [f"{base}@{b:g}" for b in BUDGETS]
        ok = [p for p in names if risky_upper(result, p) <= limit]
        pool = ok or names
        key = (lambda p: _energy(result, p)) if ok else (lambda p: (pooled_risky(result, p), _energy(result, p)))
        kept[family] = min(pool, key=key)
    scores = {}
    for name, specs in runs.items():
        within = all(risky_upper(result, p) <= limit for p in specs)
        risky = float(np.mean([pooled_risky(result, p) for p in specs]))
        scores[name] = (not within, risky if not within else 0.0, float(np.mean([_energy(result, p) for p in specs])))
    seeing = [n for n in scores if LEARNERS[n][1]] or list(scores)
    chosen = min(seeing, key=lambda o: scores[o])
    return {
        "risky_limit": limit,
        "kept": kept,
        "learner": chosen,
        "learner_scores": {o: {"within_risk": not v[0], "energy_mj": v[2]} for o, v in scores.items()},
        "validation": {p: {"energy_mj": _energy(result, p), "risky": pooled_risky(result, p)} for p in result.policies},
    }


def _interval(x: np.ndarray) -> dict[str, float]:
    """Mean and 95 % Student-t interval of per-window values."""
    ci = mean_ci(x)
    return {"mean": ci.mean, "low": ci.low, "high": ci.high}


def over_seeds(rows: dict[str, dict[str, Any]], specs: list[str], key: str) -> dict[str, float]:
    """Mean and 95 % Student-t interval over seeds of each seed's mean ``key``."""
    ci = mean_ci([rows[s][key]["mean"] for s in specs])
    return {"mean": ci.mean, "low": ci.low, "high": ci.high}


def learner_vs(result: CompareResult, specs: list[str], reference: str) -> dict[str, Any]:
    """The learner minus ``reference`` (energy per frame, risky rate), paired over scenarios per
    seed, and over seeds (each seed's mean paired difference; Student t over seeds)."""
    per_seed = {}
    for s in specs:
        e, r = paired_values(result, s, reference, "energy_per_frame_mj")
        k, kr = paired_values(result, s, reference, "risky_rate")
        per_seed[s] = {"energy_mj": _interval(e - r), "risky_pct": _interval(100 * (k - kr))}
    seeds = mean_ci([v["energy_mj"]["mean"] for v in per_seed.values()])
    return {
        "per_seed": per_seed,
        "over_seeds": {"mean": seeds.mean, "low": seeds.low, "high": seeds.high},
    }


def behaviour(result: CompareResult, policies: list[str]) -> dict[str, dict[str, float]]:
    """What each policy does on average: offloaded and fell-back shares, wasted energy."""
    out: dict[str, dict[str, float]] = {}
    for p in policies:
        rows = [o.row for o in result.by_policy(p)]
        out[p] = {
            k: float(np.mean([r[k] for r in rows]))
            for k in ("offload_fraction", "fallback_rate", "wasted_energy_per_frame_mj", "latency_p95_ms")
            if k in rows[0]
        }
    return out


def markdown(study: dict[str, Any], names: dict[str, str]) -> str:
    sel, test = study["selection"], study["test"]
    lines = [
        "# Place on held-out days: map-free vs map-aware heuristics vs a learner",
        "",
        f"World: default preset, radio connected, speed deadlines; irish-5g drives in {study['window_s']:g} s "
        f"windows. Learner trained on {', '.join(TRAIN_DAYS)} ({study['train_windows']} windows); settings chosen "
        f"on {VALIDATION_DAY} ({study['val_windows']} windows, map of the training days); reported on "
        f"{TEST_DAY} ({study['test_windows']} windows, map of all earlier days). 95 % intervals over the test "
        "windows (Student t; saving and regret share: paired BCa bootstrap); learner rows: mean and Student-t "
        "interval over seeds of the per-seed means.",
        "",
        f"Kept on the validation day: {', '.join(f'`{v}`' for v in sel['kept'].values())}; learner "
        f"`{sel['learner']}` (validation energy, mean over seeds: "
        + ", ".join(
            f"{o} {v['energy_mj']:.1f} mJ{'' if v['within_risk'] else ' (over the risk limit)'}"
            for o, v in sel["learner_scores"].items()
        )
        + ").",
        "",
        "## Frontier on the test day",
        "",
        "| policy | energy/frame (mJ) | risky (%) | fell back (%) | saving vs local-robust (%) | regret share |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for p, r in test["rows"].items():
        lines.append(
            f"| `{names.get(p, p)}` | {cell(r['energy_mj'])} | {cell(r['risky_pct'], 2)} | "
            f"{cell(r['fallback_pct'])} | {cell(r['saving_pct'])} | {cell(r['regret_share'], 2)} |"
        )
    for name, agg in test["learners"].items():
        lines.append(
            f"| **learner `{name}`, {agg['seeds']} seeds** | {cell(agg['energy_mj'])} | {cell(agg['risky_pct'], 2)} | "
            f"{cell(agg['fallback_pct'])} | {cell(agg['saving_pct'])} | {cell(agg['regret_share'], 2)} |"
        )
    v = test["verdict"]
    lines += [
        "",
        "## Verdict",
        "",
        v["line"],
        "",
        "Learner minus the best map-aware heuristic on the test windows (energy/frame, mJ; paired per window):",
        "",
        "| seed | energy difference (mJ) | risky difference (pp) |",
        "| --- | --- | --- |",
    ]
    for s, d in v["vs_map_aware"]["per_seed"].items():
        lines.append(f"| `{names.get(s, s)}` | {cell(d['energy_mj'])} | {cell(d['risky_pct'], 2)} |")
    o = v["vs_map_aware"]["over_seeds"]
    lines.append(f"| over seeds | {cell(o)} | |")
    d = test["aware_vs_free"]
    lines += [
        "",
        f"Map-aware minus map-free (kept settings, paired per test window): energy {cell(d['energy_mj'], 2)} mJ/frame, "
        f"risky {cell(d['risky_pct'], 3)} pp.",
    ]
    lines += [
        "",
        "What the policies do (test-day means):",
        "",
        "| policy | offloaded (%) | fell back (%) | wasted (mJ/frame) | p95 latency (ms) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p, b in test["behaviour"].items():
        lines.append(
            f"| `{names.get(p, p)}` | {100 * b.get('offload_fraction', math.nan):.1f} | "
            f"{100 * b.get('fallback_rate', math.nan):.2f} | {b.get('wasted_energy_per_frame_mj', math.nan):.2f} | "
            f"{b.get('latency_p95_ms', math.nan):.0f} |"
        )
    a = study["auroc"]
    lines += [
        "",
        "## AUROC: one second ahead, a period whose capacity cannot carry the payload in time",
        "",
        f"Test day {TEST_DAY}; map and logistic model from the earlier days; {a['samples']['mean']:.0f} samples, "
        f"{100 * a['positive share']['mean']:.0f} % positive, {100 * a['mapped share']['mean']:.0f} % with the cell "
        "ahead on the map. 95 % intervals: block bootstrap over minutes of driving.",
        "",
        "| predictor | AUROC |",
        "| --- | --- |",
    ]
    for k in ("without map", "with map", "map shortfall alone", "with - without map"):
        lines.append(f"| {k} | {a[k]['mean']:.3f} [{a[k]['low']:.3f}, {a[k]['high']:.3f}] |")
    lines += [
        "",
        "## Learner training",
        "",
        "| run | steps | wall (s) | CPU (s) | steps/s (wall) | steps per CPU-s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run, t in study["training"].items():
        lines.append(
            f"| {run} | {t['timesteps']} | {t['wall_s']:.0f} | {t['cpu_s']:.0f} | {t['steps_per_s']:.0f} | "
            f"{t['timesteps'] / t['cpu_s']:.0f} |"
        )
    lines += ["", f"Study wall time (this invocation): {study['wall_s']:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--drives", default="../shared/traces/irish-5g")
    ap.add_argument("--window-s", type=float, default=120.0)
    ap.add_argument("--steps", type=int, default=150_000, help="learner steps per seed (default: %(default)s)")
    ap.add_argument(
        "--seeds",
        default="3",
        help="seeds per learner: N, or NAME=N,... (default: %(default)s)",
    )
    ap.add_argument(
        "--learners",
        default=",".join(DEFAULT_LEARNERS),
        help=f"learners, of {', '.join(LEARNERS)} (default: %(default)s)",
    )
    ap.add_argument("--only-seed", type=int, help="--stage train: this seed only (parallel training processes)")
    ap.add_argument("--val-every", type=int, default=3, help="every k-th validation window (default: %(default)s)")
    ap.add_argument("--test-every", type=int, default=1, help="every k-th test window (smoke runs only)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--no-population",
        action="store_true",
        help="no population prior (capacity library) in the estimate: the study as before it (an ablation)",
    )
    ap.add_argument(
        "--stage",
        choices=("prepare", "train", "heuristics", "trained", "all"),
        default="all",
        help="prepare: maps and suites; train: the learners; heuristics: their rows; trained: the rows "
        "of the learners trained so far (to overlap with training); all: everything and the report",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(1)  # an agent's forward pass on 2 shared cores: threads only spin
    out: Path = args.out.resolve()
    t0 = time.perf_counter()
    data = prepare(out, args.drives, args.window_s, population=not args.no_population)
    if args.stage == "prepare":
        return 0
    heuristics = [f"{base}@{b:g}" for base in FAMILIES.values() for b in BUDGETS]
    # the kept budget (0.002 on validation, the least) first, so the verdict's rows come early
    test_heuristics = [f"{base}@{b:g}" for b in TEST_BUDGETS for base in FAMILIES.values()]
    val_files = data["val"][:: args.val_every]
    data["test"] = data["test"][:: args.test_every]
    if args.stage == "heuristics":  # the learner-free part, while the learners train elsewhere
        evaluate(out, "val", val_files, ["local-robust", *heuristics], args.workers)
        evaluate(out, "test", data["test"], [*REFERENCES, *test_heuristics], args.workers)
        return 0
    kinds = args.learners.split(",")
    unknown = [n for n in kinds if n not in LEARNERS]
    if unknown:
        raise SystemExit(f"--learners: unknown {', '.join(unknown)}; known: {', '.join(LEARNERS)}")
    n_seeds = _seed_counts(args.seeds, kinds)
    if args.stage == "trained":
        ready = [
            _agent(out, _run(n, s))
            for n in kinds
            for s in range(n_seeds[n])
            if (out / "learners" / _run(n, s) / "train.json").is_file()
        ]
        evaluate(out, "val", val_files, ready, args.workers)
        evaluate(out, "test", data["test"], ready, args.workers)
        return 0
    training = {}
    for name in kinds:
        seeds = [args.only_seed] if args.only_seed is not None and args.stage == "train" else range(n_seeds[name])
        training.update(learners(out, data, [name], list(seeds), args.steps))
    if args.stage == "train":
        return 0
    runs = {n: [_agent(out, _run(n, s)) for s in range(n_seeds[n])] for n in kinds}
    agents = [a for specs in runs.values() for a in specs]
    names = {a: f"learner {Path(a).name}" for a in agents}
    val = evaluate(out, "val", val_files, ["local-robust", *heuristics, *agents], args.workers)
    chosen = select(val, runs)
    log.info("kept %s; learner %s", chosen["kept"], chosen["learner"])
    kept = list(chosen["kept"].values())
    test_heuristics += [p for p in kept if p not in test_heuristics]
    test = evaluate(out, "test", data["test"], [*REFERENCES, *test_heuristics, *agents], args.workers)
    rows = policy_rows(test, test.policies)
    learners_agg: dict[str, dict[str, Any]] = {}
    for name, specs in runs.items():
        learners_agg[name] = {
            k: over_seeds(rows, specs, k)
            for k in ("energy_mj", "risky_pct", "fallback_pct", "saving_pct", "regret_share")
        }
        learners_agg[name]["seeds"] = len(specs)
    best_aware = chosen["kept"]["map-aware"]
    best_free = chosen["kept"]["map-free"]
    specs = runs[chosen["learner"]]
    vs_aware = learner_vs(test, specs, best_aware)
    o = vs_aware["over_seeds"]
    risky_ok = all(risky_upper(test, s) <= pooled_risky(test, "local-robust") + TOLERANCE for s in specs)
    beats = math.isfinite(o["high"]) and o["high"] < 0 and risky_ok
    line = (
        f"**{'Yes' if beats else 'No'}**: the learner (`{chosen['learner']}`, {len(specs)} seeds) minus "
        f"`{best_aware}` is {o['mean']:+.1f} mJ/frame [{o['low']:+.1f}, {o['high']:+.1f}] over seeds"
        + ("" if risky_ok else ", and at least one seed's risky rate is above the limit")
        + f"; the best map-free heuristic `{best_free}` is at {rows[best_free]['energy_mj']['mean']:.1f} mJ/frame, "
        f"the map-aware one at {rows[best_aware]['energy_mj']['mean']:.1f}, the oracle at "
        f"{rows['oracle']['energy_mj']['mean']:.1f}."
    )
    e_aw, e_fr = paired_values(test, best_aware, best_free, "energy_per_frame_mj")
    r_aw, r_fr = paired_values(test, best_aware, best_free, "risky_rate")
    aware_vs_free = {
        "energy_mj": _interval(e_aw - e_fr),
        "risky_pct": _interval(100 * (r_aw - r_fr)),
        "decisions_differ": bool(np.any(e_aw != e_fr) or np.any(r_aw != r_fr)),
    }
    study = {
        "window_s": args.window_s,
        "train_windows": len(data["train"]),
        "val_windows": len(val_files),
        "test_windows": len(data["test"]),
        "training": training,
        "selection": chosen,
        "test": {
            "rows": {p: rows[p] for p in [*REFERENCES, *test_heuristics, *agents]},
            "learners": learners_agg,
            "behaviour": behaviour(test, [*REFERENCES, best_free, best_aware, *agents]),
            "aware_vs_free": aware_vs_free,
            "verdict": {
                "line": line,
                "beats": beats,
                "vs_map_aware": vs_aware,
                "vs_map_free": learner_vs(test, specs, best_free),
            },
        },
    }
    auroc_file = out / "auroc.json"
    if not auroc_file.is_file():
        log.info("AUROC on the test day")
        drives = [load_drive(p) for p in find_drives(args.drives)]
        atomic_write_bytes(auroc_file, json.dumps(auroc.held_out_auroc(drives, TEST_DAY)).encode())
    study["auroc"] = json.loads(auroc_file.read_text())
    study["wall_s"] = time.perf_counter() - t0
    atomic_write_bytes(out / "study.json", json.dumps(study, indent=1, default=str).encode())
    text = markdown(study, names)
    atomic_write_bytes(out / "report.md", text.encode())
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
