"""Training on a recorded suite (romanus.train.suite) and the study's drive-trained agents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_drives import IRISH, irish_files

from romanus.study import DRIVE_WORLD

pytestmark = pytest.mark.skipif(not irish_files(), reason=f"irish-5g drives not found at {IRISH}")

#: a training day and the held-out (latest) day
DRIVES = ("B_2019.12.16_12.27.05.csv", "B_2020.02.14_07.29.00.csv")
#: hyper-parameters small enough for a unit test: 2 envs x 64 steps per rollout
TINY = {
    "romanus/Tiny-v0": {
        "n_timesteps": 256,
        "policy": "MlpPolicy",
        "n_envs": 2,
        "n_steps": 64,
        "batch_size": 64,
        "n_epochs": 1,
        "gamma": 0.9,
        "policy_kwargs": {"net_arch": [16]},
    }
}


def short_drives(folder: Path, rows: int = 60) -> Path:
    """The first ``rows`` seconds of a training-day drive and of a held-out-day drive."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in DRIVES:
        lines = (IRISH / name).read_text().splitlines()[: rows + 1]
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from romanus.scenario import record_drive_suite

    root = tmp_path_factory.mktemp("suite")
    world = root / "world.yaml"
    world.write_text(yaml.safe_dump({"extends": "default", "name": "StudyDrives", **DRIVE_WORLD}))
    learner = root / "learner.yaml"
    env = {"observation": "risk", "shield": {"risk_budget": 0.002}}
    learner.write_text(yaml.safe_dump({"extends": "world.yaml", "name": "DriveShielded", "env": env}))
    files = record_drive_suite(short_drives(root / "drives"), root / "suites", env=str(world), window_s=20.0)
    hyper = root / "tiny.yml"
    hyper.write_text(yaml.safe_dump(TINY))
    return {"preset": learner, "train": files["train"], "test": files["test"], "hyper": hyper}


def test_train_on_suite_trains_resumes_and_gives_a_compare_policy(suite: dict[str, Any], tmp_path: Path) -> None:
    from romanus.compare import compare
    from romanus.train.suite import train_on_suite

    run = tmp_path / "run"
    kw = {"seed": 1, "timesteps": 256, "hyperparams_env_id": "romanus/Tiny-v0", "hyperparams_file": suite["hyper"]}
    assert len(suite["train"]) >= 2
    info = train_on_suite(suite["preset"], suite["train"], run, **kw)
    assert info["seed"] == 1 and info["timesteps"] == 256 and info["observation"] == "risk"
    assert info["steps_per_s"] > 0 and json.loads((run / "train.json").read_text()) == info
    config = yaml.safe_load((run / "config.yml").read_text())
    assert config["algo"] == "maskable_ppo"
    assert config["env_config"]["shield"] == 0.002 and config["env_config"]["observation"] == "risk"
    assert config["hyperparams"]["policy_kwargs"]["net_arch"] == [16]
    assert config["train_scenarios"] == [str(p) for p in suite["train"]]
    model = run / "final_model.zip"
    stamp = model.stat().st_mtime_ns
    # resumable: a trained run is not trained again
    assert train_on_suite(suite["preset"], suite["train"], run, **kw) == info
    assert model.stat().st_mtime_ns == stamp
    # ... but not for another request: a silent reuse would report a run that was not asked for
    with pytest.raises(ValueError, match=r"trained for another request \(timesteps 256 -> 512\)"):
        train_on_suite(suite["preset"], suite["train"], run, **{**kw, "timesteps": 512})
    with pytest.raises(ValueError, match="scenarios_sha256"):
        train_on_suite(suite["preset"], suite["train"][:1], run, **kw)
    edited = tmp_path / "edited.yaml"
    doc = yaml.safe_load(suite["preset"].read_text())
    doc["env"]["shield"]["risk_budget"] = 0.01
    edited.write_text(yaml.safe_dump({**doc, "extends": str(suite["preset"].parent / "world.yaml")}))
    with pytest.raises(ValueError, match="preset_sha256"):
        train_on_suite(edited, suite["train"], run, **kw)
    assert model.stat().st_mtime_ns == stamp
    agent = f"maskable_ppo:{run}"
    result = compare(suite["test"][:1], ["local-robust", agent], None, workers=1)
    (row,) = [o.row for o in result.by_policy(agent)]
    assert row["frames"] > 0 and 0.0 <= row["risky_rate"] <= 1.0


def test_train_on_suite_refuses_what_it_cannot_train(suite: dict[str, Any], tmp_path: Path) -> None:
    from romanus.train.suite import train_on_suite

    with pytest.raises(ValueError, match="unknown algorithm 'ppo_mask'"):
        train_on_suite(suite["preset"], suite["train"], tmp_path / "a", seed=0, timesteps=64, algo="ppo_mask")
    with pytest.raises(ValueError, match="no scenarios"):
        train_on_suite(suite["preset"], [], tmp_path / "b", seed=0, timesteps=64)
    with pytest.raises(ValueError, match="timesteps must be positive"):
        train_on_suite(suite["preset"], suite["train"], tmp_path / "c", seed=0, timesteps=0)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_study_trains_drive_agents_and_reports_the_synthetic_ones_beside_them(tmp_path: Path) -> None:
    from romanus.study import StudySpec, run_study

    spec = StudySpec(
        out=str(tmp_path / "st"),
        seeds=(0,),
        timesteps=512,
        drive_seeds=(3, 4),
        drive_timesteps=256,
        calibration_seeds=(10, 11),
        test_seeds=(0, 1),
        duration_s=3.0,
        worlds=(),
        other_presets=(),
        drives=str(short_drives(tmp_path / "drives", rows=40)),
        drive_window_s=20.0,
        drive_calibration_windows=2,
        fleet_sizes=(),
        workers=2,
    )
    said: list[str] = []
    study = run_study(spec, progress=said.append).read_text()
    runs = [(tmp_path / "st" / "training-drives" / f"s{s}").resolve() for s in (3, 4)]
    for run in runs:
        assert json.loads((run / "train.json").read_text())["timesteps"] >= 256
    learner = yaml.safe_load((tmp_path / "st" / "presets" / "drives-learner.yaml").read_text())
    # the drive world with the training env's decision stack (envs/default_shielded.yaml), each
    # frame credited to its decision at the learner's discount (the shipped hyper-parameters)
    from romanus.train.hyperparams import load_hyperparams

    gamma = load_hyperparams("maskable_ppo", "romanus/DefaultShielded-v2").gamma
    assert learner["extends"] == "drives.yaml"
    assert learner["env"] == {
        "observation": "risk",
        "shield": {"risk_budget": 0.002},
        "reward": {"credit_gamma": gamma},
    }
    # the estimate's population prior: a library of the training days, named by every drive window
    library = (tmp_path / "st" / "suites" / "drives" / "library.npz").resolve()
    assert learner["capacity_library"] == "../suites/drives/library.npz" and library.is_file()
    from romanus.scenario import Scenario, load_suite

    for split in ("train", "test"):
        for f in load_suite(tmp_path / "st" / "suites" / "drives" / split):
            assert Scenario.load(f).preset.capacity_library == str(library)
    data = json.loads((tmp_path / "st" / "study.json").read_text())
    drive_agents = [f"maskable_ppo:{r}" for r in runs]
    assert data["drive_agents"] == drive_agents
    drives = data["suites"]["drives"]
    assert drives["agent_names"] == drive_agents
    assert drives["other_agent_names"] == data["agents"] and len(data["agents"]) == 1
    assert len(drives["agents"]["per_seed"]["energy_mj"]) == 2
    assert len(drives["other_agents"]["per_seed"]["energy_mj"]) == 1
    assert "| **agents trained on the training days** (mean of 2 seeds) |" in study
    assert "| **agents trained on the synthetic world** (mean of 1 seeds) |" in study
    assert "agents trained on the training days' drives" in study  # the drives' title
    assert "drives (agents trained on the training days):" in study  # its targets
    assert any("training 2 maskable_ppo agents on the drives'" in s for s in said)
    # resumes: nothing retrained
    stamps = [(r / "final_model.zip").stat().st_mtime_ns for r in runs]
    said.clear()
    run_study(spec, progress=said.append)
    assert [(r / "final_model.zip").stat().st_mtime_ns for r in runs] == stamps
    assert not any("on the drives'" in s for s in said)
    # without the prior the windows are recorded again, and agents trained with it are refused
    import dataclasses

    with pytest.raises(ValueError, match="trained for another request"):
        run_study(dataclasses.replace(spec, drive_population=False))
    for f in load_suite(tmp_path / "st" / "suites" / "drives" / "test"):
        assert Scenario.load(f).preset.capacity_library is None


def test_train_on_worlds_mixes_worlds_and_refuses_unlike_ones(suite: dict[str, Any], tmp_path: Path) -> None:
    from romanus.train.suite import train_on_worlds

    stack = {"observation": "risk", "shield": {"risk_budget": 0.002}}
    rural = tmp_path / "rural.yaml"
    rural.write_text(yaml.safe_dump({"extends": "rural_lte", "name": "RuralShielded", "env": stack}))
    kw = {"seed": 0, "timesteps": 128, "hyperparams_env_id": "romanus/Tiny-v0", "hyperparams_file": suite["hyper"]}
    # a live world beside a replayed suite: 2 envs (TINY's n_envs), one in each
    run = tmp_path / "mix"
    info = train_on_worlds([(suite["preset"], suite["train"]), (rural, None)], run, **kw)
    assert info["timesteps"] == 128 and info["observation"] == "risk"
    config = yaml.safe_load((run / "config.yml").read_text())
    assert [w["preset"] for w in config["worlds"]] == [str(suite["preset"]), str(rural)]
    assert config["worlds"][1]["scenarios"] is None and len(config["worlds"][0]["scenarios"]) == len(suite["train"])
    assert config["env_config"]["shield"] == 0.002
    # a world whose learner would see something else cannot share the policy
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump({"extends": "rural_lte", "name": "RuralPlain"}))
    with pytest.raises(ValueError, match=r"world .*plain\.yaml gives the learner another observation"):
        train_on_worlds([(suite["preset"], None), (plain, None)], tmp_path / "bad", **kw)
    with pytest.raises(ValueError, match="no worlds"):
        train_on_worlds([], tmp_path / "none", **kw)
    assert not (tmp_path / "bad" / "train.json").exists()


def test_demonstrations_are_the_teachers_runs(suite: dict[str, Any]) -> None:
    """The teacher's decisions, replayed through the env, are the teacher's run in ``romanus
    compare`` (energy and risky frames to the bit), and each return is the discounted sum of the
    env's rewards that follow."""
    import numpy as np

    from romanus.compare import compare
    from romanus.env.core import RomanusEnv
    from romanus.train.kickstart import demonstrate

    teacher = "risk-budget-greedy+fallback@0.002"
    files = suite["train"][:2]
    demos = demonstrate([(suite["preset"], files)], teacher, gamma=0.9)
    assert demos.refused == 0  # the teacher's budget is the shield's: the mask admits every choice
    rows = {o.row["scenario"]: o.row for o in compare(files, [teacher], None, workers=1).outputs}
    env = RomanusEnv(str(suite["preset"]), scenario=[str(f) for f in files])
    start = 0
    for i, f in enumerate(files):
        obs, _ = env.reset(options={"scenario": i})
        rewards, info = [], {}
        for t in range(start, len(demos)):
            assert np.array_equal(obs, demos.obs[t]) and np.array_equal(env.action_masks(), demos.masks[t])
            obs, r, _, truncated, info = env.step(int(demos.actions[t]))
            rewards.append(float(r))
            if truncated:
                break
        n = len(rewards)
        row = rows[Path(f).stem]
        assert info["episode_energy_per_frame_mj"] == row["energy_per_frame_mj"]
        assert info["episode_risky_rate"] == row["risky_rate"]
        g = demos.returns[start : start + n]
        assert g[-1] == pytest.approx(rewards[-1])
        assert np.allclose(g[:-1], np.asarray(rewards[:-1]) + 0.9 * g[1:], rtol=1e-5, atol=1e-5)
        start += n
    assert start == len(demos)


def test_a_kick_started_learner_clones_its_teacher_and_asks_for_it(suite: dict[str, Any], tmp_path: Path) -> None:
    from romanus.train.suite import train_on_suite

    run = tmp_path / "clone"
    kw = {"seed": 0, "hyperparams_env_id": "romanus/Tiny-v0", "hyperparams_file": suite["hyper"]}
    # local-robust: one action per scene, which the observation shows; a clone must learn it
    info = train_on_suite(
        suite["preset"], suite["train"], run, timesteps=0, teacher="local-robust", teacher_epochs=30, **kw
    )
    kick = info["kickstart"]
    assert info["timesteps"] == 0 and kick["teacher"] == "local-robust" and kick["refused"] == 0
    assert kick["agreement"] == 1.0 and kick["frames"] > 0
    assert yaml.safe_load((run / "config.yml").read_text())["kickstart"] == {"teacher": "local-robust", "epochs": 30}
    # the teacher is part of the request: another one is refused, not silently reused
    with pytest.raises(ValueError, match="teacher 'local-robust' -> 'offload-all'"):
        train_on_suite(
            suite["preset"], suite["train"], run, timesteps=0, teacher="offload-all", teacher_epochs=30, **kw
        )
    with pytest.raises(ValueError, match="a fixed policy"):
        train_on_suite(suite["preset"], suite["train"], tmp_path / "agent", timesteps=0, teacher="ppo:x", **kw)
    with pytest.raises(ValueError, match="sees the future"):
        train_on_suite(suite["preset"], suite["train"], tmp_path / "oracle", timesteps=0, teacher="oracle", **kw)


def test_credit_gamma_enters_the_request_only_when_set(suite: dict[str, Any], tmp_path: Path) -> None:
    """A field added after runs were trained (``reward.credit_gamma``) leaves the digest of a
    preset that does not set it as it was, and tells a preset that sets it apart."""
    import dataclasses
    import hashlib

    from romanus.config import load_preset
    from romanus.train.suite import _request

    def digest(preset: Path) -> str:
        return str(_request([(preset, suite["train"][:1])], 0, 64, "maskable_ppo", "x", None)["preset_sha256"])

    resolved = dataclasses.asdict(load_preset(str(suite["preset"])))
    del resolved["env"]["reward"]["credit_gamma"]  # the preset as it resolved before the field
    before = hashlib.sha256()
    before.update(hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest().encode())
    assert digest(suite["preset"]) == before.hexdigest()
    credited = tmp_path / "credited.yaml"
    doc = yaml.safe_load(suite["preset"].read_text())
    doc["env"]["reward"] = {"credit_gamma": 0.9}
    credited.write_text(yaml.safe_dump({**doc, "extends": str(suite["preset"].parent / "world.yaml")}))
    assert digest(credited) != digest(suite["preset"])
