"""Training on a recorded scenario suite: the learner sees exactly the scenarios it is given.

``romanus train`` trains on a live preset (one drive, random start); :func:`train_on_suite`
trains on every scenario of a recorded suite instead (every window of every training-day drive,
say), each of the ``n_envs`` environments replaying the suite in its own shuffled order
(``RomanusEnv(preset, scenario=[...])``), so the learner sees all training scenarios and none of
the validation or test ones. The run folder it writes is a policy for ``romanus compare``
(``<algo>:RUN_DIR``): ``final_model.zip`` and a ``config.yml`` with the algorithm, the env's
decision stack (observation, energy scale and the shield's budget, if the preset has a shield)
and the network, as ``romanus train`` writes them. ``train.json`` holds the wall time, the
process CPU time, the steps per second and what was asked (algorithm, seed, steps, the
hyper-parameter entry, digests of the resolved preset and of the scenario files); a run folder
that has it is not trained again, and one trained for a different request is an error, not a
silent reuse.

Used by ``romanus reproduce --drives`` (agents trained on the drives' training days) and by
the experiments in ``experiments/place`` and ``experiments/learner``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from romanus.fileio import atomic_write_bytes

__all__ = ["HYPERPARAMS_ENV_ID", "World", "train_on_suite", "train_on_worlds"]

log = logging.getLogger(__name__)

#: the hyper-parameter entry used unless told otherwise (experiments/hyperparams/<algo>.yml)
HYPERPARAMS_ENV_ID = "romanus/Default-v2"


#: a world to train in: a preset, and the scenarios it replays (None: live, a fresh random
#: scenario every episode, as ``romanus train``)
World = tuple[Path, Sequence[Path] | None]


def train_on_suite(
    preset: Path,
    scenarios: Sequence[Path],
    run: Path,
    *,
    seed: int,
    timesteps: int,
    algo: str = "maskable_ppo",
    hyperparams_env_id: str = HYPERPARAMS_ENV_ID,
    hyperparams_file: Path | None = None,
    threads: int = 1,
    progress: bool = False,
    teacher: str | None = None,
    teacher_epochs: int = 5,
) -> dict[str, Any]:
    """Train one seed of ``algo`` on ``preset`` replaying ``scenarios`` into the folder ``run``
    and return ``run/train.json``'s content (seed, timesteps, wall_s, cpu_s, steps_per_s,
    observation, request). Skipped when ``run/train.json`` exists and was trained for the same
    request (its content is returned): a study that calls this again resumes; ``ValueError``
    naming what differs when it was trained for another (an older file without a request is
    taken as it is). ``hyperparams_env_id`` names the entry of the hyper-parameter file
    (``hyperparams_file``, default the shipped ``<algo>.yml``) whose settings are used; the
    network, ``n_envs`` and the algorithm's keyword arguments come from it. ``threads``: torch
    threads of this process; ``progress``: a bar over the steps (off in worker processes).
    ``teacher``: a fixed policy the learner is kick-started from (:mod:`romanus.train.kickstart`:
    ``teacher_epochs`` of behaviour cloning on the teacher's decisions over every scenario,
    then ``timesteps`` of learning; 0: the clone alone). ``ValueError`` for an unknown algorithm, no scenarios or a
    non-positive budget."""
    if not scenarios:
        raise ValueError(f"{run}: no scenarios to train on")
    return train_on_worlds(
        [(preset, scenarios)],
        run,
        seed=seed,
        timesteps=timesteps,
        algo=algo,
        hyperparams_env_id=hyperparams_env_id,
        hyperparams_file=hyperparams_file,
        threads=threads,
        progress=progress,
        teacher=teacher,
        teacher_epochs=teacher_epochs,
    )


def train_on_worlds(
    worlds: Sequence[World],
    run: Path,
    *,
    seed: int,
    timesteps: int,
    algo: str = "maskable_ppo",
    hyperparams_env_id: str = HYPERPARAMS_ENV_ID,
    hyperparams_file: Path | None = None,
    threads: int = 1,
    progress: bool = False,
    teacher: str | None = None,
    teacher_epochs: int = 5,
) -> dict[str, Any]:
    """:func:`train_on_suite` over several worlds at once (a curriculum over presets): the
    vector env holds ``n_envs`` environments rounded up to a multiple of the worlds, env ``i``
    in world ``i mod len(worlds)``, so every rollout mixes every world in equal shares. A
    world replays its scenarios (each env in its own shuffled order) or, with ``None``, runs
    live. The worlds must give the learner the same observation, shield and action space
    (``ValueError`` naming the first that does not); ``config.yml`` names the first world's
    preset and lists every world."""
    from romanus.train.algorithms import algorithm

    spec = algorithm(algo)  # ValueError naming the known ones
    if not worlds:
        raise ValueError(f"{run}: no worlds to train in")
    for preset, scenarios in worlds:
        if scenarios is not None and not scenarios:
            raise ValueError(f"{run}: no scenarios to train on in {preset}")
    if timesteps < (0 if teacher is not None else 1):  # a kick-started learner may stop at the clone
        raise ValueError(f"{run}: timesteps must be positive, got {timesteps}")
    if threads < 1:
        raise ValueError(f"{run}: threads must be positive, got {threads}")
    done = run / "train.json"
    request = _request(worlds, seed, timesteps, algo, hyperparams_env_id, hyperparams_file)
    if teacher is not None:  # only then, so runs trained before kick-starting existed stay valid
        if teacher_epochs < 1:
            raise ValueError(f"{run}: teacher_epochs must be positive, got {teacher_epochs}")
        request.update(teacher=teacher, teacher_epochs=teacher_epochs)
    if done.is_file():
        info = dict(json.loads(done.read_text()))
        stored = info.get("request")
        if stored is not None and stored != request:
            diff = ", ".join(f"{k} {stored.get(k)!r} -> {v!r}" for k, v in request.items() if stored.get(k) != v)
            raise ValueError(f"{run}: trained for another request ({diff}); delete the folder to train it again")
        return info
    import torch
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import DummyVecEnv

    from romanus.env.core import RomanusEnv
    from romanus.train.agent import save_model
    from romanus.train.callbacks import ProgressBar
    from romanus.train.hyperparams import algo_kwargs, load_hyperparams

    torch.set_num_threads(threads)
    set_random_seed(seed)
    params = load_hyperparams(algo, hyperparams_env_id, hyperparams_file)
    n_envs = int(getattr(params, "n_envs", 4))
    n_envs = -(-n_envs // len(worlds)) * len(worlds)
    rng = np.random.default_rng(seed)

    def make(preset: Path, scenarios: Sequence[Path] | None) -> Any:
        if scenarios is None:
            return lambda: RomanusEnv(str(preset))
        order = [str(scenarios[i]) for i in rng.permutation(len(scenarios))]
        return lambda: RomanusEnv(str(preset), scenario=order)

    venv = DummyVecEnv([make(*worlds[i % len(worlds)]) for i in range(n_envs)])
    venv.seed(seed)
    first = venv.envs[0]
    assert isinstance(first, RomanusEnv)
    for i, env in enumerate(venv.envs[: len(worlds)]):
        assert isinstance(env, RomanusEnv)
        same = (
            env.observation_space == first.observation_space
            and env.action_space == first.action_space
            and env.stack.env_config() == first.stack.env_config()
        )
        if not same:
            raise ValueError(
                f"{run}: world {worlds[i][0]} gives the learner another observation, shield or action space "
                f"than {worlds[0][0]} ({env.stack.observation.name}, shield {env.stack.shield_budget}, "
                f"{env.observation_space.shape}, {env.action_space} against {first.stack.observation.name}, "
                f"shield {first.stack.shield_budget}, {first.observation_space.shape}, {first.action_space})"
            )
    run.mkdir(parents=True, exist_ok=True)
    model = spec.load_class()(params.policy, venv, seed=seed, device="cpu", verbose=0, **algo_kwargs(params))
    described = ", ".join(f"{p.name}: {'live' if sc is None else f'{len(sc)} scenarios'}" for p, sc in worlds)
    wall, cpu = time.perf_counter(), time.process_time()
    kick: dict[str, Any] | None = None
    if teacher is not None:
        from romanus.train.kickstart import demonstrate, pretrain

        log.info("kick-starting %s from %s: its decisions on %s", run.name, teacher, described)
        demos = demonstrate(worlds, teacher, params.gamma)
        kick = {"teacher": teacher, "epochs": teacher_epochs, "refused": demos.refused}
        kick.update(pretrain(model, demos, epochs=teacher_epochs, rng=np.random.default_rng([seed, 1])))
        log.info("kick-started %s: agrees with %s on %.1f %% of its frames", run.name, teacher, 100 * kick["agreement"])
    log.info("training %s seed %d: %d steps in %s", run.name, seed, timesteps, described)
    if timesteps:
        model.learn(total_timesteps=timesteps, callback=[ProgressBar(timesteps)] if progress else None)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    save_model(model, run / "final_model.zip")
    observation = first.stack.observation.name
    config: dict[str, Any] = {
        "algo": algo,
        "seed": seed,
        "timesteps": int(model.num_timesteps),
        "preset_ref": str(worlds[0][0]),
        "env_config": first.stack.env_config(),
        "hyperparams": {"policy_kwargs": {"net_arch": list(params.policy_kwargs.net_arch)}},
        "hyperparams_env_id": hyperparams_env_id,
        "hyperparams_file": None if hyperparams_file is None else str(hyperparams_file),
    }
    if kick is not None:
        config["kickstart"] = {"teacher": teacher, "epochs": teacher_epochs}
    if len(worlds) == 1:
        scenarios = worlds[0][1]
        config["train_scenarios"] = None if scenarios is None else [str(p) for p in scenarios]
    else:
        config["worlds"] = [
            {"preset": str(p), "scenarios": None if sc is None else [str(x) for x in sc]} for p, sc in worlds
        ]
    atomic_write_bytes(run / "config.yml", yaml.safe_dump(config, sort_keys=False).encode())
    out = {
        "seed": seed,
        "timesteps": int(model.num_timesteps),
        "wall_s": wall,
        "cpu_s": cpu,
        "steps_per_s": model.num_timesteps / wall,
        "observation": observation,
        "request": request,
    }
    if kick is not None:
        out["kickstart"] = kick
    atomic_write_bytes(done, json.dumps(out, indent=1).encode())
    log.info("trained %s: %.0f s wall, %.0f steps/s", run.name, wall, out["steps_per_s"])
    return out


#: preset fields added after runs were trained, whose default (None) is "off": left out of the
#: preset's digest when off, so a run trained before the field existed stays valid
_ADDED_OFF: tuple[tuple[str, ...], ...] = (("env", "reward", "credit_gamma"),)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _request(
    worlds: Sequence[World],
    seed: int,
    timesteps: int,
    algo: str,
    hyperparams_env_id: str,
    hyperparams_file: Path | None,
) -> dict[str, Any]:
    """What a run is trained for: a run folder is reused only for the same request. Each
    world's preset by its resolved content (an edited parent changes it), its scenarios by
    their bytes."""
    from romanus.config import load_preset

    presets, scen = hashlib.sha256(), hashlib.sha256()
    for preset, scenarios in worlds:
        resolved = dataclasses.asdict(load_preset(str(preset)))
        for *keys, key in _ADDED_OFF:  # a field added later, left at its "off" default
            parent = resolved
            for part in keys:
                parent = parent[part]
            if parent.get(key) is None:
                del parent[key]
        presets.update(_sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).encode())
        scen.update(b"live" if scenarios is None else b"replay")
        for path in scenarios or ():
            scen.update(_sha256(Path(path).read_bytes()).encode())
    return {
        "algo": algo,
        "seed": seed,
        "timesteps": timesteps,
        "hyperparams_env_id": hyperparams_env_id,
        "hyperparams_sha256": None if hyperparams_file is None else _sha256(Path(hyperparams_file).read_bytes()),
        "preset_sha256": presets.hexdigest(),
        "scenarios_sha256": scen.hexdigest(),
    }
