"""The scripts in examples/ run, at small sizes, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=300, cwd=EXAMPLES
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_every_example_is_tested() -> None:
    tested = {"custom_preset.py", "custom_policy.py", "custom_observation.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_custom_preset_extends_default_and_simulates() -> None:
    out = _run("custom_preset.py", "--frames", "200")
    assert "romanus/FastUplinkTightDeadline-v2" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert set(rows) == {"local-robust", "offload-all", "scene-aware-greedy"}
    assert rows["local-robust"][3] == "0.00%" and rows["offload-all"][3] == "100.00%"


def test_custom_policy_drives_and_compares() -> None:
    out = _run("custom_policy.py", "--frames", "200", "--scenarios", "2", "--duration-s", "4")
    assert out.startswith("drive, 200 frames:")
    table = {
        line.split()[0]: line.split()[1:]
        for line in out.splitlines()
        if line.startswith(("local-", "offload-", "scene-", "link-"))
    }
    assert set(table) == {"local-robust", "offload-all", "scene-aware-greedy", "link-threshold"}
    # the custom policy offloads sometimes, not always: it reads the link
    assert 0.0 < float(table["link-threshold"][2].rstrip("%")) < 100.0


@pytest.mark.slow
def test_custom_observation_is_used_by_the_env_and_trains() -> None:
    out = _run("custom_observation.py", "--timesteps", "256", "--episode-s", "3")
    assert "Box(0.0, 1.0, (13,), float32)" in out and "uplink_mbps_500ms" in out
    assert "after 256 MaskablePPO steps" in out


def test_custom_observation_is_used_by_the_env() -> None:
    out = _run("custom_observation.py", "--timesteps", "0", "--episode-s", "3")
    assert "Box(0.0, 1.0, (13,), float32)" in out and "last_met" in out and "a random episode" in out
