"""Sweeps: presets x algorithms x seeds x hyper-parameter overrides, locally or on Ray Tune.

A sweep file (YAML)::

    name: lr-study
    presets: [romanus/Default-v2]          # env ids or preset names
    algos: [ppo, maskable_ppo]
    seeds: "0:3"                           # a range A:B, or a list
    timesteps: 100000                      # optional: overrides the hyper-parameters' budget
    hyperparams: {n_envs: 2}               # optional: overrides for every trial
    grid:                                  # optional: every combination is a configuration
      learning_rate: [3.0e-4, 1.0e-4]
    eval: {seeds: "100:105", duration_s: 60, baselines: [local-robust, scene-aware-greedy]}

Each trial trains one agent and evaluates it on held-out scenarios recorded once per preset
(the ``eval.seeds``, which training never uses) with the comparison harness. Each trial
writes ``trials/<id>/result.json`` atomically when it ends, successful or failed (with its
error); a failed trial does not stop the sweep. Re-running a sweep skips the trials that
succeeded and retries the others. The aggregate is ``results.csv`` (one row per trial),
``summary.md`` (means and 95 % confidence intervals across seeds per configuration, with
the baselines on the same scenarios) and ``pareto.png``.

Backends: ``local`` (a process pool) and ``ray`` (Ray Tune; ``pip install -e ".[ray]"``).
Trials are deterministic given their seed, so both give identical metrics.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import itertools
import json
import logging
import math
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from romanus.configio import ConfigError, Invalid, build, field
from romanus.fileio import atomic_write_bytes
from romanus.workers import worker_pool

__all__ = ["SweepConfig", "load_sweep", "run_sweep", "run_trial", "trials_of"]

log = logging.getLogger(__name__)

TRIAL_METRICS = (
    "energy_per_frame_mj",
    "risky_rate",
    "deadline_miss_rate",
    "latency_p95_ms",
    "offload_fraction",
)
RESULT_FIELDS = ("trial", "preset", "algo", "seed", "config", "status", *TRIAL_METRICS, "train_seconds", "error")


MAX_SEEDS = 1000
"""Seeds per sweep (or held-out scenarios per preset)."""
MAX_TRIALS = 10_000
"""Trials per sweep: presets x algorithms x grid combinations x seeds."""
MAX_LABEL_CHARS = 200
"""A grid value is written into the trial's label; a longer one is refused."""


def _parse_seeds(value: str | tuple[int, ...], key: str) -> tuple[int, ...]:
    if isinstance(value, tuple):
        seeds = value
    else:
        try:
            if len(value) > 40:  # no seed needs more digits (int() refuses 4300 with a bare error)
                raise ValueError(value)
            a, b = (int(x) for x in value.split(":"))
        except ValueError:
            raise Invalid(key, f"expected A:B or a list of integers, got {value[:40]!r}") from None
        if b - a > MAX_SEEDS:
            raise Invalid(key, f"at most {MAX_SEEDS} seeds, got {value!r}")
        seeds = tuple(range(a, b))
    if len(seeds) > MAX_SEEDS:
        raise Invalid(key, f"at most {MAX_SEEDS} seeds, got {len(seeds)}")
    if not seeds or any(s < 0 for s in seeds):
        raise Invalid(key, "needs at least one non-negative seed")
    return seeds


def _check_label_value(value: Any, key: str) -> None:
    """A grid or override value must be a plain value (or a small list or mapping of them):
    it is written into the trial's label and into a hyper-parameter file."""
    budget = [MAX_LABEL_CHARS]

    def walk(v: Any, depth: int) -> None:
        if depth > 4:
            raise Invalid(key, "nested too deeply for a hyper-parameter value")
        if isinstance(v, Mapping):
            items: list[Any] = [*v.keys(), *v.values()]
        elif isinstance(v, list | tuple):
            items = list(v)
        else:
            budget[0] -= len(repr(v)[: MAX_LABEL_CHARS + 1])
            items = []
        budget[0] -= len(items)
        if budget[0] < 0:
            raise Invalid(key, f"too large for a hyper-parameter value (over {MAX_LABEL_CHARS} characters)")
        for item in items:
            walk(item, depth + 1)

    walk(value, 0)


@dataclass(frozen=True)
class SweepEval:
    seeds: str | tuple[int, ...] = field("100:103", doc="held-out scenario seeds (A:B or a list)")
    duration_s: float = field(60.0, gt=0, le=86_400, doc="seconds per held-out scenario (<= one simulated day)")
    baselines: tuple[str, ...] = field(("local-robust", "robust-agnostic", "scene-aware-greedy"))

    def __post_init__(self) -> None:
        _parse_seeds(self.seeds, "seeds")


@dataclass(frozen=True)
class SweepConfig:
    name: str
    presets: tuple[str, ...]
    algos: tuple[str, ...]
    seeds: str | tuple[int, ...]
    timesteps: int | None = field(None, gt=0, le=1_000_000_000, doc="training budget per trial (<= 1e9)")
    hyperparams: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    eval: SweepEval = field(default_factory=SweepEval)
    #: fleet sizes: with any, each trial trains one policy shared by N vehicles (romanus.train.fleet)
    #: and is evaluated on fleets of N (romanus.fleetcompare); an axis of the grid
    vehicles: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for i, n in enumerate(self.vehicles):
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1024:
                raise Invalid(f"vehicles[{i}]", f"a fleet size must be an integer in 1..1024, got {n!r}")
        if self.vehicles and any(a not in ("ppo", "maskable_ppo") for a in self.algos):
            raise Invalid("algos", "fleet trials (vehicles) train ppo or maskable_ppo only")
        if not self.presets:
            raise Invalid("presets", "needs at least one preset")
        for i, algo in enumerate(self.algos):
            if algo not in ("ppo", "maskable_ppo", "a2c", "dqn"):
                raise Invalid(f"algos[{i}]", f"unknown algorithm {algo!r} (ppo, maskable_ppo, a2c, dqn)")
        if not self.algos:
            raise Invalid("algos", "needs at least one algorithm")
        _parse_seeds(self.seeds, "seeds")
        trials = len(self.presets) * len(self.algos) * len(_parse_seeds(self.seeds, "seeds"))
        for key, values in self.grid.items():
            if not values:
                raise Invalid(f"grid.{key}", "needs at least one value")
            for i, value in enumerate(values):
                _check_label_value(value, f"grid.{key}[{i}]")
            trials *= len(values)
            if trials > MAX_TRIALS:
                raise Invalid("grid", f"the sweep would have more than {MAX_TRIALS:,} trials")
        for key, value in self.hyperparams.items():
            _check_label_value(value, f"hyperparams.{key}")

    @property
    def seed_list(self) -> tuple[int, ...]:
        return _parse_seeds(self.seeds, "seeds")


def load_sweep(path: str | Path) -> SweepConfig:
    from romanus.config import read_yaml

    data = read_yaml(path)
    return build(SweepConfig, data, source=str(path))


def _label(overrides: Mapping[str, Any]) -> str:
    if not overrides:
        return "base"
    return ",".join(f"{k}={v}" for k, v in sorted(overrides.items()))


def trials_of(sweep: SweepConfig) -> list[dict[str, Any]]:
    """Every trial of the sweep: preset x algo x grid combination x seed."""
    from romanus.train.train import resolve_env

    keys = sorted(sweep.grid)
    combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*(sweep.grid[k] for k in keys))]
    sizes: tuple[int | None, ...] = sweep.vehicles or (None,)
    out = []
    for preset in sweep.presets:
        env_id, preset_ref = resolve_env(preset)
        for algo in sweep.algos:
            for combo, n in itertools.product(combos, sizes):
                for seed in sweep.seed_list:
                    label = _label(combo) if n is None else f"vehicles={n}," + _label(combo)
                    digest = hashlib.sha256(f"{env_id}|{algo}|{label}|{seed}".encode()).hexdigest()[:8]
                    trial_id = f"{env_id.split('/')[-1]}__{algo}__s{seed}__{digest}"
                    trial = {
                        "trial": trial_id,
                        "env_id": env_id,
                        "preset_ref": preset_ref,
                        "algo": algo,
                        "seed": seed,
                        "config": label,
                        "overrides": {**sweep.hyperparams, **combo},
                        "timesteps": sweep.timesteps,
                    }
                    if n is not None:
                        trial.update(vehicles=n, eval_seeds=list(_parse_seeds(sweep.eval.seeds, "eval.seeds")))
                        trial["eval_duration_s"] = sweep.eval.duration_s
                    out.append(trial)
    return out


def _trial_hyperparams(trial: Mapping[str, Any]) -> dict[str, Any]:
    """The trial's hyper-parameters: the shipped entry for its env, with the overrides."""
    from romanus.config import read_yaml
    from romanus.train.hyperparams import entry_id, hyperparams_path, load_hyperparams

    shipped = read_yaml(hyperparams_path(trial["algo"]))
    key = entry_id(trial["algo"], trial["env_id"], trial.get("preset_ref"))  # else a preset it extends
    if not isinstance(shipped, dict) or not isinstance(shipped.get(key), dict):
        raise ConfigError(str(hyperparams_path(trial["algo"])), trial["env_id"], "no hyper-parameters for this env id")
    base = shipped[key]
    merged = {**base, **trial["overrides"]}
    if "policy_kwargs" in trial["overrides"]:
        merged["policy_kwargs"] = {**base.get("policy_kwargs", {}), **trial["overrides"]["policy_kwargs"]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as fh:
        yaml.safe_dump({trial["env_id"]: merged}, fh)
        tmp = fh.name
    try:
        load_hyperparams(trial["algo"], trial["env_id"], tmp)  # validate: errors name the key
    except ConfigError as exc:
        raise ConfigError("sweep", f"trial {trial['trial']}: {exc.key}", exc.message) from None
    finally:
        os.unlink(tmp)
    return merged


def run_trial(trial: dict[str, Any], out: str, eval_dir: str) -> dict[str, Any]:
    """Train and evaluate one trial; write and return its result (never raises)."""
    from romanus.compare import compare
    from romanus.scenario import load_suite
    from romanus.train.train import TrainSpec, train

    folder = Path(out) / "trials" / trial["trial"]
    result_path = folder / "result.json"
    if result_path.is_file():
        previous = json.loads(result_path.read_text())
        if previous.get("status") == "ok":
            return previous
    result: dict[str, Any] = {k: trial[k] for k in ("trial", "algo", "seed", "config")}
    result["preset"] = trial["env_id"]
    t0 = time.perf_counter()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        hp_file = folder / "hyperparams.yml"
        atomic_write_bytes(hp_file, yaml.safe_dump({trial["env_id"]: _trial_hyperparams(trial)}).encode())
        runs = folder / "run"
        if runs.exists():  # an interrupted attempt: start the trial over
            import shutil

            shutil.rmtree(runs)
        if trial.get("vehicles"):
            result.update(_fleet_trial(trial, runs))
            result["train_seconds"] = time.perf_counter() - t0
            atomic_write_bytes(result_path, json.dumps(result, indent=1).encode())
            return result
        run, state = train(
            TrainSpec(
                env=trial["preset_ref"],  # a YAML preset has an id but no registration
                algo=trial["algo"],
                seed=trial["seed"],
                timesteps=trial["timesteps"],
                hyperparams=str(hp_file),
                eval_scenarios=eval_dir,
                out=str(runs),
            ),
            ["romanus", "sweep", trial["trial"]],
        )
        if state != "finished":
            raise RuntimeError(f"training {state}")
        res = compare(load_suite(eval_dir), [f"{trial['algo']}:{run}"], None)
        for key in TRIAL_METRICS:
            values = [row[key] for row in res.rows]
            result[key] = sum(values) / len(values)
        result.update(status="ok", error="", run_dir=str(run))
    except Exception as exc:  # a failed trial is a result, not the end of the sweep
        result.update({k: math.nan for k in TRIAL_METRICS})
        result.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-4000:])
    result["train_seconds"] = time.perf_counter() - t0
    atomic_write_bytes(result_path, json.dumps(result, indent=1).encode())
    return result


#: PPO constructor arguments a fleet trial takes from the trial's hyper-parameters
_FLEET_PPO_KEYS = (
    "n_steps",
    "batch_size",
    "n_epochs",
    "gamma",
    "gae_lambda",
    "learning_rate",
    "ent_coef",
    "clip_range",
    "vf_coef",
    "max_grad_norm",
    "policy_kwargs",
)


def _fleet_trial(trial: dict[str, Any], runs: Path) -> dict[str, Any]:
    """Train one policy shared by ``trial["vehicles"]`` vehicles and evaluate it on fleets of
    that size on the held-out seeds' live worlds (the same for every trial of the size): the
    trial metrics are the fleet's (energy, risky and miss rates averaged over vehicles)."""
    from romanus.config import load_preset
    from romanus.fleetcompare import compare_fleet
    from romanus.train.fleet import train_fleet

    hp = _trial_hyperparams(trial)
    timesteps = trial["timesteps"] or int(hp.get("n_timesteps", 100_000))
    run = train_fleet(
        trial["preset_ref"],
        trial["vehicles"],
        timesteps=timesteps,
        seed=trial["seed"],
        algo=trial["algo"],
        out=runs,
        hyperparams={k: hp[k] for k in _FLEET_PPO_KEYS if k in hp},
        progress=False,
    )
    res = compare_fleet(
        load_preset(trial["preset_ref"]),
        [trial["vehicles"]],
        [f"{trial['algo']}:{run}"],
        trial["eval_seeds"],
        trial["eval_duration_s"],
    )
    row = res["summary"][0]
    per_vehicle = [v for r in res["runs"] for v in r["per_vehicle"]]
    return {
        "energy_per_frame_mj": row["fleet_energy_per_frame_mj"],
        "risky_rate": row["fleet_risky_rate"],
        "deadline_miss_rate": row["fleet_miss_rate"],
        "latency_p95_ms": sum(v["latency_p95_ms"] for v in per_vehicle) / len(per_vehicle),
        "offload_fraction": row["fleet_offload_fraction"],
        "status": "ok",
        "error": "",
        "run_dir": str(run),
    }


def _star(args: tuple[dict[str, Any], str, str]) -> dict[str, Any]:
    return run_trial(*args)


def _prepare_eval(sweep: SweepConfig, out: Path, trials: list[dict[str, Any]]) -> dict[str, str]:
    """Record the held-out scenarios once per preset; returns env id -> suite folder."""
    from romanus.scenario import record_suite

    dirs = {}
    for env_id, preset_ref in dict.fromkeys((t["env_id"], t["preset_ref"]) for t in trials):
        folder = out / "eval" / env_id.split("/")[-1]
        seeds = _parse_seeds(sweep.eval.seeds, "eval.seeds")
        if not (folder / "suite.json").is_file():
            record_suite(preset_ref, seeds, sweep.eval.duration_s, folder)
        dirs[env_id] = str(folder)
    return dirs


def run_sweep(
    sweep: SweepConfig,
    out: str | Path,
    *,
    backend: str = "local",
    workers: int = 1,
    address: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every missing trial, then write the aggregate files; returns every trial's result."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trials = trials_of(sweep)
    for t in trials:
        _trial_hyperparams(t)  # fail before any work on a bad override
    atomic_write_bytes(out / "sweep.json", json.dumps(dataclasses.asdict(sweep), indent=1, default=list).encode())
    eval_dirs = _prepare_eval(sweep, out, trials)
    tasks = [(t, str(out), eval_dirs[t["env_id"]]) for t in trials]
    if backend == "local":
        if workers > 1 and len(tasks) > 1:
            with worker_pool(workers) as pool:
                for fut in as_completed([pool.submit(_star, task) for task in tasks]):
                    fut.result()
                    if progress is not None:
                        progress(1)
        else:
            for task in tasks:
                _star(task)
                if progress is not None:
                    progress(1)
    elif backend == "ray":
        _run_ray(sweep, out, tasks, workers, address)
    else:
        raise ValueError(f"unknown backend {backend!r} (local or ray)")
    results = [json.loads((out / "trials" / t["trial"] / "result.json").read_text()) for t in trials]
    _aggregate(sweep, out, results, eval_dirs)
    return results


def _run_ray(
    sweep: SweepConfig, out: Path, tasks: list[tuple[dict[str, Any], str, str]], workers: int, address: str | None
) -> None:
    try:
        import ray
        from ray import tune
    except ImportError:
        raise ValueError('the ray backend needs Ray Tune: pip install -e ".[ray]"') from None
    started_here = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            # Ray keeps sockets in its temp folder and a socket path may not exceed 107 bytes: the
            # folder lives inside the sweep's output, reached through a short link in /tmp.
            target = out / "ray_tmp"
            target.mkdir(parents=True, exist_ok=True)
            link = (
                Path(tempfile.gettempdir())
                / f"romanus-ray-{hashlib.sha256(str(target.resolve()).encode()).hexdigest()[:10]}"
            )
            if not link.exists():
                link.symlink_to(target.resolve(), target_is_directory=True)
            ray.init(num_cpus=max(1, workers), _temp_dir=str(link), include_dashboard=False, log_to_driver=False)
        started_here = True
    todo = [t for t in tasks if not _done(out, t[0]["trial"])]

    def trainable(config: dict[str, Any]) -> None:
        result = run_trial(config["task"][0], config["task"][1], config["task"][2])
        tune.report(
            {k: result[k] for k in TRIAL_METRICS if isinstance(result.get(k), float)} | {"ok": result["status"] == "ok"}
        )

    try:
        if todo:
            tuner = tune.Tuner(
                tune.with_resources(trainable, {"cpu": 1}),
                param_space={"task": tune.grid_search(todo)},
                tune_config=tune.TuneConfig(max_concurrent_trials=max(1, workers)),
                run_config=tune.RunConfig(
                    name=sweep.name, storage_path=str((out / "ray_results").resolve()), verbose=0
                ),
            )
            tuner.fit()
    finally:
        if started_here:
            ray.shutdown()


def _done(out: Path, trial_id: str) -> bool:
    path = out / "trials" / trial_id / "result.json"
    return path.is_file() and json.loads(path.read_text()).get("status") == "ok"


def _aggregate(sweep: SweepConfig, out: Path, results: list[dict[str, Any]], eval_dirs: Mapping[str, str]) -> None:
    from romanus.compare import compare
    from romanus.plots import SweepPoint, sweep_pareto
    from romanus.scenario import load_suite
    from romanus.stats import mean_ci

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RESULT_FIELDS)
    for r in sorted(results, key=lambda r: r["trial"]):
        w.writerow([repr(r.get(k)) if isinstance(r.get(k), float) else r.get(k, "") for k in RESULT_FIELDS])
    atomic_write_bytes(out / "results.csv", buf.getvalue().encode())

    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in results:
        if r["status"] == "ok":
            groups.setdefault((r["preset"], r["algo"], r["config"]), []).append(r)
    lines = [
        f"# Sweep {sweep.name}",
        "",
        f"{len(results)} trials ({sum(r['status'] == 'ok' for r in results)} succeeded). Means over seeds with 95 % "
        "Student-t confidence intervals; every policy evaluated on the same held-out scenarios per preset.",
        "",
        "| preset | policy | config | seeds | energy/frame (mJ) | risky (%) | missed (%) | offloaded (%) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    points = []

    def fmt(values: list[float], scale: float = 1.0) -> str:
        ci = mean_ci(values)
        if math.isnan(ci.half_width):
            return f"{ci.mean * scale:.1f}"
        return f"{ci.mean * scale:.1f} ± {ci.half_width * scale:.1f}"

    for (preset, algo, config), rows in sorted(groups.items()):
        e = [r["energy_per_frame_mj"] for r in rows]
        k = [r["risky_rate"] for r in rows]
        lines.append(
            f"| {preset} | {algo} | {config} | {len(rows)} | {fmt(e)} | {fmt(k, 100)} | "
            f"{fmt([r['deadline_miss_rate'] for r in rows], 100)} | {fmt([r['offload_fraction'] for r in rows], 100)} |"
        )
        points.append(SweepPoint(f"{algo} {config}", tuple(k), tuple(e)))
    for env_id, folder in eval_dirs.items():
        if sweep.eval.baselines:
            res = compare(load_suite(folder), list(sweep.eval.baselines), None)
            for p in sweep.eval.baselines:
                runs = res.by_policy(p)
                e = [o.row["energy_per_frame_mj"] for o in runs]
                k = [o.row["risky_rate"] for o in runs]
                lines.append(
                    f"| {env_id} | `{p}` (baseline) | - | - | {fmt(e)} | {fmt(k, 100)} | "
                    f"{fmt([o.row['deadline_miss_rate'] for o in runs], 100)} | "
                    f"{fmt([o.row['offload_fraction'] for o in runs], 100)} |"
                )
                points.append(SweepPoint(f"{p} (baseline)", tuple(k), tuple(e)))
    failed = [r for r in results if r["status"] != "ok"]
    if failed:
        lines += ["", "Failed trials:", ""] + [f"- `{r['trial']}`: {r['error']}" for r in failed]
    atomic_write_bytes(out / "summary.md", ("\n".join(lines) + "\n").encode())

    # configurations: one value per seed; baselines: one value per held-out scenario
    sweep_pareto(out / "pareto.png", points, f"Sweep {sweep.name}: energy vs risk per configuration")
