"""Training through the real CLI, tiny networks and budgets, in a temporary folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from romanus.cli import main
from romanus.env.core import RomanusEnv
from romanus.scenario import record_suite

TINY = """
romanus/Default-v2:
  n_timesteps: 1024
  policy: MlpPolicy
  n_envs: 2
  n_steps: 64
  batch_size: 64
  n_epochs: 1
  gamma: 0.9
  learning_rate: lin_3.0e-4
  policy_kwargs: {net_arch: [16]}
"""
TINY_DQN = """
romanus/Default-v2:
  n_timesteps: 1024
  policy: MlpPolicy
  buffer_size: 2000
  learning_starts: 200
  batch_size: 32
  target_update_interval: 200
  policy_kwargs: {net_arch: [16]}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train")
    (root / "tiny.yml").write_text(TINY)
    (root / "tiny_dqn.yml").write_text(TINY_DQN)
    record_suite("default", range(500, 502), 3.0, root / "eval")
    return {"root": root, "hp": root / "tiny.yml", "hp_dqn": root / "tiny_dqn.yml", "eval": root / "eval"}


def run_train(tiny: dict[str, Path], out: Path, *extra: str, algo: str = "maskable_ppo", seed: int = 0) -> Path:
    hp = tiny["hp_dqn"] if algo == "dqn" else tiny["hp"]
    args = [
        "train",
        "--env",
        "romanus/Default-v2",
        "--algo",
        algo,
        "--seed",
        str(seed),
        "--hyperparams",
        str(hp),
        "--eval-scenarios",
        str(tiny["eval"]),
        "--out",
        str(out),
        "--eval-freq",
        "512",
        "--checkpoint-freq",
        "512",
        *extra,
    ]
    assert main(args) in (0, 130)
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def tensorboard_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[tuple[int, float]]] = {}
    for events in (run / "tb").rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return out


@pytest.mark.slow
def test_train_writes_every_artefact(tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a short run: no periodic evaluation happens, only the final one
    run = run_train(tiny, tmp_path / "runs", "--eval-freq", "100000")
    assert run.name.startswith("Default-v2__maskable_ppo__0__")
    for name in (
        "config.yml",
        "args.json",
        "command.txt",
        "versions.json",
        "status.json",
        "eval.json",
        "best_model.zip",
        "final_model.zip",
    ):
        assert (run / name).is_file(), name
    config = yaml.safe_load((run / "config.yml").read_text())
    assert config["algo"] == "maskable_ppo" and config["timesteps"] == 1024 and config["seed"] == 0
    assert config["hyperparams"]["policy_kwargs"]["net_arch"] == [16]
    assert config["preset"]["name"] == "Default" and len(config["eval_scenarios"]["checksums"]) == 2
    versions = json.loads((run / "versions.json").read_text())
    assert {"python", "torch", "stable_baselines3", "sb3_contrib", "romanus", "git_commit", "git_dirty"} <= set(
        versions
    )
    assert "train" in (run / "command.txt").read_text()
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    assert len(list((run / "checkpoints").glob("rl_model_*_steps.zip"))) >= 2
    assert list((run / "tb").rglob("events.out.tfevents.*"))
    first, header = (run / "monitor" / "0.monitor.csv").read_text().splitlines()[:2]
    assert json.loads(first.lstrip("#"))["env_id"] == "romanus/Default-v2"
    assert "episode_energy_per_frame_mj" in header and "episode_risky_rate" in header
    evals = json.loads((run / "eval.json").read_text())
    assert len(evals) == 1 and {"mean_reward", "energy_per_frame_mj", "risky_rate"} <= set(evals[0])
    scalars = tensorboard_scalars(run)
    for tag in ("eval/mean_reward", "eval/energy_per_frame_mj", "eval/risky_rate"):
        assert [step for step, _ in scalars.get(tag, [])] == [1024], tag  # the final evaluation reached TensorBoard
    assert scalars["eval/mean_reward"][0][1] == pytest.approx(evals[0]["mean_reward"])
    capsys.readouterr()
    assert main(["evaluate", str(run), "--scenarios", str(tiny["eval"]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scenarios"] == 2 and len(out["runs"]) == 2
    written = json.loads((run / "evaluation" / "run__eval.json").read_text())
    assert written == json.loads(json.dumps(out))
    rows = (run / "evaluation" / "run__eval.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("policy,") and "energy_per_frame_mj" in rows[0]
    assert (
        main(["evaluate", str(run / "final_model.zip"), "--scenarios", str(tiny["eval"]), "--out", str(tmp_path / "e")])
        == 0
    )
    assert "written to" in capsys.readouterr().out
    assert (tmp_path / "e" / "final_model__eval.csv").is_file() and (
        tmp_path / "e" / "final_model__eval.json"
    ).is_file()


@pytest.mark.slow
def test_ctrl_c_checkpoints_and_resume_continues_to_the_total(
    tiny: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from romanus.train import callbacks

    original = callbacks.ProgressBar._on_step

    def interrupting(self: callbacks.ProgressBar) -> bool:
        if self.model.num_timesteps >= 600:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(callbacks.ProgressBar, "_on_step", interrupting)
    run = run_train(tiny, tmp_path / "runs", algo="dqn")
    assert f"resume with: romanus train --resume {run}" in capsys.readouterr().out
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "interrupted" and 600 <= status["timesteps"] < 1024
    assert (run / "checkpoints" / f"rl_model_{status['timesteps']}_steps.zip").is_file()
    assert (run / "checkpoints" / f"rl_model_replay_buffer_{status['timesteps']}_steps.pkl").is_file()
    assert not (run / "final_model.zip").exists()
    monitor_lines = sum(len(f.read_text().splitlines()) for f in (run / "monitor").glob("*.csv"))
    # a newer checkpoint cut short by a full disk: resume falls back to the newest whole one
    (run / "checkpoints" / f"rl_model_{status['timesteps'] + 1}_steps.zip").write_bytes(b"PK\x03\x04 cut short")
    monkeypatch.setattr(callbacks.ProgressBar, "_on_step", original)
    assert main(["train", "--resume", str(run)]) == 0
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "finished" and status["timesteps"] >= 1024
    assert (run / "final_model.zip").is_file()
    # the Monitor CSVs kept the episodes before the interruption and appended the new ones
    assert sum(len(f.read_text().splitlines()) for f in (run / "monitor").glob("*.csv")) >= monitor_lines > 2
    # a best model cut short: evaluating the run falls back to its final model
    (run / "best_model.zip").write_bytes(b"PK\x03\x04 cut short")
    from romanus.train.agent import resolve_model

    assert resolve_model(f"dqn:{run}")[1].name == "final_model.zip"


def test_a_failed_save_leaves_the_previous_model_whole(tmp_path: Path) -> None:
    from romanus.train.agent import save_model, valid_model_file

    class Full:
        def save(self, buf: object) -> None:
            raise OSError(28, "No space left on device")

    env = RomanusEnv("default")
    from stable_baselines3 import PPO

    path = tmp_path / "best_model.zip"
    save_model(PPO("MlpPolicy", env, n_steps=64, policy_kwargs={"net_arch": [8]}), path)
    assert valid_model_file(path)
    with pytest.raises(OSError):
        save_model(Full(), path)
    assert valid_model_file(path)


def first_actions(run: Path, n: int = 60) -> list[int]:
    from romanus.train.agent import load_agent

    env = RomanusEnv("default")
    config = yaml.safe_load((run / "config.yml").read_text())
    model = load_agent(
        "maskable_ppo", str(run / "final_model.zip"), config, len(env.stack.observation.features), len(env.actions)
    )
    obs, _ = env.reset(seed=123)
    acts = []
    for _ in range(n):
        a, _ = model.predict(obs, deterministic=True, action_masks=env.action_masks())
        acts.append(int(a))
        obs, *_ = env.step(int(a))
    return acts


@pytest.mark.slow
def test_same_seed_same_first_actions(tiny: dict[str, Path], tmp_path: Path) -> None:
    a = run_train(tiny, tmp_path / "a", seed=3)
    b = run_train(tiny, tmp_path / "b", seed=3)
    c = run_train(tiny, tmp_path / "c", seed=4)
    assert first_actions(a) == first_actions(b)
    from romanus.train.agent import load_agent

    def weights(run: Path) -> dict[str, Any]:
        config = yaml.safe_load((run / "config.yml").read_text())
        env = RomanusEnv("default")
        n_obs = len(env.stack.observation.features)
        return load_agent("maskable_ppo", str(run / "final_model.zip"), config, n_obs, len(env.actions)).state_dict()

    pa, pc = weights(a), weights(c)
    assert any(not np.array_equal(pa[k].numpy(), pc[k].numpy()) for k in pa)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("romanus/Default-v2: {n_timesteps: 10, learning_rte: 0.1}\n", "romanus/Default-v2.learning_rte"),
        ("romanus/Default-v2: {n_timesteps: -5}\n", "romanus/Default-v2.n_timesteps"),
        ("romanus/Default-v2: {learning_rate: lin_fast}\n", "romanus/Default-v2.learning_rate"),
        ("romanus/Other-v2: {n_timesteps: 10}\n", "romanus/Default-v2"),
    ],
)
def test_bad_hyperparameter_file_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    hp = tmp_path / "bad.yml"
    hp.write_text(text)
    code = main(
        [
            "train",
            "--env",
            "romanus/Default-v2",
            "--algo",
            "ppo",
            "--hyperparams",
            str(hp),
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert str(hp) in err and key in err
    assert not (tmp_path / "r").exists()  # nothing half-made


@pytest.mark.slow
def test_rl_zoo3_trains_a_romanus_env(tmp_path: Path) -> None:
    conf = Path(__file__).resolve().parents[1] / "experiments" / "hyperparams" / "ppo.yml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rl_zoo3.train",
            "--algo",
            "ppo",
            "--env",
            "romanus/Default-v2",
            "--gym-packages",
            "romanus",
            "-n",
            "5000",
            "--conf-file",
            str(conf),
            "--num-threads",
            "1",  # as romanus train does: small MLPs train faster on one thread
            "-f",
            str(tmp_path),
            "--seed",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert list(tmp_path.rglob("*.zip"))


def test_eval_suite_of_another_world_is_refused_before_any_folder(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record_suite("rural_lte", range(2), 2.0, tmp_path / "rural")
    out = tmp_path / "runs"
    args = ["train", "--env", "romanus/Default-v2", "--algo", "ppo", "--hyperparams", str(tiny["hp"])]
    assert main([*args, "--eval-scenarios", str(tmp_path / "rural"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "different world" in err and "seed-00000.scenario" in err
    assert not out.exists()  # nothing half-made


def test_a_trace_driven_suite_is_the_same_world(tmp_path: Path) -> None:
    from romanus.config import load_preset
    from romanus.env.core import check_same_world

    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / "a.cooked").write_text("0 8\n1 2\n2 12\n")
    (traces / "b.cooked").write_text("0 30\n1 25\n")
    files = record_suite("default", range(2), 2.0, tmp_path / "suite", uplink_traces=traces)
    assert len(check_same_world(load_preset("default"), files)) == 2  # train --env default --eval-scenarios
    with pytest.raises(ValueError, match="different world"):
        check_same_world(load_preset("highway_5g"), files)


def test_a_yaml_preset_without_an_entry_takes_the_entry_of_the_preset_it_extends(tmp_path: Path) -> None:
    """A user's preset (its own Gymnasium id has no entry) gets the hyper-parameters of the
    nearest preset it extends that has one; a preset with its own entry keeps it; one whose
    lineage has none keeps its id (and loading then names what the file has)."""
    from romanus.config import preset_lineage
    from romanus.train.hyperparams import entry_id

    mid = tmp_path / "mid.yaml"
    mid.write_text("extends: default_shielded\nname: Mid\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: mid.yaml\nname: Child\n")
    assert preset_lineage(str(child)) == ["romanus/Mid-v2", "romanus/DefaultShielded-v2", "romanus/Default-v2"]
    assert preset_lineage("default") == []
    assert entry_id("maskable_ppo", "romanus/Child-v2", str(child)) == "romanus/DefaultShielded-v2"
    hp = tmp_path / "hp.yml"
    hp.write_text(TINY)  # only romanus/Default-v2
    assert entry_id("maskable_ppo", "romanus/Child-v2", str(child), hp) == "romanus/Default-v2"
    assert entry_id("maskable_ppo", "romanus/DefaultShielded-v2", "default_shielded") == "romanus/DefaultShielded-v2"
    lone = tmp_path / "lone.yaml"
    lone.write_text(
        (Path(__file__).resolve().parents[1] / "envs" / "default.yaml")
        .read_text()
        .replace("name: Default", "name: Lone")
    )
    assert entry_id("maskable_ppo", "romanus/Lone-v2", str(lone), hp) == "romanus/Lone-v2"


@pytest.mark.slow
def test_training_on_a_yaml_preset_without_an_entry(tiny: dict[str, Path], tmp_path: Path) -> None:
    preset = tmp_path / "mine.yaml"
    preset.write_text("extends: default\nname: Mine\n")
    out = tmp_path / "runs"
    args = ["train", "--env", str(preset), "--algo", "maskable_ppo", "--hyperparams", str(tiny["hp"])]
    args += ["--timesteps", "128", "--eval-scenarios", str(tiny["eval"]), "--out", str(out)]
    assert main(args) == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    config = yaml.safe_load((run / "config.yml").read_text())
    assert config["env_id"] == "romanus/Mine-v2" and config["hyperparams_env_id"] == "romanus/Default-v2"
    assert config["hyperparams"]["policy_kwargs"]["net_arch"] == [16]
