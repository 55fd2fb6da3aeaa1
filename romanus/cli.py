"""The ``romanus`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from romanus import __version__, cliargs

log = logging.getLogger("romanus")

_KPI_ROWS: tuple[tuple[str, str, str], ...] = (
    ("energy_per_frame_mj", "energy per frame", "mJ"),
    ("compute_energy_per_frame_mj", "  compute", "mJ"),
    ("radio_energy_per_frame_mj", "  radio", "mJ"),
    ("idle_energy_per_frame_mj", "  idle", "mJ"),
    ("risky_rate", "risky-frame rate", ""),
    ("deadline_miss_rate", "deadline-miss rate", ""),
    ("latency_p50_ms", "latency p50", "ms"),
    ("latency_p95_ms", "latency p95", "ms"),
    ("latency_p99_ms", "latency p99", "ms"),
    ("longest_miss_streak", "longest miss streak", "frames"),
    ("offload_fraction", "offload fraction", ""),
    ("uplink_kbytes_per_frame", "uplink per frame", "kB"),
    ("aoi_mean_ms", "age of information, mean", "ms"),
    ("aoi_peak_ms", "age of information, peak", "ms"),
)


def _fail(message: str) -> int:
    print(f"romanus: error: {message}", file=sys.stderr)
    return 2


def _cmd_simulate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from romanus.config import load_preset
    from romanus.policies import policy_for
    from romanus.sim.records import KpiAccumulator, kpis, write_frames_csv
    from romanus.sim.simulator import Simulator
    from romanus.vehicle.view import drive

    preset = load_preset(args.env)
    # without a frames CSV the records are not kept: the KPIs accumulate as frames resolve
    sim = Simulator(preset, seed=args.seed, keep_records=bool(args.frames_csv))
    sink = None if args.frames_csv else KpiAccumulator()
    policy = policy_for(sim, args.policy)
    with tqdm(total=args.frames, unit="frame", delay=2.0, disable=args.quiet, file=sys.stderr) as bar:
        frames_log = drive(sim, policy, args.frames, progress=bar.update, sink=sink)
    result = kpis(frames_log) if sink is None else sink.result(frames_log.idle_mj, frames_log.duration_s)
    if args.frames_csv:
        write_frames_csv(frames_log, args.frames_csv, sim.catalogue.modes, sim.catalogue.scenes)
    meta = {"env": preset.name, "policy": policy.name, "seed": args.seed, "frames": args.frames}
    if args.json:
        print(json.dumps({**meta, **{k: v for k, v in result.items() if k != "frames"}}, sort_keys=False))
        return 0
    seconds = args.frames * preset.period_ms / 1000
    print(f"{preset.name}: {policy.name}, {args.frames} frames ({seconds:.1f} s), seed {args.seed}")
    _print_kpis(result)
    if args.frames_csv:
        print(f"  frames written to {args.frames_csv}")
    return 0


def _cmd_modes(args: argparse.Namespace) -> int:
    from romanus.config import load_preset
    from romanus.sim.simulator import build_catalogue

    preset = load_preset(args.env)
    cat = build_catalogue(preset)
    mask = cat.mask(preset.server.enabled)
    if args.json:
        rows = [
            {
                "index": m.index,
                "name": m.name,
                "tier": m.tier,
                "placement": dict(m.placement),
                "available": bool(mask[m.index]),
                "vehicle_ms": m.vehicle_ms,
                "uplink_bytes": m.uplink_bytes,
                "server_ms": m.server_ms,
                "robustness": dict(zip(cat.scenes, m.robustness, strict=True)),
            }
            for m in cat.modes
        ]
        print(json.dumps(rows))
        return 0
    print(f"{preset.name}: {len(cat)} operating modes, {int(mask.sum())} available")
    width = max([len("mode"), *(len(m.name) for m in cat.modes)])  # long names stay in their column
    print(f"  {'#':>3} {'mode':<{width}} {'vehicle ms':>10} {'uplink B':>9} {'server ms':>9}  note")
    for m in cat.modes:
        note = "" if mask[m.index] else "masked: no edge server"
        row = f"  {m.index:>3} {m.name:<{width}} {m.vehicle_ms:>10.2f} {m.uplink_bytes:>9} {m.server_ms:>9.2f}  {note}"
        print(row.rstrip())
    for where, why in cat.rejected:
        print(f"  not a candidate: {where}: {why}")
    options = preset.fallback.options_ms
    if options:
        n_off = int(cat.offload_mask.sum())
        times = ", ".join("just in time" if e == 0 else f"{e:g} ms earlier" for e in options)
        print(
            f"actions: {len(cat) + len(options) * n_off} = these {len(cat)} modes, then each of the {n_off} "
            f"offloading modes with a local fallback, per option ({times}), in mode order"
        )
    return 0


def _cmd_policies(args: argparse.Namespace) -> int:
    from romanus.config import load_preset
    from romanus.policies import policy_descriptions
    from romanus.sim.simulator import build_catalogue
    from romanus.train.algorithms import ALGORITHMS

    rows = policy_descriptions(build_catalogue(load_preset(args.env)))
    if args.json:
        algos = {a.name: a.description for a in ALGORITHMS.values()}
        print(json.dumps({"policies": dict(rows), "algorithms": algos}, indent=2))
        return 0
    width = max(len(name) for name, _ in rows)
    for name, text in rows:
        print(f"{name:<{width}}  {text}")
    print(f"\n<algo> is one of: {', '.join(ALGORITHMS)}")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    from romanus.config import list_presets, load_preset

    for name in list_presets():
        print(f"{name:<20} {load_preset(name).description}")
    return 0


def _cmd_drive_info(args: argparse.Namespace) -> int:
    import math

    from romanus.drives import downlink_samples, drive_stats, load_drive

    drive = load_drive(args.file)
    stats = drive_stats(drive, args.window_ms)
    if args.plot:
        from romanus import plots

        plots.drive_map(args.plot, drive, downlink_samples(drive), "downlink capacity (Mbit/s)")
    if args.json:
        clean = {k: (v if math.isfinite(v) else None) for k, v in stats.items()}
        print(json.dumps({"file": args.file, "format": "gnettrack", "day": drive.day, "sha256": drive.sha256, **clean}))
        return 0
    print(f"{args.file}: G-NetTrack drive log, {drive.day}, sha256 {drive.sha256[:16]}...")
    for key, value in stats.items():
        print(f"  {key:<36} {value:>12.4g}")
    if args.plot:
        print(f"  map written to {args.plot}")
    return 0


def _cmd_coverage_paths(args: argparse.Namespace) -> int:
    from romanus.scenario import load_suite
    from romanus.vehicle.population import build_library

    files = [f for src in args.suites for f in load_suite(src)]
    lib = build_library(files)  # the estimate's slots per period and periods of path
    lib.save(args.output)
    print(f"{args.output}: {len(lib.rates)} transitions from {len(files)} scenarios of {len(lib.sources)} drives")
    return 0


def _cmd_coverage_build(args: argparse.Namespace) -> int:
    from romanus.coverage import build_coverage
    from romanus.drives import find_drives, load_drive

    drives = [load_drive(p) for p in find_drives(args.drives)]
    days = sorted({d.day for d in drives})
    if args.days:
        keep = {d.strip() for d in args.days.split(",") if d.strip()}
        unknown = keep - set(days)
        if unknown:
            raise ValueError(f"--days: no drive on {', '.join(sorted(unknown))} (the folder has {', '.join(days)})")
        drives = [d for d in drives if d.day in keep]
    if args.exclude_days:
        drop = {d.strip() for d in args.exclude_days.split(",") if d.strip()}
        drives = [d for d in drives if d.day not in drop]
    if not drives:
        raise ValueError(f"{args.drives}: no G-NetTrack drive left to build a map from")
    cmap = build_coverage(drives, args.cell_m, outage_mbps=args.outage_mbps, uplink_model=args.uplink_model)
    path = cmap.save(args.output)
    used = sorted({d.day for d in drives})
    print(f"{path}: {len(cmap.cells)} cells of {args.cell_m:g} m from {len(drives)} drives ({', '.join(used)})")
    return 0


def _cmd_trace_info(args: argparse.Namespace) -> int:
    from romanus.drives import is_gnettrack

    if is_gnettrack(args.file):
        return _cmd_drive_info(args)
    from romanus.traces import load_trace, trace_stats, window_rates

    trace = load_trace(args.file, args.format)
    stats = trace_stats(trace, args.window_ms)
    out = {"file": args.file, "format": trace.format, "sha256": trace.sha256, **stats}
    if args.plot:
        from romanus import plots

        rates = window_rates(trace, args.window_ms / 1000.0)
        plots.trace_capacity(args.plot, rates, args.window_ms, stats["mean_mbps"], f"{args.file} ({trace.format})")
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{args.file}: {trace.format} trace, sha256 {trace.sha256[:16]}...")
    print(f"  duration                {stats['duration_s']:>10.1f} s")
    print(f"  mean capacity           {stats['mean_mbps']:>10.3f} Mbit/s")
    for q in ("p10", "p50", "p90"):
        print(f"  {q + ' capacity':<23} {stats[q + '_mbps']:>10.3f} Mbit/s  ({args.window_ms:g} ms windows)")
    print(f"  outage fraction         {stats['outage_fraction']:>10.4f}")
    print(f"  longest outage          {stats['longest_outage_s']:>10.1f} s")
    if args.plot:
        print(f"  plot written to {args.plot}")
    return 0


def _parse_seeds(text: str, flag: str = "--seeds") -> range:
    try:
        return cliargs.seed_range(text)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"{flag}: {exc}") from None


def _cmd_scenario_record(args: argparse.Namespace) -> int:
    from romanus.config import load_preset
    from romanus.scenario import record_scenario, trace_override

    preset = load_preset(args.env, trace_override(args.uplink_trace, args.downlink_trace) or None)
    scenario = record_scenario(preset, args.seed, args.duration_s)
    path = scenario.save(args.output)
    print(f"{path}: {preset.name}, seed {args.seed}, {scenario.frames} frames, checksum {scenario.checksum[:16]}...")
    return 0


def _cmd_scenario_replay(args: argparse.Namespace) -> int:
    from romanus.policies import policy_for
    from romanus.scenario import Scenario
    from romanus.sim.records import kpis, write_frames_csv
    from romanus.sim.simulator import Simulator
    from romanus.vehicle.view import drive

    scenario = Scenario.load(args.path)
    preset = scenario.preset
    sim = Simulator(preset, seed=scenario.seed, world=scenario.world())
    policy = policy_for(sim, args.policy)
    frames_log = drive(sim, policy, scenario.frames)
    result = kpis(frames_log)
    if args.frames_csv:
        write_frames_csv(frames_log, args.frames_csv, sim.catalogue.modes, sim.catalogue.scenes)
    if args.json:
        meta = {"scenario": args.path, "checksum": scenario.checksum, "env": preset.name, "policy": policy.name}
        print(json.dumps({**meta, **result}))
        return 0
    print(f"{args.path}: {preset.name}, seed {scenario.seed}, {scenario.frames} frames; policy {policy.name}")
    _print_kpis(result)
    return 0


def _cmd_scenario_info(args: argparse.Namespace) -> int:
    from romanus.scenario import Scenario, scenario_summary

    sc = Scenario.load(args.path)
    out = {**scenario_summary(sc), "path": args.path}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{args.path}: {out['env']} scenario, seed {sc.seed}, {sc.duration_s:g} s ({sc.frames} frames)")
    print(f"  format v{out['format_version']}, romanus {out['romanus_version']}, created {out['created_utc']}")
    print(f"  checksum {sc.checksum}")
    for link in ("uplink", "downlink"):
        mean, zero = out[f"{link}_mean_mbps"], out[f"{link}_zero_fraction"]
        print(f"  {link} mean {mean:.2f} Mbit/s, zero capacity {zero:.2%} of the time")
    share = out["scene_share"]
    print("  scenes: " + ", ".join(f"{k} {v:.0%}" for k, v in sorted(share.items(), key=lambda kv: -kv[1])))
    print(f"  background requests: {out['background_requests']}")
    for src in out["sources"]:
        print(f"  {src['link']} trace {src['file']} ({src['format']}, sha256 {src['sha256'][:16]}...)")
    return 0


def _cmd_scenario_suite(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from romanus.scenario import record_suite

    if args.drives is not None:
        return _cmd_scenario_drive_suite(args)
    if args.seeds is None:
        raise ValueError("scenario suite: give --seeds A:B (synthetic worlds) or --drives DIR (real drives)")
    if args.coverage_map is not None or args.capacity_library is not None:
        raise ValueError("scenario suite: --coverage-map and --capacity-library name a drive's knowledge: use --drives")
    seeds = _parse_seeds(args.seeds)
    with tqdm(total=len(seeds), unit="scenario", delay=2.0, disable=args.quiet, file=sys.stderr) as bar:
        files = record_suite(
            args.env,
            seeds,
            args.duration_s,
            args.output,
            uplink_traces=args.uplink_traces,
            workers=args.workers,
            progress=bar.update,
        )
    print(f"{args.output}: {len(files)} scenarios of {args.env}")
    return 0


def _cmd_scenario_drive_suite(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from romanus.scenario import record_drive_suite

    if args.seeds is not None or args.uplink_traces is not None:
        raise ValueError("scenario suite: --drives takes neither --seeds (use --seed) nor --uplink-traces")
    with tqdm(unit="scenario", delay=2.0, disable=args.quiet, file=sys.stderr) as bar:
        files = record_drive_suite(
            args.drives,
            args.output,
            env=args.env,
            window_s=args.window_s,
            split=args.split,
            test_days=args.test_days,
            seed=args.seed,
            uplink_model=args.uplink_model,
            coverage_map=args.coverage_map,
            capacity_library=args.capacity_library,
            workers=args.workers,
            progress=bar.update,
        )
    for part, paths in files.items():
        print(f"{args.output}/{part}: {len(paths)} scenarios of {args.env} from the drives of {args.drives}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from romanus.compare import compare, summary_markdown
    from romanus.scenario import load_suite, record_suite

    if bool(args.scenarios) == bool(args.seeds):
        raise ValueError("give exactly one of --scenarios DIR and --seeds A:B")
    if args.scenarios and (Path(args.scenarios) / "fleet.json").is_file():  # a recorded fleet
        from romanus.fleetcli import compare_fleet_scenario

        return compare_fleet_scenario(args.scenarios, args.policies, Path(args.out), quiet=args.quiet)
    out = Path(args.out)
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    if not policies:
        raise ValueError("--policies needs at least one policy")
    if args.seeds:
        seeds = _parse_seeds(args.seeds)
        with tqdm(
            total=len(seeds), unit="scenario", desc="recording", delay=2.0, disable=args.quiet, file=sys.stderr
        ) as bar:
            files = record_suite(
                args.env,
                seeds,
                args.duration_s,
                out / "scenarios",
                uplink_traces=args.uplink_traces,
                workers=args.workers,
                progress=bar.update,
            )
    else:
        files = load_suite(args.scenarios)
    _check_policies(policies, files[0])
    total = len(policies) * len(files)
    with tqdm(total=total, unit="run", desc="comparing", delay=2.0, disable=args.quiet, file=sys.stderr) as bar:
        result = compare(files, policies, out, workers=args.workers, progress=bar.update)
    print(summary_markdown(result, f"{len(policies)} policies on {len(files)} scenarios"))
    print(f"results: {out / 'results.csv'}; per-frame logs: {out / 'frames'}")
    print(
        "plots: "
        + ", ".join(str(out / n) for n in ("pareto.png", "latency_cdf.png", "timeline.png", "modes_per_scene.png"))
    )
    return 0


def _check_policies(policies: list[str], scenario_file: object) -> None:
    """Fail before any work if a policy name is unknown."""
    from romanus.policies import policy_for
    from romanus.scenario import Scenario
    from romanus.sim.simulator import Simulator

    sc = Scenario.load(str(scenario_file))
    sim = Simulator(sc.preset, sc.seed, world=sc.world())
    for p in policies:
        policy_for(sim, p)


def _cmd_train(args: argparse.Namespace) -> int:
    from romanus.train.train import TrainSpec, resume, train

    if args.resume:
        run, state = resume(args.resume, args.threads)
    else:
        if not args.env or not args.algo:
            raise ValueError("--env and --algo are needed (or --resume RUN_DIR)")
        spec = TrainSpec(
            env=args.env,
            algo=args.algo,
            seed=args.seed,
            timesteps=args.timesteps,
            hyperparams=args.hyperparams,
            eval_scenarios=args.eval_scenarios,
            out=args.out,
            threads=args.threads or 1,
            eval_freq=args.eval_freq,
            checkpoint_freq=args.checkpoint_freq,
        )
        run, state = train(spec, args.command_line)
    print(f"{run}: {state}")
    if state == "interrupted":
        print(f"resume with: romanus train --resume {run}")
        return 130
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from romanus.compare import compare, summarise
    from romanus.scenario import load_suite
    from romanus.train.agent import is_agent_spec

    spec = args.model if is_agent_spec(args.model) else f"agent:{args.model}"
    files = load_suite(args.scenarios)
    result = compare(files, [spec], None, workers=args.workers)
    stats = summarise(result)[spec]
    table = {"policy": spec, "scenarios": len(files), "runs": result.rows}
    table.update({k: {"mean": v.mean, "ci95": v.half_width} for k, v in stats.items() if hasattr(v, "half_width")})
    csv_path, json_path = _write_evaluation(result, table, spec, args.scenarios, args.out)
    if args.json:
        print(json.dumps(table))
        return 0
    print(f"{spec} on {len(files)} scenarios:")
    for row in result.rows:
        print(
            f"  {row['scenario']:<20} energy {row['energy_per_frame_mj']:8.1f} mJ  risky {row['risky_rate']:7.2%}"
            f"  missed {row['deadline_miss_rate']:7.2%}  offloaded {row['offload_fraction']:7.2%}"
        )
    for key, label, scale, unit in (
        ("energy_per_frame_mj", "energy per frame", 1.0, "mJ"),
        ("risky_rate", "risky frames", 100.0, "%"),
        ("deadline_miss_rate", "missed deadlines", 100.0, "%"),
    ):
        ci = stats[key]
        print(f"  mean {label:<18} {ci.mean * scale:8.2f} ± {ci.half_width * scale:.2f} {unit} (95 % CI)")
    print(f"written to {csv_path} and {json_path}")
    return 0


def _write_evaluation(
    result: object, table: dict[str, object], spec: str, scenarios: str, out: str | None
) -> tuple[object, object]:
    """``<model>__<suite>.csv`` (one row per scenario) and ``.json`` (with the means and CIs)
    into ``out``, by default the run folder's ``evaluation/``."""
    from pathlib import Path

    from romanus.compare import write_results_csv
    from romanus.fileio import atomic_write_bytes

    target = Path(spec.partition(":")[2])
    if out is not None:
        folder = Path(out)
    elif target.is_dir():
        folder = target / "evaluation"
    else:  # a model file: its run folder (model.zip or checkpoints/model.zip), else next to it
        runs = [p for p in (target.parent, target.parent.parent) if (p / "config.yml").is_file()]
        folder = (runs[0] if runs else target.parent) / "evaluation"
    model = "run" if target.is_dir() else target.stem
    name = f"{model}__{Path(scenarios).resolve().stem}"
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = folder / f"{name}.csv", folder / f"{name}.json"
    write_results_csv(result, csv_path)  # type: ignore[arg-type]
    atomic_write_bytes(json_path, (json.dumps(table, indent=1) + "\n").encode())
    return csv_path, json_path


def _cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from romanus.compare import compare, summary_markdown
    from romanus.scenario import record_suite
    from romanus.study import DEMO_HEURISTIC, learned_lines
    from romanus.train.train import TrainSpec, resolve_env, train

    out = Path(args.out)
    env_id, preset = resolve_env(args.env)
    print(f"1/3 training MaskablePPO on {env_id} for {args.timesteps} steps (run folder in {out / 'runs'})")
    run, state = train(
        TrainSpec(
            env=args.env,
            algo="maskable_ppo",
            seed=args.seed,
            timesteps=args.timesteps,
            out=str(out / "runs"),
            eval_freq=max(args.timesteps // 5, 1000),
        ),
        args.command_line,
    )
    if state != "finished":
        print(f"training {state}; resume with: romanus train --resume {run}")
        return 130
    seeds = range(2_000_000, 2_000_000 + args.scenarios)
    print(
        f"2/3 recording {len(seeds)} held-out test scenarios of its world ({args.duration_s:g} s each, seeds never "
        "used in training)"
    )
    files = record_suite(preset, seeds, args.duration_s, out / "test_scenarios", workers=args.workers)
    agent = f"maskable_ppo:{run}"
    policies = [
        "local-robust",
        "robust-agnostic",
        "offload-all",
        "offload-all+fallback",
        *DEMO_HEURISTIC,
        "oracle",
        agent,
    ]
    print(f"3/3 comparing {len(policies)} policies on them")
    with tqdm(total=len(policies) * len(files), unit="run", delay=2.0, file=sys.stderr) as bar:
        result = compare(files, policies, out / "compare", workers=args.workers, progress=bar.update)
    print()
    print(summary_markdown(result, f"Trained agent vs the baselines ({env_id}, held-out scenarios)"))
    cmp = out / "compare"
    print(f"run folder: {run}")
    print(f"results: {cmp / 'results.csv'}, {cmp / 'summary.md'}")
    print(
        "plots: "
        + ", ".join(str(cmp / n) for n in ("pareto.png", "latency_cdf.png", "timeline.png", "modes_per_scene.png"))
    )
    print(f"What the agent learned ({len(files)} held-out scenarios):")
    for line in learned_lines(result, agent):
        print(line)
    return 0


def _cmd_profile(args: argparse.Namespace) -> int:
    import dataclasses

    from tqdm import tqdm

    from romanus.config import load_preset
    from romanus.fileio import atomic_write_bytes
    from romanus.pipeline.profiler import module_specs, profile_pipeline

    pipeline = load_preset(args.env).pipeline
    if args.input:
        try:
            h, w = (int(x) for x in args.input.lower().split("x"))
        except ValueError:
            raise ValueError(f"--input expects HxW, e.g. 384x672, got {args.input!r}") from None
        pipeline = dataclasses.replace(pipeline, input_height=h, input_width=w)
    from romanus.pipeline.profile import PipelineProfile

    n = len(module_specs(pipeline, PipelineProfile(dataclasses.replace(pipeline, profile=None))))
    with tqdm(total=n, unit="module", delay=2.0, disable=args.quiet, file=sys.stderr) as bar:
        data = profile_pipeline(
            pipeline,
            device=args.device,
            repeats=args.repeats,
            calibrate=args.calibrate,
            measure=not args.no_measure,
            progress=bar.update,
        )
    if args.created_utc:
        data["created_utc"] = args.created_utc
    atomic_write_bytes(args.out, (json.dumps(data, indent=1) + "\n").encode())
    threads = data["provenance"]["threads_all"]
    print(f"{args.out}: {len(data['modules'])} modules, {data['provenance']['device_name']}")
    header = f"{'module':<26} {'GFLOP':>8} {'params':>10} {'out int8 B':>11} {'cpu 1t ms':>10}"
    print(f"  {header} {f'cpu {threads}t ms':>10} {'latency ms':>11}")
    for name, m in data["modules"].items():
        meas = m.get("measured", {})
        one = meas.get("threads_1", {}).get("median_ms", float("nan"))
        allt = meas.get(f"threads_{threads}", {}).get("median_ms", float("nan"))
        print(
            f"  {name:<26} {m['flops'] / 1e9:>8.3f} {m['params']:>10} {m['output_bytes']['int8']:>11}"
            f" {one:>10.2f} {allt:>10.2f} {m['latency_ms']:>11.3f}"
        )
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from romanus.sweep import load_sweep, run_sweep, trials_of

    sweep = load_sweep(args.file)
    out = Path(args.out or Path("sweeps") / sweep.name)
    n = len(trials_of(sweep))
    with tqdm(total=n, unit="trial", delay=2.0, disable=args.quiet or args.backend == "ray", file=sys.stderr) as bar:
        results = run_sweep(
            sweep, out, backend=args.backend, workers=args.workers, address=args.address, progress=bar.update
        )
    failed = sum(r["status"] != "ok" for r in results)
    print((out / "summary.md").read_text())
    print(f"{out}: {len(results)} trials, {failed} failed; results.csv, summary.md, pareto.png")
    return 1 if failed else 0


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.fleet:
        from romanus.fleetcli import cmd_fleet_bench

        return cmd_fleet_bench(args)
    from romanus.bench import format_report, run_bench, write_report

    report = run_bench(quick=args.quick, progress=lambda name: print(f"  measuring {name} ...", file=sys.stderr))
    print(format_report(report))
    if args.json:
        write_report(report, args.json)
        print(f"  written to {args.json}")
    return 0


#: ``romanus reproduce --quick``'s sizes (a smoke run of every stage); without ``--quick`` the
#: defaults are :class:`romanus.study.StudySpec`'s; a flag given explicitly wins over both
REPRODUCE_QUICK: dict[str, Any] = {
    "seeds": "0:2",
    "timesteps": 2048,
    "calibration_seeds": "3000000:3000002",
    "test_seeds": "2000000:2000003",
    "duration_s": 10.0,
    "worlds": "connected",
    "fleet_sizes": [1],
    "drive_calibration_windows": 4,
}


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from romanus.study import OTHER_PRESETS, StudySpec, run_study

    quick = REPRODUCE_QUICK if args.quick else {}

    def value(key: str) -> Any:
        given = getattr(args, key, None)
        return given if given is not None else quick.get(key)

    chosen: dict[str, Any] = {}  # what the flags or --quick set; the rest keeps StudySpec's defaults
    for key in ("seeds", "calibration_seeds", "test_seeds"):
        if value(key) is not None:
            chosen[key] = tuple(_parse_seeds(value(key), "--" + key.replace("_", "-")))
    for key in ("timesteps", "duration_s", "drive_calibration_windows"):
        if value(key) is not None:
            chosen[key] = value(key)
    if value("worlds"):  # empty: every world, as by default
        chosen["worlds"] = tuple(w for w in value("worlds").split(",") if w)
    if value("fleet_sizes") is not None:
        chosen["fleet_sizes"] = tuple(value("fleet_sizes"))
    if args.drive_seeds is not None:
        none = args.drive_seeds.strip().lower() == "none"
        chosen["drive_seeds"] = () if none else tuple(_parse_seeds(args.drive_seeds, "--drive-seeds"))
    spec = StudySpec(
        out=args.out,
        env=args.env,
        algo=args.algo,
        traces=tuple(args.traces or ()),
        other_presets=() if args.no_presets or args.quick else OTHER_PRESETS,
        drives=args.drives,
        drive_window_s=args.drive_window_s,
        drive_timesteps=args.drive_timesteps,
        drive_population=not args.no_drive_population,
        drive_credit=not args.no_drive_credit,
        workers=args.workers,
        **chosen,
    )
    path = run_study(spec, progress=lambda text: print(f"  {text} ...", file=sys.stderr))
    print(path.read_text())
    print(f"study: {path}; comparisons with plots in {path.parent}/<suite>/")
    return 0


def _print_kpis(result: dict[str, float]) -> None:
    for key, label, unit in _KPI_ROWS:
        value = result[key]
        text = f"{value:.0f}" if unit == "frames" else (f"{value:.4f}" if not unit else f"{value:.2f}")
        print(f"  {label:<28} {text:>12} {unit}")


ENV_HELP = "shipped preset name, preset YAML path or Gymnasium id, e.g. romanus/Default-v2 (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    from romanus.policies import POLICY_NAMES
    from romanus.train.algorithms import ALGORITHMS

    parser = argparse.ArgumentParser(
        prog="romanus",
        description="Simulate, learn and compare task offloading for multi-sensor autonomous driving.",
    )
    parser.add_argument("--version", action="version", version=f"romanus {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument(
        "--trust-model",
        action="store_true",
        help="let model files that cannot be loaded safely (weights only) be unpickled: runs code from the file",
    )
    # global flags work after the subcommand too
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--trust-model", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("simulate", parents=[common], help="run a fixed policy on a preset and print its KPIs")
    p.add_argument("--env", default="default", help=ENV_HELP)
    p.add_argument("--policy", default="local-robust", help="a policy (see 'romanus policies'); default: %(default)s")
    p.add_argument(
        "--frames", type=cliargs.frames, default=6000, help="perception cycles to simulate (default: %(default)s)"
    )
    p.add_argument(
        "--seed",
        type=cliargs.non_negative_int,
        default=0,
        help="root seed of every random stream (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print the KPIs as one JSON object")
    p.add_argument("--frames-csv", metavar="PATH", help="also write one row per frame to this CSV")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("modes", parents=[common], help="list the operating-mode catalogue of a preset")
    p.add_argument("--env", default="default", help=ENV_HELP)
    p.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    p.set_defaults(func=_cmd_modes)

    p = sub.add_parser("policies", parents=[common], help="list every policy (fixed and trained) with a description")
    p.add_argument("--env", default="default", help="whose pipeline tiers to list: " + ENV_HELP)
    p.add_argument("--json", action="store_true", help="print them as JSON")
    p.set_defaults(func=_cmd_policies)

    p = sub.add_parser("presets", parents=[common], help="list the shipped presets")
    p.set_defaults(func=_cmd_presets)

    trace = sub.add_parser("trace", parents=[common], help="inspect link-capacity traces").add_subparsers(
        dest="trace_command", metavar="COMMAND", required=True
    )
    p = trace.add_parser("info", parents=[common], help="duration, capacity percentiles and outages of a trace")
    p.add_argument(
        "file",
        help="trace file (mahimahi, cooked 'time_s Mbit/s', NYU 'value,unit'), a G-NetTrack drive log, or builtin:NAME",
    )
    p.add_argument("--format", default="auto", choices=["auto", "mahimahi", "cooked", "nyu"])
    p.add_argument(
        "--window-ms",
        type=cliargs.window_ms,
        default=100.0,
        help="window for percentiles and outages (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print the statistics as one JSON object")
    p.add_argument("--plot", metavar="PNG", help="draw capacity over time (a drive: along its route) into this PNG")
    p.set_defaults(func=_cmd_trace_info)

    cov = sub.add_parser("coverage", parents=[common], help="coverage maps learned from drives").add_subparsers(
        dest="coverage_command", metavar="COMMAND", required=True
    )
    p = cov.add_parser("build", parents=[common], help="learn a coverage map from the G-NetTrack drives of a folder")
    p.add_argument("drives", metavar="DIR", help="folder of G-NetTrack drive logs (e.g. ../shared/traces/irish-5g)")
    p.add_argument("-o", "--output", required=True, metavar="MAP.json")
    p.add_argument("--days", metavar="D1,D2", help="only the drives of these days (YYYY-MM-DD): the training split")
    p.add_argument("--exclude-days", metavar="D1,D2", help="leave out the drives of these days (the held-out split)")
    p.add_argument("--cell-m", type=float, default=100.0, help="cell size in metres (default: %(default)s)")
    p.add_argument(
        "--outage-mbps", type=float, default=1.0, help="uplink below this counts as an outage (default: %(default)s)"
    )
    p.add_argument("--uplink-model", choices=["dl_ratio", "cqi"], default="dl_ratio", help="derived uplink model")
    p.set_defaults(func=_cmd_coverage_build)
    p = cov.add_parser(
        "paths",
        parents=[common],
        help="a capacity library (uplink paths of recorded drive windows) for the risk estimate's population prior",
    )
    p.add_argument("suites", nargs="+", metavar="SUITE", help="recorded scenarios or suite folders (training days)")
    p.add_argument("-o", "--output", required=True, metavar="LIB.npz")
    p.set_defaults(func=_cmd_coverage_paths)

    scen = sub.add_parser("scenario", parents=[common], help="record, replay and inspect scenarios").add_subparsers(
        dest="scenario_command", metavar="COMMAND", required=True
    )
    p = scen.add_parser("record", parents=[common], help="record every exogenous input of a preset for a duration")
    p.add_argument("--env", default="default", help=ENV_HELP)
    p.add_argument("--seed", type=cliargs.non_negative_int, required=True)
    p.add_argument(
        "--duration-s", type=cliargs.duration_s, required=True, help="simulated seconds (frames = duration / period)"
    )
    p.add_argument("--uplink-trace", metavar="FILE", help="drive the uplink with this trace (random start offset)")
    p.add_argument("--downlink-trace", metavar="FILE", help="drive the downlink with this trace (random start offset)")
    p.add_argument("-o", "--output", required=True, metavar="PATH", help="scenario file to write")
    p.set_defaults(func=_cmd_scenario_record)
    p = scen.add_parser("replay", parents=[common], help="run a policy on a recorded scenario and print its KPIs")
    p.add_argument("path", help="scenario file (.scenario)")
    p.add_argument(
        "--policy",
        default="local-robust",
        help="a policy or <algo>:RUN_DIR (see 'romanus policies'); default: %(default)s",
    )
    p.add_argument("--json", action="store_true", help="print the KPIs as one JSON object")
    p.add_argument("--frames-csv", metavar="PATH", help="also write one row per frame to this CSV")
    p.set_defaults(func=_cmd_scenario_replay)
    p = scen.add_parser("info", parents=[common], help="what a scenario file holds")
    p.add_argument("path", help="scenario file (.scenario)")
    p.add_argument("--json", action="store_true", help="print it as one JSON object")
    p.set_defaults(func=_cmd_scenario_info)
    p = scen.add_parser(
        "suite", parents=[common], help="record one scenario per seed (or per real drive) into a folder"
    )
    p.add_argument("--env", default="default", help=ENV_HELP)
    p.add_argument("--seeds", metavar="A:B", help="seeds A..B-1 (synthetic worlds; required without --drives)")
    p.add_argument(
        "--duration-s",
        type=cliargs.duration_s,
        default=60.0,
        help="simulated seconds per scenario (default: %(default)s; with --drives: the drive or --window-s)",
    )
    p.add_argument(
        "--uplink-traces", metavar="DIR", help="drive the uplink with these traces, one per scenario in turn"
    )
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.add_argument(
        "--workers", type=cliargs.workers, default=1, help="processes recording in parallel (default: %(default)s)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--drives",
        metavar="DIR",
        help="record one scenario per G-NetTrack drive log of DIR (links and place from the drive; docs/drives.md)",
    )
    p.add_argument(
        "--window-s",
        type=cliargs.duration_s,
        help="--drives: one scenario per window of this many seconds of each drive (default: whole drives)",
    )
    p.add_argument(
        "--split",
        choices=("train", "test", "all"),
        default="all",
        help="--drives: which day split to record into OUTPUT/train and OUTPUT/test (default: %(default)s)",
    )
    p.add_argument(
        "--test-days",
        nargs="+",
        metavar="YYYY-MM-DD",
        help="--drives: the held-out days (default: the latest day); the other days are the training split",
    )
    p.add_argument(
        "--seed",
        type=cliargs.non_negative_int,
        default=0,
        help="--drives: scenario i (every window of every drive in order) has seed SEED + i (default: %(default)s)",
    )
    p.add_argument(
        "--uplink-model",
        choices=("dl_ratio", "cqi"),
        default="dl_ratio",
        help="--drives: derivation of the uplink capacity (default: %(default)s)",
    )
    p.add_argument("--coverage-map", metavar="MAP", help="--drives: name this coverage map in the scenarios' preset")
    p.add_argument(
        "--capacity-library",
        metavar="LIB",
        help="--drives: name this capacity library (romanus coverage paths) in the scenarios' preset",
    )
    p.set_defaults(func=_cmd_scenario_suite)

    p = sub.add_parser(
        "reproduce", parents=[common], help="the paper study: train over seeds, compare with every baseline, generalise"
    )
    p.add_argument("--seeds", metavar="A:B", help="training seeds (default: 0:5; --quick: 0:2)")
    p.add_argument(
        "--env",
        default="romanus/DefaultShielded-v2",
        help="training env: the default world posed with or without the shield (default: %(default)s; "
        "romanus/Default-v2 for the unshielded learner)",
    )
    p.add_argument("--algo", default="maskable_ppo", choices=list(ALGORITHMS))
    p.add_argument(
        "--timesteps",
        type=cliargs.timesteps,
        help="training steps per seed (default: the shipped hyper-parameters'; --quick: 2048)",
    )
    p.add_argument(
        "--calibration-seeds",
        metavar="A:B",
        help="scenario seeds the heuristics' settings are chosen on (default: 3000000:3000010; --quick: two)",
    )
    p.add_argument(
        "--test-seeds", metavar="A:B", help="held-out scenario seeds (default: 2000000:2000020; --quick: three)"
    )
    p.add_argument("--duration-s", type=cliargs.duration_s, help="seconds per test scenario (default: 60; --quick: 10)")
    p.add_argument(
        "--worlds",
        metavar="W,W",
        help="evaluation worlds of the default preset: connected, owned, huang-linear (default: all, --quick: "
        "connected; the first carries the targets)",
    )
    p.add_argument("--traces", nargs="*", metavar="DIR", help="folders of real uplink traces for generalisation suites")
    p.add_argument("--drives", metavar="DIR", help="folder of G-NetTrack drives: evaluate on the held-out (latest) day")
    p.add_argument(
        "--drive-window-s",
        type=cliargs.duration_s,
        default=120.0,
        help="--drives: seconds per window (default: %(default)s)",
    )
    p.add_argument(
        "--drive-seeds",
        metavar="A:B",
        help="--drives: seeds of the agents trained on every window of the drives' training days, which are the "
        "drive suite's agents (the synthetic-world agents are shown beside them) (default: --seeds; 'none': "
        "evaluate the drives with the synthetic-world agents only)",
    )
    p.add_argument(
        "--drive-timesteps",
        type=cliargs.timesteps,
        help="--drives: training steps per drive agent (default: --timesteps if given, else 100000)",
    )
    p.add_argument(
        "--no-drive-population",
        action="store_true",
        help="--drives: no population prior (the capacity library of the training days' windows) in the drives' "
        "risk estimate (an ablation)",
    )
    p.add_argument(
        "--no-drive-credit",
        action="store_true",
        help="--drives: the drive agents' reward credited to the frames' deadlines, not in full to each frame's "
        "decision (env.reward.credit_gamma off; an ablation)",
    )
    p.add_argument(
        "--fleet-sizes",
        type=cliargs.positive_int,
        nargs="*",
        metavar="N",
        help="fleets on the connected world (default: 1 16, --quick: 1; none: no fleets)",
    )
    p.add_argument("--no-presets", action="store_true", help="skip generalisation to the other presets")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run of every stage: 2 seeds of 2048 steps (drive agents too), 2 calibration and 3 test "
        "scenarios of 10 s, the connected world, no other presets, a fleet of 1, 4 drive calibration windows; "
        "flags given explicitly win",
    )
    p.add_argument("--workers", type=cliargs.workers, default=2)
    p.add_argument("--out", default="study", help="output folder, resumable (default: %(default)s)")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser(
        "bench", parents=[common], help="measure every performance figure the project promises, side by side"
    )
    p.add_argument("--quick", action="store_true", help="small sizes (under a minute)")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--fleet", action="store_true", help="the fleet benchmark instead (romanus fleet bench)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser(
        "sweep", parents=[common], help="a grid of trainings (presets x algos x seeds x overrides), locally or on Ray"
    )
    p.add_argument("file", help="sweep YAML file")
    p.add_argument("--backend", default="local", choices=["local", "ray"])
    p.add_argument("--address", help="ray: join this cluster (default: start a local Ray instance)")
    p.add_argument("--workers", type=cliargs.workers, default=1, help="trials at once (default: %(default)s)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: sweeps/<name>)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser(
        "profile", parents=[common], help="profile the pipeline's torch modules (FLOPs, bytes, latency) into a file"
    )
    p.add_argument("--env", default="default", help="whose pipeline to profile: " + ENV_HELP)
    p.add_argument("--input", metavar="HxW", help="input size (default: the preset's)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument(
        "--repeats",
        type=cliargs.positive_int,
        default=5,
        help="timed runs per module after two warm-ups (default: %(default)s)",
    )
    p.add_argument(
        "--calibrate",
        default="px2",
        choices=["px2", "measured"],
        help="latency_ms: scaled by FLOPs to the PX2 points, or the measured median (default: %(default)s)",
    )
    p.add_argument("--no-measure", action="store_true", help="FLOPs and shapes only (px2 calibration)")
    p.add_argument("--created-utc", help=argparse.SUPPRESS)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, metavar="FILE", help="profile file to write (JSON)")
    p.set_defaults(func=_cmd_profile)

    p = sub.add_parser(
        "demo", parents=[common], help="train an agent, then compare it with every baseline on held-out scenarios"
    )
    p.add_argument(
        "--env",
        default="romanus/DefaultShielded-v2",
        help="training env, any --env form (default: %(default)s: the default world with the modem kept "
        "connected, the risk observation and a 0.2 %% shield; the study's training env)",
    )
    p.add_argument(
        "--timesteps",
        type=cliargs.timesteps,
        default=100_000,
        help="training steps (default: %(default)s, a few minutes)",
    )
    p.add_argument(
        "--scenarios", type=cliargs.positive_int, default=10, help="held-out test scenarios (default: %(default)s)"
    )
    p.add_argument(
        "--duration-s", type=cliargs.duration_s, default=60.0, help="seconds per test scenario (default: %(default)s)"
    )
    p.add_argument("--seed", type=cliargs.non_negative_int, default=0)
    p.add_argument(
        "--workers", type=cliargs.workers, default=2, help="processes for the comparison (default: %(default)s)"
    )
    p.add_argument("--out", default="demo", help="output folder (default: %(default)s)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "train",
        parents=[common],
        help="train an agent with stable-baselines3 into a run folder",
        usage=f"%(prog)s (--env ENV --algo {{{','.join(ALGORITHMS)}}} | --resume RUN_DIR) [options]",
        description="Train a new run (--env and --algo are required) or continue one (--resume RUN_DIR).",
    )
    p.add_argument(
        "--env", help="training env (required unless --resume): " + ENV_HELP.replace(" (default: %(default)s)", "")
    )
    p.add_argument("--algo", choices=list(ALGORITHMS), help="algorithm (required unless --resume)")
    p.add_argument("--timesteps", type=cliargs.timesteps, help="budget (default: the hyper-parameters' n_timesteps)")
    p.add_argument("--seed", type=cliargs.non_negative_int, default=0)
    p.add_argument("--hyperparams", metavar="FILE", help="RL Zoo style YAML keyed by env id (default: shipped)")
    p.add_argument(
        "--eval-scenarios", metavar="DIR", help="held-out suite (default: 3 scenarios recorded into the run)"
    )
    p.add_argument("--out", default="runs", help="folder of run folders (default: %(default)s)")
    p.add_argument("--threads", type=cliargs.positive_int, help="torch threads (default: 1)")
    p.add_argument(
        "--eval-freq",
        type=cliargs.positive_int,
        default=20_000,
        help="steps between evaluations (default: %(default)s)",
    )
    p.add_argument(
        "--checkpoint-freq",
        type=cliargs.positive_int,
        default=50_000,
        help="steps between checkpoints (default: %(default)s)",
    )
    p.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its newest checkpoint")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", parents=[common], help="a trained agent's KPIs on recorded scenarios")
    p.add_argument("model", help="run folder, model .zip, or <algo>:PATH")
    p.add_argument("--scenarios", required=True, metavar="DIR", help="suite folder or scenario file")
    p.add_argument("--env", help="ignored: the scenarios carry their world (kept for symmetry with train)")
    p.add_argument("--workers", type=cliargs.workers, default=1, help="processes (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the table as one JSON object")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write <model>__<suite>.csv and .json here (default: the run folder's evaluation/)",
    )
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "compare", parents=[common], help="every policy on the same recorded scenarios: table, CIs, plots"
    )
    p.add_argument("--env", default="default", help="with --seeds: " + ENV_HELP)
    p.add_argument("--scenarios", metavar="DIR", help="a suite folder (or one scenario file)")
    p.add_argument("--seeds", metavar="A:B", help="record seeds A..B-1 into OUT/scenarios first")
    p.add_argument(
        "--duration-s",
        type=cliargs.duration_s,
        default=60.0,
        help="with --seeds: seconds per scenario (default: %(default)s)",
    )
    p.add_argument("--uplink-traces", metavar="DIR", help="with --seeds: drive the uplink with these traces in turn")
    p.add_argument(
        "--policies",
        default=",".join(POLICY_NAMES),
        help="comma-separated policies (default: %(default)s)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--workers", type=cliargs.workers, default=1, help="processes (default: %(default)s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_compare)

    from romanus.fleetcli import add_fleet_commands

    add_fleet_commands(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = ["romanus", *(sys.argv[1:] if argv is None else argv)]  # for run provenance
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), format="%(levelname)s %(name)s: %(message)s")
    from romanus.config import ConfigError
    from romanus.scenario import ScenarioError
    from romanus.traces import TraceError

    if args.trust_model:  # read by every process that loads an agent, pool workers included
        import os

        from romanus.train.agent import TRUST_ENV

        os.environ[TRUST_ENV] = "1"
    try:
        if getattr(args, "env", None) and args.command not in ("train", "reproduce", "evaluate", "demo"):
            from romanus.env.registration import preset_ref

            args.env = preset_ref(args.env)  # every form of --env, read in one place
        return int(args.func(args))
    except (ConfigError, TraceError, ScenarioError) as exc:
        return _fail(str(exc))
    except ValueError as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 0
    except OSError as exc:
        return _fail(f"{exc.filename or ''}: {exc.strerror or exc}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
