"""Baselines, the hindsight oracle and the comparison harness."""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np
import pytest

from romanus import plots
from romanus.compare import (
    RESULT_COLUMNS,
    CompareResult,
    RunOutput,
    compare,
    paired_values,
    scenario_index,
    summarise,
    summary_csv,
    summary_markdown,
)
from romanus.config import load_preset
from romanus.policies import Oracle, policy_for
from romanus.scenario import record_scenario
from romanus.sim.simulator import Simulator
from romanus.stats import mean_ci, reduction_ci, t_quantile
from romanus.vehicle.view import drive

BASELINES = ["local-robust", "offload-all", "robust-agnostic", "neurosurgeon", "scene-aware-greedy", "random"]


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("suite")
    preset = load_preset("default")
    paths = []
    for seed in (1, 2, 3):
        paths.append(record_scenario(preset, seed, 20.0).save(folder / f"seed-{seed}.scenario"))
    return paths


@pytest.fixture(scope="module")
def connected_suite(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("connected")
    preset = load_preset("default", {"radio": {"accounting": "connected"}})
    return [record_scenario(preset, seed, 20.0).save(folder / f"seed-{seed}.scenario") for seed in (1, 2, 3)]


def test_oracle_beats_every_baseline_where_they_are_safe(connected_suite: list[Path]) -> None:
    """With a modem kept connected (each frame's radio energy is its own). When offloading
    owns the radio, the tail couples frames and the per-frame oracle is no bound: offload-all,
    once connected, spends less per frame than an oracle that never pays the promotion."""
    result = compare(connected_suite, [*BASELINES, "oracle"], None)
    oracle = result.by_policy("oracle")
    for policy in BASELINES:
        for base, orc in zip(result.by_policy(policy), oracle, strict=True):
            sc = base.row["scenario"]
            assert orc.row["scenario"] == sc
            safe = ~base_risky(base)
            # over the frames the baseline got through safely, the oracle spends no more
            assert orc_energy(orc)[safe].sum() <= base_energy(base)[safe].sum() * (1 + 1e-9), (policy, sc)
    assert all(o.row["risky_rate"] == 0.0 for o in oracle)


def base_risky(out: RunOutput) -> np.ndarray:
    return out.risky


def base_energy(out: RunOutput) -> np.ndarray:
    return out.energy_mj


orc_energy = base_energy


class Checked(Oracle):
    """The oracle, checking at every frame whether some mode could have avoided risk."""

    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim.catalogue)
        self.avoidable: list[bool] = []

    def act(self, ctx):  # type: ignore[no-untyped-def]
        allowed = np.flatnonzero(self._robust[ctx.scene] & ctx.mask)
        self.avoidable.append(any(not ctx.predict(int(m)).risky for m in allowed))
        return super().act(ctx)


def test_oracle_has_no_avoidable_risky_frames() -> None:
    # a 60 ms deadline: the bad-weather robust set (74 ms onboard) only fits by offloading on a
    # good link, so some frames are unavoidably lost and others are saved only by the right mode
    preset = load_preset("adverse_weather", {"deadline_ms": 60.0})
    sim = Simulator(preset, 5)
    oracle = Checked(sim)
    drive(sim, oracle, 1500)
    risky = np.array([r.risky for r in sorted(sim.records, key=lambda r: r.frame)])
    avoidable = np.array(oracle.avoidable)
    assert not (risky & avoidable).any()  # every risky frame was unavoidable
    assert risky.any() and avoidable.any()  # and the world produced both kinds (not vacuous)
    assert (avoidable & ~risky).sum() > 100


def test_robust_agnostic_is_riskier_than_local_robust_in_bad_weather(suite: list[Path]) -> None:
    preset = load_preset("default", {"scene": {"mix": {"fog": 1, "snow": 1, "night": 1}}})
    sc = record_scenario(preset, 9, 30.0)
    rates = {}
    for name in ("local-robust", "robust-agnostic"):
        sim = Simulator(sc.preset, sc.seed, world=sc.world())
        log = drive(sim, policy_for(sim, name), sc.frames)
        rates[name] = float(log["risky"].mean())
    assert rates["local-robust"] == 0.0
    assert rates["robust-agnostic"] > 0.5  # its cheapest modes are camera branches, not robust here


@pytest.mark.slow
def test_serial_and_parallel_results_are_identical(suite: list[Path], tmp_path: Path) -> None:
    policies = ["local-robust", "scene-aware-greedy", "random"]
    compare(suite, policies, tmp_path / "serial", workers=1)
    compare(suite, policies, tmp_path / "parallel", workers=2)
    for name in ("results.csv", "summary.csv", "summary.md"):
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "parallel" / name).read_bytes()
    for name in ("summary.md", "pareto.png", "latency_cdf.png", "timeline.png", "modes_per_scene.png"):
        assert (tmp_path / "serial" / name).stat().st_size > 0
    frames = sorted(p.name for p in (tmp_path / "serial" / "frames").iterdir())
    assert len(frames) == 9 and frames[0].endswith(".parquet")
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "serial" / "frames" / frames[0])
    assert table.num_rows == 200 and {"latency_ms", "mode_name", "risky"} <= set(table.column_names)


def test_results_columns_are_documented(suite: list[Path], tmp_path: Path) -> None:
    compare(suite[:1], ["local-robust"], tmp_path)
    with (tmp_path / "results.csv").open() as fh:
        header = next(csv.reader(fh))
    assert tuple(header) == RESULT_COLUMNS
    readme = (Path(__file__).resolve().parents[1] / "docs" / "comparing.md").read_text()
    section = readme.split("### `results.csv`")[1].split("\n#")[0]
    documented = re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.M)
    assert documented == list(RESULT_COLUMNS)


def test_confidence_intervals_match_a_hand_computation() -> None:
    # energies 300, 310, 320, 330: mean 315, sd 12.9099, t(0.975, 3) = 3.18245
    ci = mean_ci([300, 310, 320, 330])
    assert ci.mean == 315.0
    assert ci.half_width == pytest.approx(3.182446305 * 12.90994449 / 2.0, rel=1e-8)
    assert t_quantile(0.975, 3) == pytest.approx(3.182446305, rel=1e-8)
    assert math.isnan(mean_ci([1.0]).half_width)
    r = reduction_ci([200, 220, 210, 190], [300, 310, 320, 330])
    assert r.estimate == pytest.approx(1 - 820 / 1260)
    assert r.low <= r.estimate <= r.high


def out(policy: str, scenario: str, energy: float, risky: float) -> RunOutput:
    row = {c: 0.0 for c in RESULT_COLUMNS} | {
        "policy": policy,
        "scenario": scenario,
        "energy_per_frame_mj": energy,
        "risky_rate": risky,
    }
    z = np.zeros(1)
    return RunOutput(row, z, z.astype(int), z.astype(int), z.astype(bool), z, z.astype(bool))


def test_summary_table_on_a_fixed_small_table() -> None:
    outs = [
        out("local-robust", "a", 400, 0.0),
        out("local-robust", "b", 400, 0.0),
        out("robust-agnostic", "a", 100, 0.4),
        out("robust-agnostic", "b", 120, 0.6),
        out("x", "a", 200, 0.1),
        out("x", "b", 220, 0.0),
    ]
    res = CompareResult(["local-robust", "robust-agnostic", "x"], ["a", "b"], outs)
    s = summarise(res)["x"]
    assert s["energy_per_frame_mj"].mean == 210.0
    assert s["energy_per_frame_mj"].half_width == pytest.approx(12.7062047 * 10.0, rel=1e-6)  # sd 14.14 / sqrt 2
    assert s["energy_saving_vs_local_robust"].estimate == pytest.approx(1 - 420 / 800)
    assert s["risky_reduction_vs_robust_agnostic"].estimate == pytest.approx(1 - 0.1 / 1.0)
    text = summary_markdown(res, "t")
    assert "| `x` | 210.0 ± 127.1 |" in text and "47.5 [" in text and "90.0 [" in text


def test_paired_differences_pair_by_scenario_and_reach_the_outputs() -> None:
    outs = [
        out("local-robust", "a", 400, 0.0),
        out("local-robust", "b", 300, 0.0),
        out("x", "b", 220, 0.1),  # x ran the scenarios in the other order
        out("x", "a", 380, 0.0),
    ]
    res = CompareResult(["local-robust", "x"], ["a", "b"], outs)
    values, ref = paired_values(res, "x", "local-robust", "energy_per_frame_mj")
    assert values.tolist() == [220, 380] and ref.tolist() == [300, 400]  # paired by scenario, not position
    s = summarise(res)["x"]
    d = s["energy_per_frame_mj_diff_vs_local_robust"]
    # differences -80 and -20: mean -50, sd 42.43, t(0.975, 1) = 12.706
    assert d.mean == -50.0 and d.half_width == pytest.approx(12.7062047 * 30.0, rel=1e-6)
    assert s["risky_rate_diff_vs_local_robust"].mean == pytest.approx(0.05)
    assert summarise(res)["local-robust"]["energy_per_frame_mj_diff_vs_local_robust"].mean == 0.0
    text = summary_markdown(res, "t")
    row = next(line for line in text.splitlines() if line.startswith("| `x` |"))
    assert "-50.0 [-431.2, 331.2]" in row and "+5.0 [" in row
    rows = {r["policy"]: r for r in csv.DictReader(io.StringIO(summary_csv(res)))}
    assert float(rows["x"]["energy_per_frame_mj_diff_vs_local_robust"]) == -50.0
    assert float(rows["x"]["energy_per_frame_mj_diff_vs_local_robust_low"]) == pytest.approx(-50.0 - 381.186141)
    assert float(rows["x"]["energy_saving_vs_local_robust"]) == pytest.approx(1 - 600 / 700)
    assert rows["x"]["scenarios"] == "2"


def test_scenario_index_by_name_or_number() -> None:
    res = CompareResult(["p"], ["seed-1", "seed-2", "seed-3"], [])
    assert scenario_index(res, "seed-2") == 1
    assert scenario_index(res, 2) == 2 and scenario_index(res, -1) == 2 and scenario_index(res, "0") == 0
    with pytest.raises(ValueError, match="seed-1, seed-2, seed-3"):
        scenario_index(res, "seed-9")
    with pytest.raises(ValueError, match="out of range"):
        scenario_index(res, 3)


def test_timeline_draws_the_chosen_scenario(suite: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[str] = []
    real = plots.timeline

    def spy(path: Path, scenario, cat, runs, deadline_ms=None):  # type: ignore[no-untyped-def]
        drawn.append(Path(scenario.path).stem)
        assert all(len(r.mode) == scenario.frames for r in runs.values())
        real(path, scenario, cat, runs, deadline_ms)

    monkeypatch.setattr(plots, "timeline", spy)
    compare(suite, ["local-robust", "random"], tmp_path / "c", timeline_scenario="seed-3")
    assert drawn == ["seed-3"] and (tmp_path / "c" / "timeline.png").stat().st_size > 0
    assert "`timeline.png` (scenario `seed-3`;" in (tmp_path / "c" / "summary.md").read_text()
    assert (tmp_path / "c" / "summary.csv").read_text().startswith("policy,scenarios,energy_per_frame_mj,")


def test_a_rerun_replaces_its_outputs_as_a_set(suite: list[Path], tmp_path: Path) -> None:
    """No stale frame logs after a smaller re-run; no staging folder left behind."""
    out = tmp_path / "out"
    compare(suite[:2], ["local-robust", "offload-all", "random"], out)
    assert len(list((out / "frames").glob("*.parquet"))) == 6
    (out / "mine.txt").write_text("a user's file")
    compare(suite[:2], ["local-robust"], out)
    assert sorted(p.name.split("__")[0] for p in (out / "frames").glob("*.parquet")) == ["local-robust"] * 2
    assert (out / "mine.txt").read_text() == "a user's file"  # only what a comparison owns is replaced
    assert not [p for p in out.iterdir() if p.name.startswith(".compare-")]


def test_concurrent_comparisons_into_one_folder_do_not_mix(suite: list[Path], tmp_path: Path) -> None:
    import threading

    out = tmp_path / "out"
    runs = [["local-robust", "offload-all"], ["random", "oracle"]]
    threads = [threading.Thread(target=compare, args=(suite[:2], p, out)) for p in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    table = (out / "results.csv").read_text()
    logs = {p.name.split("__")[0] for p in (out / "frames").glob("*.parquet")}
    winner = next(r for r in runs if r[0] in table)
    assert logs == set(winner)  # the frame logs belong to the run whose table is there
    assert all(p not in table for p in next(r for r in runs if r is not winner))


def test_two_models_of_one_run_get_their_own_frame_logs() -> None:
    from romanus.compare import frame_log_stem

    a, b = frame_log_stem("ppo:runs/x/best_model.zip"), frame_log_stem("ppo:runs/x/final_model.zip")
    assert a != b and a.startswith("ppo_x-") and frame_log_stem("local-robust") == "local-robust"
