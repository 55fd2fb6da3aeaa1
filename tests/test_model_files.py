"""Model files load without running code from them (issue 17, item 2)."""

from __future__ import annotations

import base64
import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import yaml

from romanus.config import load_preset
from romanus.env.core import RomanusEnv
from romanus.policies import make_policy
from romanus.sim.simulator import Simulator
from romanus.train.agent import TRUST_ENV, algo_class
from romanus.vehicle.view import drive


class _Payload:
    """Unpickling this creates a file: proof that code from the model file ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def _model(tmp: Path, algo: str, with_config: bool, poison: Path | None) -> Path:
    env = RomanusEnv("default")
    model = algo_class(algo)("MlpPolicy", env, seed=0, policy_kwargs={"net_arch": [8]}, device="cpu")
    run = tmp / f"run_{algo}_{with_config}"
    run.mkdir()
    path = run / "best_model.zip"
    model.save(str(path))
    if poison is not None:  # replace the zip's 'data' entry by one that runs code when unpickled
        with zipfile.ZipFile(path) as z:
            members = {n: z.read(n) for n in z.namelist()}
        data = json.loads(members["data"])
        blob = base64.b64encode(pickle.dumps(_Payload(str(poison)))).decode()
        data["observation_space"] = {":type:": "<class 'x'>", ":serialized:": blob}
        if not with_config:
            data["policy_kwargs"] = {":type:": "<class 'dict'>", ":serialized:": blob}
        members["data"] = json.dumps(data).encode()
        with zipfile.ZipFile(path, "w") as z:
            for n, b in members.items():
                z.writestr(n, b)
    if with_config:
        config = {"algo": algo, "hyperparams": {"policy_kwargs": {"net_arch": [8]}}, "env_config": {}}
        (run / "config.yml").write_text(yaml.safe_dump(config))
    return run


@pytest.mark.parametrize("algo", ["maskable_ppo", "dqn"])
def test_a_poisoned_model_is_evaluated_without_running_its_code(tmp_path: Path, algo: str) -> None:
    marker = tmp_path / "pwned"
    run = _model(tmp_path, algo, with_config=True, poison=marker)
    sim = Simulator(load_preset("default"), 1)
    policy = make_policy(f"{algo}:{run}", sim.catalogue, sim.preset)
    log = drive(sim, policy, 50)
    assert len(log) == 50
    assert not marker.exists()


def test_a_model_that_cannot_be_rebuilt_needs_trust(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "pwned"
    run = _model(tmp_path, "ppo", with_config=False, poison=marker)
    sim = Simulator(load_preset("default"), 1)
    monkeypatch.delenv(TRUST_ENV, raising=False)
    with pytest.raises(ValueError, match="--trust-model"):
        make_policy(f"ppo:{run / 'best_model.zip'}", sim.catalogue, sim.preset)
    assert not marker.exists()


def test_a_plain_model_without_a_run_loads_from_its_json_kwargs(tmp_path: Path) -> None:
    run = _model(tmp_path, "ppo", with_config=False, poison=None)
    sim = Simulator(load_preset("default"), 1)
    policy = make_policy(f"ppo:{run / 'best_model.zip'}", sim.catalogue, sim.preset)
    assert len(drive(sim, policy, 20)) == 20


def test_weights_of_another_world_are_a_clear_error(tmp_path: Path) -> None:
    run = _model(tmp_path, "ppo", with_config=True, poison=None)
    (run / "config.yml").write_text(
        yaml.safe_dump({"algo": "ppo", "hyperparams": {"policy_kwargs": {"net_arch": [16]}}})
    )
    sim = Simulator(load_preset("default"), 1)
    with pytest.raises(ValueError, match="do not fit"):
        make_policy(f"ppo:{run}", sim.catalogue, sim.preset)
