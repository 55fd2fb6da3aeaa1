"""Sweeps: aggregate files, resuming after a kill, the Ray backend, bad sweep files."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from romanus.cli import main
from romanus.configio import ConfigError
from romanus.sweep import load_sweep

TINY = """
name: tiny
presets: [romanus/Default-v2]
algos: [ppo, maskable_ppo]
seeds: "0:2"
timesteps: 512
hyperparams: {n_envs: 2, n_steps: 64, batch_size: 64, n_epochs: 1, policy_kwargs: {net_arch: [16]}}
eval: {seeds: "100:102", duration_s: 3, baselines: [local-robust]}
"""


def metrics(path: Path) -> list[tuple[str, ...]]:
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    keys = ("trial", "status", "energy_per_frame_mj", "risky_rate", "deadline_miss_rate", "offload_fraction")
    return [tuple(r[k] for k in keys) for r in rows]


@pytest.mark.slow
def test_tiny_sweep_survives_a_kill_and_finishes_only_what_is_missing(tmp_path: Path) -> None:
    sweep = tmp_path / "tiny.yml"
    sweep.write_text(TINY)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "romanus.cli", "sweep", str(sweep), "--out", str(out), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(out.glob("trials/*/result.json")):
        if proc.poll() is not None:
            raise AssertionError(
                f"the sweep ended ({proc.returncode}) before it could be killed: {proc.communicate()[1][-2000:]!r}"
            )
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {p.parent.name: p.read_bytes() for p in out.glob("trials/*/result.json")}
    assert 1 <= len(first) < 4
    assert not (out / "results.csv").exists()
    assert main(["sweep", str(sweep), "--out", str(out), "-q"]) == 0
    done = {p.parent.name: p.read_bytes() for p in out.glob("trials/*/result.json")}
    assert len(done) == 4
    for trial, data in first.items():
        assert done[trial] == data  # finished trials were skipped, not redone
    rows = metrics(out / "results.csv")
    assert len(rows) == 4 and all(r[1] == "ok" for r in rows)
    summary = (out / "summary.md").read_text()
    assert "| romanus/Default-v2 | ppo | base | 2 |" in summary and "`local-robust` (baseline)" in summary
    assert (out / "pareto.png").stat().st_size > 0


@pytest.mark.slow
def test_a_failing_trial_is_recorded_and_does_not_stop_the_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from romanus.train import train as train_module

    original = train_module.train

    def flaky(spec, argv=None):  # type: ignore[no-untyped-def]
        if spec.algo == "maskable_ppo":
            raise RuntimeError("simulated crash")
        return original(spec, argv)

    monkeypatch.setattr(train_module, "train", flaky)
    sweep = tmp_path / "s.yml"
    sweep.write_text(TINY.replace('seeds: "0:2"', "seeds: [0]"))
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "o"), "-q"]) == 1
    results = {r["algo"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "o").glob("trials/*/result.json"))}
    assert results["ppo"]["status"] == "ok"
    assert results["maskable_ppo"]["status"] == "failed" and "simulated crash" in results["maskable_ppo"]["error"]
    assert "simulated crash" in (tmp_path / "o" / "summary.md").read_text()


def test_bad_sweep_files_name_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(TINY.replace("timesteps: 512", "timestep: 512"))
    with pytest.raises(ConfigError, match=r"bad.yml: timestep: unknown key"):
        load_sweep(bad)
    bad.write_text(TINY.replace("n_envs: 2", "n_envz: 2"))
    assert main(["sweep", str(bad), "--out", str(tmp_path / "o"), "-q"]) == 2
    assert "n_envz" in capsys.readouterr().err
    assert not (tmp_path / "o" / "trials").exists()


@pytest.mark.slow
def test_ray_backend_gives_the_same_metrics(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    sweep = tmp_path / "tiny.yml"
    sweep.write_text(TINY)
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "local"), "-q"]) == 0
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "ray"), "--backend", "ray", "--workers", "2", "-q"]) == 0
    assert metrics(tmp_path / "local" / "results.csv") == metrics(tmp_path / "ray" / "results.csv")
    assert list((tmp_path / "ray" / "ray_tmp").iterdir())  # Ray's temp folder lives in the output


@pytest.mark.slow
def test_a_sweep_trains_on_a_yaml_preset(tmp_path: Path) -> None:
    """A YAML preset has a Gymnasium id (from its name) that is not registered: the trial trains
    on the preset file itself (it failed with 'not a registered Gymnasium id')."""
    preset = Path(__file__).resolve().parents[1] / "experiments" / "learner" / "owned_shielded.yaml"
    sweep = tmp_path / "y.yml"
    sweep.write_text(
        TINY.replace("presets: [romanus/Default-v2]", f"presets: [{preset}]")
        .replace("algos: [ppo, maskable_ppo]", "algos: [maskable_ppo]")
        .replace('seeds: "0:2"', "seeds: [0]")
        .replace("timesteps: 512", "timesteps: 128")
    )
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "o"), "-q"]) == 0
    (result,) = [json.loads(p.read_text()) for p in (tmp_path / "o").glob("trials/*/result.json")]
    assert result["status"] == "ok" and result["preset"] == "romanus/OwnedShielded-v2"
