"""The real command line, end to end, in a temporary folder."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from romanus.cli import main


def test_help_lists_the_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for verb in ("simulate", "modes", "presets"):
        assert verb in out


def test_simulate_prints_the_kpi_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--policy", "local-robust", "--frames", "300", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    for label in (
        "energy per frame",
        "risky-frame rate",
        "deadline-miss rate",
        "latency p95",
        "longest miss streak",
        "offload fraction",
    ):
        assert label in out


def test_simulate_json_and_frames_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "out" / "frames.csv"
    assert (
        main(["simulate", "--policy", "offload-all", "--frames", "400", "--json", "--frames-csv", str(csv_path)]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["policy"] == "offload-all" and data["frames"] == 400
    assert data["offload_fraction"] == 1.0 and data["radio_energy_per_frame_mj"] > 0
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 400
    assert {"mode_name", "branches", "placement", "scene_name", "latency_ms", "risky"} <= set(rows[0])
    assert rows[0]["placement"].split("=")[1] == "bottleneck-c6-b8"
    energy = sum(float(r["compute_mj"]) + float(r["radio_mj"]) for r in rows) / 400
    assert energy == pytest.approx(data["energy_per_frame_mj"], rel=1e-9)
    assert not list(csv_path.parent.glob(".*tmp"))  # no partial files left behind


def test_same_seed_same_output(capsys: pytest.CaptureFixture[str]) -> None:
    outs = []
    for _ in range(2):
        main(["simulate", "--policy", "random", "--frames", "500", "--seed", "9", "--json"])
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]


def test_errors_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--policy", "teleport", "--frames", "10"]) == 2
    assert "unknown policy 'teleport'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: default\nuplink: {sigma_mbps: -1}\n")
    assert main(["simulate", "--env", str(bad), "--frames", "10"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "uplink.sigma_mbps" in err and "must be > 0" in err


def test_modes_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["modes", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["index"] for r in rows] == list(range(len(rows)))
    assert all(r["available"] for r in rows)
    assert {"camera", "range"} <= {g for r in rows for g in r["placement"]}


@pytest.mark.slow
def test_console_script_runs_in_a_fresh_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "romanus.cli", "simulate", "--frames", "50", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(done.stdout)["env"] == "Default"


@pytest.mark.slow
def test_bench_quick_reports_every_documented_key(tmp_path: Path) -> None:
    from romanus.bench import BENCH_KEYS, SIMULATOR_KEYS

    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for key, subkeys in BENCH_KEYS.items():
        assert key in report and f"| `{key}` |" in readme, key
        for sub in subkeys:
            assert sub in report[key], (key, sub)
            assert f"`{sub}`" in readme, sub
    for case in BENCH_KEYS["simulator"]:
        assert set(SIMULATOR_KEYS) <= set(report["simulator"][case])
    assert set(report["env_steps_per_s"]) >= {"romanus/Default-v2"}
    assert report["compare"]["identical"] is True
    assert report["memory"]["growth_mb"] < 50


@pytest.mark.slow
def test_reproduce_runs_the_whole_study_on_tiny_budgets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_drives import irish_files

    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / "a.cooked").write_text("0 5\n1 0.5\n2 8\n3 1\n")
    args = [
        "reproduce",
        "--seeds",
        "0:2",
        "--timesteps",
        "512",
        "--calibration-seeds",
        "10:12",
        "--test-seeds",
        "0:2",
        "--duration-s",
        "3",
        "--worlds",
        "connected,huang-linear",
        "--no-presets",
        "--traces",
        str(traces),
        "--fleet-sizes",
        "1",
        "2",
        "--out",
        str(tmp_path / "st"),
        "--workers",
        "1",
    ]
    drives = irish_files()
    if drives:  # two drives of two days, cut to 60 s: a training day and a held-out day
        folder = tmp_path / "drives"
        folder.mkdir()
        for f in (drives[0], drives[-1]):
            (folder / f.name).write_text("".join(f.read_text().splitlines(keepends=True)[:61]))
        args += ["--drives", str(folder), "--drive-window-s", "10"]
    assert main(args) == 0
    study = (tmp_path / "st" / "study.md").read_text()
    for part in (
        "The paper's two metrics under three physics",
        "77.06",
        "14.99",
        "## connected",
        "## huang-linear",
        "Held-out frontiers",
        "Per scene type",
        "The same ordering everywhere?",
        "traces-traces",
        "## Fleets",
        "## Targets",
        *(["## drives"] if drives else []),
    ):
        assert part in study, part
    data = json.loads((tmp_path / "st" / "study.json").read_text())
    assert set(data["suites"]["connected"]["kept"]) == {
        "risk-budget-greedy",
        "risk-budget-greedy+fallback",
        "scene-aware-greedy",
        "scene-aware-greedy+fallback",
    }
    assert (tmp_path / "st" / "connected" / "pareto.png").is_file()
    assert "power_model: huang_linear" in (tmp_path / "st" / "presets" / "huang-linear.yaml").read_text()
    if drives:  # the drive suite's agents are trained on the training day; the synthetic ones beside them
        assert "**agents trained on the training days** (mean of 2 seeds)" in study
        assert "**agents trained on the synthetic world** (mean of 2 seeds)" in study
        assert data["suites"]["drives"]["other_agent_names"] == data["agents"]
        assert len(data["drive_agents"]) == 2
    capsys.readouterr()
    assert main(args) == 0  # resumes: nothing is retrained or re-recorded
    assert len(list((tmp_path / "st" / "training" / "trials").iterdir())) == 2
    if drives:
        assert sorted(p.name for p in (tmp_path / "st" / "training-drives").iterdir()) == ["s0", "s1"]


def test_reproduce_quick_and_drive_flags_reach_the_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import romanus.study
    from romanus.study import StudySpec

    specs: list[StudySpec] = []

    def fake(spec: StudySpec, progress: object = None) -> Path:
        specs.append(spec)
        path = tmp_path / "study.md"
        path.write_text("study\n")
        return path

    monkeypatch.setattr(romanus.study, "run_study", fake)
    assert main(["reproduce", "--quick", "--drives", "d", "--out", str(tmp_path)]) == 0
    quick = specs[-1]
    assert quick.seeds == (0, 1) and quick.timesteps == 2048 and quick.drive_timesteps is None
    assert quick.drive_seeds is None and quick.worlds == ("connected",) and quick.other_presets == ()
    assert quick.drive_credit and quick.drive_population  # the study's drive recipe by default
    assert len(quick.test_seeds) == 3 and quick.duration_s == 10.0 and quick.fleet_sizes == (1,)
    assert main(["reproduce", "--quick", "--seeds", "4:5", "--drive-seeds", "7:9", "--drive-timesteps", "300"]) == 0
    given = specs[-1]
    assert given.seeds == (4,) and given.drive_seeds == (7, 8) and given.drive_timesteps == 300
    assert main(["reproduce", "--quick", "--no-drive-credit", "--no-drive-population"]) == 0
    assert not specs[-1].drive_credit and not specs[-1].drive_population
    assert main(["reproduce", "--drive-seeds", "none"]) == 0
    full = specs[-1]
    assert full.drive_seeds == () and full.seeds == tuple(range(5)) and full.timesteps is None
    assert full.duration_s == 60.0 and full.fleet_sizes == (1, 16) and len(full.worlds) == 3
    assert full.drive_calibration_windows == StudySpec.drive_calibration_windows
    capsys.readouterr()


@pytest.mark.slow
def test_demo_ends_with_what_the_agent_learned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo", "--timesteps", "512", "--scenarios", "2", "--duration-s", "3", "--workers", "1"]
    assert main([*argv, "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out.splitlines()
    tail = out[out.index(next(line for line in out if line.startswith("What the agent learned"))) :]
    assert tail[0] == "What the agent learned (2 held-out scenarios):"
    assert tail[1].startswith("- energy: ") and "below `local-robust`" in tail[1] and "risky frames" in tail[1]
    assert any("risk-budget-greedy+fallback" in line for line in tail[2:])
    assert tail[-1].startswith("- where it offloads: ")
    assert "DefaultShielded-v2" in "\n".join(out[:3])


ENV_FORMS = (
    "highway_5g",
    *(
        pytest.param(f, marks=pytest.mark.slow)
        for f in ("Highway_5G", "romanus/Highway5G-v2", "romanus:romanus/Highway5G-v2", "YAML")
    ),
)


@pytest.mark.parametrize("form", ENV_FORMS)
def test_every_env_form_works_in_every_command(form: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from romanus.config import _catalogue

    env = str(_catalogue() / "highway_5g.yaml") if form == "YAML" else form
    assert main(["simulate", "--env", env, "--frames", "50", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["env"] == "Highway5G"
    assert main(["modes", "--env", env, "--json"]) == 0
    assert main(["policies", "--env", env, "--json"]) == 0
    assert (
        main(
            ["scenario", "record", "--env", env, "--seed", "1", "--duration-s", "2", "-o", str(tmp_path / "a.scenario")]
        )
        == 0
    )
    assert (
        main(["scenario", "suite", "--env", env, "--seeds", "0:1", "--duration-s", "2", "-o", str(tmp_path / "s")]) == 0
    )
    assert (
        main(
            [
                "compare",
                "--env",
                env,
                "--seeds",
                "0:1",
                "--duration-s",
                "2",
                "--policies",
                "local-robust",
                "--out",
                str(tmp_path / "c"),
                "-q",
            ]
        )
        == 0
    )
    capsys.readouterr()
    from romanus.train.train import resolve_env

    assert resolve_env(env)[0] == "romanus/Highway5G-v2"


def test_a_wrong_env_names_every_accepted_form(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--env", "romanus/Nope-v2"]) == 2
    err = capsys.readouterr().err
    assert "not a shipped preset" in err and "YAML" in err and "Gymnasium id" in err


def test_global_flags_work_after_the_subcommand() -> None:
    from romanus.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["simulate", "--frames", "20", "-vv"]).verbose == 2
    assert parser.parse_args(["-v", "simulate"]).verbose == 1
    assert parser.parse_args(["scenario", "info", "x.scenario", "-v"]).verbose == 1
    assert parser.parse_args(["simulate"]).verbose == 0


def test_policies_lists_every_registered_policy_with_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    from romanus.policies import POLICIES
    from romanus.train.algorithms import ALGORITHMS

    assert main(["policies"]) == 0
    out = capsys.readouterr().out
    for name in POLICIES:
        assert f"\n{name} " in "\n" + out
    assert "local-camera_both" in out and "<algo>:RUN_DIR" in out
    assert all(a in out for a in ALGORITHMS)


def test_the_public_api_is_importable_from_the_package() -> None:
    code = (
        "import sys; from romanus import RomanusEnv, Simulator, make_policy, load_preset, Scenario; "
        "assert 'gymnasium' in sys.modules; import romanus; "
        "import gymnasium as gym; gym.make('romanus/Default-v2'); print(romanus.__version__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    from importlib.metadata import version

    assert out.stdout.strip() == version("romanus")  # the version lives in one place


def test_modes_columns_stay_aligned_for_long_mode_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preset = tmp_path / "long.yaml"
    preset.write_text(
        "extends: default\nname: LongNames\npipeline:\n  tiers:\n"
        "    a_very_long_tier_name_that_overflows_the_old_column: [radar, radar_lidar]\n"
        "    full: [radar, camera_left, camera_right, lidar, camera_both, camera_lidar, radar_lidar]\n"
    )
    assert main(["modes", "--env", str(preset)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[1]
    rows = [line for line in lines[2:] if not line.strip().startswith(("not a candidate", "actions:"))]
    assert any("a_very_long_tier_name_that_overflows_the_old_column|range=" in r for r in rows)
    # the right edge of each numeric column is the header's
    for title in ("vehicle ms", "uplink B", "server ms"):
        edge = header.index(title) + len(title)
        assert all(r[edge - 1] != " " and (len(r) == edge or r[edge] == " ") for r in rows), title


def test_help_documents_replay_and_the_train_forms(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["scenario", "replay", "--help"])
    out = capsys.readouterr().out
    for flag in ("--policy", "--json", "--frames-csv", "path"):
        line = next(line for line in out.splitlines() if line.startswith("  " + flag))  # not the usage lines
        assert len(line.split()) > 1 + (flag == "--policy"), f"{flag} has no help text"
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "(--env ENV --algo {" in out and "| --resume RUN_DIR)" in out.splitlines()[0]
    assert out.count("required unless --resume") == 2


@pytest.mark.parametrize(
    "output",
    [
        "demo/runs/Default-v1__maskable_ppo__0__x/config.yml",
        "demo/test_scenarios/seed-2000000.scenario",
        "study/study.md",
    ],
)
def test_what_the_quick_start_and_studies_write_is_ignored_by_git(output: str) -> None:
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(["git", "check-ignore", "-q", "--no-index", output], cwd=root, timeout=30)
    assert done.returncode == 0, f"{output} is not ignored"


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--frames", "0"],
        ["simulate", "--seed", "-1"],
        ["scenario", "record", "--seed", "1", "--duration-s", "inf", "-o", "x.scenario"],
        ["scenario", "suite", "--seeds", "5:2", "--duration-s", "1", "-o", "x"],
        ["trace", "info", "builtin:lte_urban", "--window-ms", "0"],
        ["train", "--env", "default", "--algo", "ppo", "--timesteps", "-100"],
        ["train", "--env", "default", "--algo", "ppo", "--eval-freq", "0"],
        ["compare", "--seeds", "0:1", "--duration-s", "1e9", "--out", "x"],
    ],
)
def test_absurd_numbers_on_the_command_line_are_one_line_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own error exit
        code = int(exc.code or 0)
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err) and "error:" in err[-1]
