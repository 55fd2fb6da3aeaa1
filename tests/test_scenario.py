"""Scenarios: record, replay bit-exactly, common random numbers, and safe loading."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from romanus.cli import main
from romanus.config import Preset, load_preset
from romanus.env.core import RomanusEnv
from romanus.policies import policy_for
from romanus.scenario import FORMAT_VERSION, Scenario, ScenarioError, _checksum, record_scenario, record_suite
from romanus.sim.simulator import Simulator
from romanus.sim.world import HorizonError
from romanus.vehicle.view import drive, next_view


def live(preset: Preset, seed: int, policy: str, frames: int) -> Simulator:
    sim = Simulator(preset, seed)
    drive(sim, policy_for(sim, policy), frames)
    return sim


def replay(sc: Scenario, policy: str) -> Simulator:
    sim = Simulator(sc.preset, sc.seed, world=sc.world())
    drive(sim, policy_for(sim, policy), sc.frames)
    return sim


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sc") / "a.scenario"
    record_scenario(load_preset("default"), 7, 40.0).save(path)
    return path


@pytest.mark.parametrize("name", ["default", "highway_5g", "adverse_weather", "rural_lte"])
@pytest.mark.parametrize("policy", ["offload-all", "random"])
def test_replay_equals_the_live_run(tmp_path: Path, name: str, policy: str) -> None:
    preset = load_preset(name)
    sc = record_scenario(preset, 11, 30.0)
    sc.save(tmp_path / "s.scenario")
    loaded = Scenario.load(tmp_path / "s.scenario")
    assert replay(loaded, policy).records == live(preset, 11, policy, 300).records


def test_trace_driven_scenario_replays_exactly(tmp_path: Path) -> None:
    overrides = {"uplink": {"model": "trace", "trace": "builtin:lte_urban", "start_s": None, "outage": None}}
    preset = load_preset("default", overrides)
    sc = record_scenario(preset, 4, 20.0)
    assert sc.manifest["sources"][0]["file"] == "lte_urban.cooked" and len(sc.manifest["sources"][0]["sha256"]) == 64
    sc.save(tmp_path / "t.scenario")
    assert (
        replay(Scenario.load(tmp_path / "t.scenario"), "offload-all").records
        == live(preset, 4, "offload-all", 200).records
    )


def test_recording_twice_gives_identical_files(tmp_path: Path) -> None:
    preset = load_preset("default")
    a = record_scenario(preset, 3, 20.0).save(tmp_path / "a.scenario", created_utc="2026-01-01T00:00:00Z")
    b = record_scenario(preset, 3, 20.0).save(tmp_path / "b.scenario", created_utc="2026-01-01T00:00:00Z")
    assert a.read_bytes() == b.read_bytes()
    c = record_scenario(preset, 3, 20.0).save(tmp_path / "c.scenario")
    assert Scenario.load(c).checksum == Scenario.load(a).checksum  # the creation time is outside it
    assert record_scenario(preset, 4, 20.0).checksum != Scenario.load(a).checksum


@pytest.mark.slow
def test_replay_is_byte_identical_across_processes(recorded: Path, tmp_path: Path) -> None:
    outs = []
    for i in range(2):
        csv = tmp_path / f"{i}.csv"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "romanus.cli",
                "scenario",
                "replay",
                str(recorded),
                "--policy",
                "random",
                "--frames-csv",
                str(csv),
                "--json",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        outs.append(csv.read_bytes())
    here = tmp_path / "here.csv"
    assert main(["scenario", "replay", str(recorded), "--policy", "random", "--frames-csv", str(here), "--json"]) == 0
    assert outs[0] == outs[1] == here.read_bytes()


def test_two_policies_consume_identical_inputs(recorded: Path) -> None:
    sc = Scenario.load(recorded)
    a, b = replay(sc, "local-robust"), replay(sc, "offload-all")
    # the scene at every capture, the capacity the vehicle could see, the RTT drawn per frame
    assert [r.scene for r in a.records] == [r.scene for r in b.records]
    times = np.arange(sc.frames) * 0.1
    assert [a.uplink.integral(t) for t in times] == [b.uplink.integral(t) for t in times]
    assert [a._rtt[n] for n in range(sc.frames)] == [b._rtt[n] for n in range(sc.frames)]
    assert b.server is not None and a.server is not None
    a.server.advance(sc.duration_s)
    b.server.advance(sc.duration_s)
    assert a.server.background_jobs == b.server.background_jobs > 0  # same background requests
    offloaded = [r.rtt_ms for r in b.records if r.offloaded and r.rtt_ms > 0]
    assert offloaded and all(r in [x * 1000 for x in sc.arrays["rtt_s"]] for r in offloaded[:20])


def test_asking_beyond_the_scenario_is_a_clear_error(recorded: Path) -> None:
    sc = Scenario.load(recorded)
    sim = Simulator(sc.preset, sc.seed, world=sc.world())
    policy = policy_for(sim, "local-robust")
    drive(sim, policy, sc.frames)
    with pytest.raises(HorizonError, match="the world ends at"):
        for _ in range(100):
            sim.step(policy.act(next_view(sim)))


def rewrite(path: Path, out: Path, edit: object) -> None:
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    edit(entries)  # type: ignore[operator]
    with zipfile.ZipFile(out, "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)


def test_damaged_files_are_clear_errors(recorded: Path, tmp_path: Path) -> None:
    data = recorded.read_bytes()
    (tmp_path / "cut.scenario").write_bytes(data[: len(data) // 2])
    with pytest.raises(ScenarioError, match=r"cannot read|corrupted"):
        Scenario.load(tmp_path / "cut.scenario")

    def bump_rtt(entries: dict[str, bytes]) -> None:
        arr = np.load(io.BytesIO(entries["rtt_s.npy"]))
        arr[5] += 1e-9
        buf = io.BytesIO()
        np.save(buf, arr)
        entries["rtt_s.npy"] = buf.getvalue()

    rewrite(recorded, tmp_path / "edited.scenario", bump_rtt)
    with pytest.raises(ScenarioError, match="checksum mismatch"):
        Scenario.load(tmp_path / "edited.scenario")

    def future(entries: dict[str, bytes]) -> None:
        m = json.loads(entries["manifest.json"])
        m["format_version"] = FORMAT_VERSION + 1
        entries["manifest.json"] = json.dumps(m).encode()

    rewrite(recorded, tmp_path / "future.scenario", future)
    with pytest.raises(ScenarioError, match="newer than this romanus reads"):
        Scenario.load(tmp_path / "future.scenario")

    def drop(entries: dict[str, bytes]) -> None:
        del entries["bg_times.npy"]

    rewrite(recorded, tmp_path / "missing.scenario", drop)
    with pytest.raises(ScenarioError, match="missing series: bg_times"):
        Scenario.load(tmp_path / "missing.scenario")
    with pytest.raises(ScenarioError, match="not a scenario"):
        Scenario.load(Path(__file__))


def test_checksum_covers_every_array_and_the_manifest(recorded: Path) -> None:
    sc = Scenario.load(recorded)
    base = _checksum(sc.manifest, sc.arrays)
    assert base == sc.checksum
    assert _checksum({**sc.manifest, "created_utc": "x"}, sc.arrays) == base
    assert _checksum({**sc.manifest, "seed": 8}, sc.arrays) != base
    arrays = dict(sc.arrays)
    arrays["scene_ids"] = arrays["scene_ids"][::-1].copy()
    assert _checksum(sc.manifest, arrays) != base


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cuts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4), truncate=st.booleans()
)
def test_fuzzed_scenario_files_only_raise_clear_errors(
    recorded: Path, tmp_path: Path, cuts: list[tuple[int, int]], truncate: bool
) -> None:
    data = bytearray(recorded.read_bytes())
    for pos, value in cuts:
        data[pos % len(data)] = value
    if truncate:
        data = data[: cuts[0][0] % len(data)]
    path = tmp_path / "fuzz.scenario"
    path.write_bytes(bytes(data))
    try:
        sc = Scenario.load(path)
    except ScenarioError:
        return
    assert sc.checksum == _checksum(sc.manifest, sc.arrays)  # a flip in zip slack: still valid


def test_cli_record_info_replay_and_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "one.scenario"
    assert main(["scenario", "record", "--env", "rural_lte", "--seed", "2", "--duration-s", "10", "-o", str(path)]) == 0
    assert main(["scenario", "info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert info["env"] == "RuralLTE" and info["frames"] == 100 and abs(sum(info["scene_share"].values()) - 1) < 1e-9
    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / "a.cooked").write_text("0 5\n1 0\n2 8\n3 1\n")
    (traces / "b.csv").write_text("3,Mbits/sec\n500,Kbits/sec\n")
    out = tmp_path / "suite"
    assert (
        main(
            [
                "scenario",
                "suite",
                "--env",
                "default",
                "--seeds",
                "0:3",
                "--duration-s",
                "5",
                "--uplink-traces",
                str(traces),
                "-o",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    index = json.loads((out / "suite.json").read_text())
    assert [s["seed"] for s in index["scenarios"]] == [0, 1, 2]
    assert [Path(s["trace"]).name for s in index["scenarios"]] == ["a.cooked", "b.csv", "a.cooked"]
    loaded = [Scenario.load(out / s["file"]) for s in index["scenarios"]]
    assert loaded[0].manifest["sources"][0]["file"] == "a.cooked"
    capsys.readouterr()
    assert main(["scenario", "replay", str(out / "seed-00001.scenario"), "--policy", "offload-all", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 50
    (traces / "c.cooked").write_text("0 5\n1 -1\n")
    assert (
        main(["scenario", "suite", "--seeds", "0:1", "--uplink-traces", str(traces), "-o", str(tmp_path / "x"), "-q"])
        == 2
    )
    assert "c.cooked: line 2" in capsys.readouterr().err


def test_env_replays_a_suite_in_turn(tmp_path: Path) -> None:
    preset = load_preset("default")
    for seed in (1, 2):
        record_scenario(preset, seed, 5.0).save(tmp_path / f"seed-{seed}.scenario")
    env = RomanusEnv(scenario=tmp_path)
    firsts = []
    for _ in range(3):
        env.reset()
        steps, truncated = 0, False
        while not truncated:
            _, _, _, truncated, info = env.step(3)  # an offloading mode: its energy depends on the link
            steps += 1
        assert steps == 50
        firsts.append(info["episode_energy_per_frame_mj"])
    assert firsts[0] == firsts[2] != firsts[1]  # scenario 1, 2, then 1 again
    other = RomanusEnv("default", scenario=tmp_path)
    other.reset(options={"scenario": 1})
    assert other._episode_scenario is not None and other._episode_scenario.seed == 2
    with pytest.raises(ValueError, match="different world"):
        RomanusEnv("rural_lte", scenario=tmp_path)


def test_env_replays_a_trace_driven_suite_in_every_episode(tmp_path: Path) -> None:
    """Scenarios driven by different traces differ in their uplink config only: the env replays
    all of them, with or without the preset named (the recording carries the capacity)."""
    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / "a.cooked").write_text("0 8\n1 2\n2 12\n3 4\n")
    (traces / "b.cooked").write_text("0 30\n1 25\n2 40\n")
    files = record_suite("default", range(3), 3.0, tmp_path / "suite", uplink_traces=traces)
    assert Scenario.load(files[0]).preset.uplink.trace != Scenario.load(files[1]).preset.uplink.trace
    for env in (RomanusEnv(scenario=tmp_path / "suite"), RomanusEnv("default", scenario=tmp_path / "suite")):
        energies = []
        for _ in range(3):
            env.reset()
            truncated = False
            while not truncated:
                _, _, _, truncated, info = env.step(3)  # offloads: its energy depends on the link
            energies.append(info["episode_energy_per_frame_mj"])
        assert energies[0] != energies[1]  # each episode replays its own trace
    with pytest.raises(ValueError, match="different world"):
        RomanusEnv("rural_lte", scenario=tmp_path / "suite")
