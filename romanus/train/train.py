"""Training with stable-baselines3, with a run folder that says exactly what was done.

A run folder ``<env>__<algo>__<seed>__<time>`` holds:

- ``config.yml``: env id, the fully resolved preset, algorithm, seed, budget, the resolved
  hyper-parameters and their file, the evaluation scenarios (with checksums);
- ``args.json`` and ``command.txt``: the arguments and the command line;
- ``versions.json``: python, torch, stable-baselines3, sb3-contrib, gymnasium, numpy,
  romanus, and the git commit with a dirty flag;
- ``tb/``: TensorBoard logs, with the romanus KPIs (``romanus/energy_per_frame_mj``,
  ``romanus/risky_rate``, ``romanus/miss_rate``) and evaluation results (``eval/*``);
- ``monitor/``: SB3 Monitor CSVs with the episode KPIs as extra columns;
- ``checkpoints/``: periodic checkpoints (``rl_model_<steps>_steps.zip``);
- ``best_model.zip``: the best model on the held-out scenarios; ``final_model.zip``;
- ``eval.json``: every evaluation; ``status.json``: steps done, target, state.

Ctrl-C saves a checkpoint and stops cleanly; ``resume`` continues a run to the same total.

torch runs on ``TrainSpec.threads`` threads (1 by default, as on the command line): the small
MLPs of these envs train several times faster on one thread than on all cores.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import io
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml

from romanus import __version__
from romanus.config import Preset, load_preset
from romanus.env.core import EPISODE_KPIS, RomanusEnv, check_same_world
from romanus.env.registration import preset_ref
from romanus.fileio import atomic_write_bytes
from romanus.scenario import Scenario, load_suite, record_suite
from romanus.sim.simulator import build_catalogue
from romanus.train.agent import TRUST_ENV, algo_class, load_training_state, save_model, valid_model_file
from romanus.train.algorithms import algorithm
from romanus.train.hyperparams import algo_kwargs, entry_id, hyperparams_path, load_hyperparams
from romanus.vehicle.decision import DecisionStack

__all__ = ["TrainSpec", "resolve_env", "resume", "train"]

log = logging.getLogger(__name__)

HELD_OUT_SEEDS = range(1_000_000, 1_000_003)  # default evaluation scenarios: seeds no training uses


@dataclass(frozen=True)
class TrainSpec:
    env: str  # Gymnasium id (romanus/<Name>-v<k>) or preset name / path
    algo: str
    seed: int = 0
    timesteps: int | None = None  # default: the hyper-parameters' n_timesteps
    hyperparams: str | None = None  # default: the shipped file
    eval_scenarios: str | None = None  # default: record 3 held-out scenarios into the run
    out: str = "runs"
    threads: int = 1
    eval_freq: int = 20_000
    checkpoint_freq: int = 50_000
    eval_duration_s: float = 60.0


def resolve_env(env: str) -> tuple[str, str]:
    """(Gymnasium id, preset name or path) of an env given in any ``--env`` form."""
    ref = preset_ref(env)
    env_id = env.split(":", 1)[1] if ":" in env else env
    return (env_id if env_id in gym.registry else load_preset(ref).gym_id), ref


def _versions() -> dict[str, Any]:
    import sb3_contrib
    import stable_baselines3
    import torch

    out: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "sb3_contrib": sb3_contrib.__version__,
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
        "romanus": __version__,
    }
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10)
        out["git_commit"] = commit.stdout.strip() if commit.returncode == 0 else None
        out["git_dirty"] = bool(dirty.stdout.strip()) if dirty.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        out["git_commit"], out["git_dirty"] = None, None
    return out


def _write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=1, default=str).encode())


def _make_vec_env(
    preset_ref: str, n_envs: int, seed: int, monitor_dir: Path | None, env_id: str, append: bool = False
) -> Any:
    """In-process vector envs with Monitor CSVs in ``monitor_dir`` (appended to on a resume:
    the episodes before an interruption stay in them)."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    def make() -> RomanusEnv:
        env = RomanusEnv(preset_ref)
        # what gym.make would set; Monitor writes it into its CSV header
        env.spec = gym.registry[env_id] if env_id in gym.registry else gym.envs.registration.EnvSpec(env_id)
        return env

    return make_vec_env(
        make,
        n_envs=n_envs,
        seed=seed,
        monitor_dir=None if monitor_dir is None else str(monitor_dir),
        monitor_kwargs={"info_keywords": EPISODE_KPIS, "override_existing": not append},
        vec_env_cls=DummyVecEnv,  # in-process envs beat subprocesses on 2 cores
    )


def _callbacks(run: Path, config: dict[str, Any], n_envs: int, total: int) -> list[Any]:
    from romanus.train.callbacks import AtomicCheckpoints, KpiLogger, ProgressBar, ScenarioEval

    algo = config["algo"]
    return [
        KpiLogger(),
        AtomicCheckpoints(
            save_freq=max(config["checkpoint_freq"] // n_envs, 1),
            save_path=str(run / "checkpoints"),
            name_prefix="rl_model",
            save_replay_buffer=algorithm(algo).replay_buffer,
        ),
        ScenarioEval(
            run,
            [str(p) for p in config["eval_scenarios"]["files"]],
            config["preset_ref"],
            maskable=algorithm(algo).maskable,
            eval_freq=max(config["eval_freq"] // n_envs, 1),
        ),
        ProgressBar(total),
    ]


def _learn(model: Any, run: Path, config: dict[str, Any], n_envs: int, reset: bool) -> str:
    """Learn to the run's total; returns "finished" or "interrupted" (after a checkpoint)."""
    total = int(config["timesteps"])
    remaining = total - model.num_timesteps
    state = "finished"
    try:
        if remaining > 0:
            model.learn(
                total_timesteps=remaining,
                callback=_callbacks(run, config, n_envs, total),
                reset_num_timesteps=reset,
                tb_log_name="run",
            )
    except KeyboardInterrupt:
        state = "interrupted"
        path = run / "checkpoints" / f"rl_model_{model.num_timesteps}_steps.zip"
        save_model(model, path)
        if algorithm(config["algo"]).replay_buffer:
            buf = io.BytesIO()
            model.save_replay_buffer(buf)
            atomic_write_bytes(
                run / "checkpoints" / f"rl_model_replay_buffer_{model.num_timesteps}_steps.pkl", buf.getvalue()
            )
        log.warning(
            "interrupted at %d steps: checkpoint %s; resume with: romanus train --resume %s",
            model.num_timesteps,
            path,
            run,
        )
    if state == "finished":
        save_model(model, run / "final_model.zip")
    _write_json(run / "status.json", {"timesteps": int(model.num_timesteps), "target": total, "state": state})
    return state


def train(spec: TrainSpec, argv: Sequence[str] | None = None) -> tuple[Path, str]:
    """Train a new run; returns (run folder, "finished" or "interrupted")."""
    env_id, preset_ref = resolve_env(spec.env)
    preset: Preset = load_preset(preset_ref)
    hp_id = entry_id(spec.algo, env_id, preset_ref, spec.hyperparams)
    params = load_hyperparams(spec.algo, hp_id, spec.hyperparams)
    timesteps = spec.timesteps if spec.timesteps is not None else params.n_timesteps
    eval_files: list[Path] = []
    checksums: list[str] = []
    if spec.eval_scenarios:  # refuse a suite of another world before making anything
        eval_files = load_suite(spec.eval_scenarios)
        checksums = [sc.checksum for sc in check_same_world(preset, eval_files)]

    import torch
    from stable_baselines3.common.utils import set_random_seed

    torch.set_num_threads(spec.threads)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    run = Path(spec.out) / f"{env_id.split('/')[-1]}__{spec.algo}__{spec.seed}__{stamp}"
    if run.exists():
        raise ValueError(f"{run} exists already")
    (run / "checkpoints").mkdir(parents=True)
    (run / "monitor").mkdir()
    if not eval_files:
        eval_files = record_suite(preset_ref, HELD_OUT_SEEDS, spec.eval_duration_s, run / "eval_scenarios")
        checksums = [Scenario.load(f).checksum for f in eval_files]
    stack = DecisionStack.of_preset(preset, build_catalogue(preset))
    config = {
        "env_id": env_id,
        "preset_ref": preset_ref,
        "preset": json.loads(json.dumps(dataclasses.asdict(preset))),
        "env_config": stack.env_config(),
        "algo": spec.algo,
        "seed": spec.seed,
        "timesteps": int(timesteps),
        "hyperparams_file": str(spec.hyperparams or hyperparams_path(spec.algo)),
        "hyperparams_env_id": hp_id,  # the entry used: env_id's, else a preset it extends
        "hyperparams": json.loads(json.dumps(dataclasses.asdict(params))),
        "eval_scenarios": {
            "files": [str(Path(f).resolve()) for f in eval_files],
            "checksums": checksums,
        },
        "threads": spec.threads,
        "eval_freq": spec.eval_freq,
        "checkpoint_freq": spec.checkpoint_freq,
    }
    atomic_write_bytes(run / "config.yml", yaml.safe_dump(config, sort_keys=False).encode())
    _write_json(run / "args.json", dataclasses.asdict(spec))
    atomic_write_bytes(run / "command.txt", (shlex.join(list(argv) if argv is not None else sys.argv) + "\n").encode())
    _write_json(run / "versions.json", _versions())
    set_random_seed(spec.seed)
    n_envs = getattr(params, "n_envs", 1)
    venv = _make_vec_env(preset_ref, n_envs, spec.seed, run / "monitor", env_id)
    model = algo_class(spec.algo)(
        params.policy,
        venv,
        seed=spec.seed,
        device="cpu",
        tensorboard_log=str(run / "tb"),
        verbose=0,
        **algo_kwargs(params),
    )
    return run, _learn(model, run, config, n_envs, reset=True)


def latest_checkpoint(run: Path) -> Path | None:
    """The newest checkpoint that is a whole model file (one cut short by a full disk or a
    kill is skipped, with a warning)."""
    from romanus.train.agent import _steps

    for ckpt in sorted((run / "checkpoints").glob("rl_model_*_steps.zip"), key=_steps, reverse=True):
        if valid_model_file(ckpt):
            return ckpt
        log.warning("%s is not a whole model file: resuming from an older checkpoint", ckpt)
    return None


def resume(run: str | Path, threads: int | None = None) -> tuple[Path, str]:
    """Continue a run from its newest checkpoint to its original total."""
    import torch

    run = Path(run)
    cfg_path = run / "config.yml"
    if not cfg_path.is_file():
        raise ValueError(f"{run}: not a run folder (no config.yml)")
    config = yaml.safe_load(cfg_path.read_text())
    torch.set_num_threads(threads or int(config.get("threads", 1)))
    ckpt = latest_checkpoint(run)
    if ckpt is None:
        raise ValueError(f"{run}: no checkpoint to resume from")
    hp_id = config.get("hyperparams_env_id", config["env_id"])  # runs before it: env_id's own
    params = load_hyperparams(config["algo"], hp_id, config["hyperparams_file"])
    n_envs = getattr(params, "n_envs", 1)
    from romanus.train.agent import _steps

    seed = int(config["seed"]) + _steps(ckpt)  # fresh episodes, still a function of the run
    venv = _make_vec_env(config["preset_ref"], n_envs, seed, run / "monitor", config["env_id"], append=True)
    # rebuilt from the run's config, the checkpoint's tensors loaded: nothing is unpickled
    model = algo_class(config["algo"])(
        params.policy,
        venv,
        seed=seed,
        device="cpu",
        tensorboard_log=str(run / "tb"),
        verbose=0,
        **algo_kwargs(params),
    )
    load_training_state(model, ckpt)
    if algorithm(config["algo"]).replay_buffer:
        buffer = run / "checkpoints" / f"rl_model_replay_buffer_{_steps(ckpt)}_steps.pkl"
        if buffer.is_file() and os.environ.get(TRUST_ENV) == "1":
            model.load_replay_buffer(str(buffer))
        elif buffer.is_file():
            log.warning(
                "%s is a pickle: not loaded (the replay buffer starts empty); pass --trust-model to load it", buffer
            )
    log.info("resuming %s from %s (%d of %d steps)", run, ckpt.name, model.num_timesteps, config["timesteps"])
    return run, _learn(model, run, config, n_envs, reset=False)
