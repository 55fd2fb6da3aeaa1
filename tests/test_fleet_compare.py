"""Fleet scenarios (bit-exact replay) and fleet comparisons."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from romanus.config import Preset
from romanus.fleetcompare import compare_fleet, format_fleet_table, format_paired_table, paired_against, run_fleet
from romanus.fleetscenario import FleetScenario, record_fleet_scenario
from romanus.policies import make_policy
from romanus.scenario import ScenarioError
from romanus.sim.fleet import FleetSimulator
from romanus.vehicle.view import VehicleView


def _drive(fleet: FleetSimulator, frames: int) -> list[list[object]]:
    pols = [make_policy("random", fleet.catalogue, fleet.preset, np.random.default_rng(i)) for i in range(len(fleet))]
    for _ in range(frames):
        ds = fleet.decisions()
        fleet.step([p.act(VehicleView(v, d)) for p, v, d in zip(pols, fleet.vehicles, ds, strict=True)])
    fleet.drain()
    return [list(v.records) for v in fleet.vehicles]


def test_a_recorded_fleet_replays_the_live_run_bit_for_bit(preset: Preset, tmp_path: Path) -> None:
    sc = record_fleet_scenario(preset, 3, 21, 8.0)
    sc.save(tmp_path / "fleet")
    loaded = FleetScenario.load(tmp_path / "fleet")
    live = _drive(FleetSimulator(preset, 3, 21), 80)
    replayed = _drive(FleetSimulator(preset, 3, loaded.seed, worlds=loaded.worlds()), 80)
    assert replayed == live
    assert sum(r.offloaded for rows in live for r in rows) > 50  # type: ignore[attr-defined]
    # a second replay of the same recording too (fresh worlds each time)
    assert _drive(FleetSimulator(preset, 3, loaded.seed, worlds=loaded.worlds()), 80) == live


def test_a_tampered_fleet_scenario_is_refused(preset: Preset, tmp_path: Path) -> None:
    sc = record_fleet_scenario(preset, 2, 1, 2.0)
    folder = sc.save(tmp_path / "fleet")
    index = json.loads((folder / "fleet.json").read_text())
    index["checksums"][1] = "0" * 64
    (folder / "fleet.json").write_text(json.dumps(index))
    with pytest.raises(ScenarioError, match="vehicle 1"):
        FleetScenario.load(folder)
    with pytest.raises(ScenarioError, match=r"no fleet\.json"):
        FleetScenario.load(tmp_path)


def test_fleet_comparison_on_recorded_scenarios_and_live_seeds(preset: Preset) -> None:
    sc = record_fleet_scenario(preset, 2, 5, 3.0)
    on_recording = run_fleet(preset, 2, "offload-all", 0, 30, scenario=sc)
    live = run_fleet(preset, 2, "offload-all", 5, 30)
    assert on_recording == live
    result = compare_fleet(preset, [1, 3], ["local-robust", "offload-all"], [0, 1], 3.0)
    assert len(result["runs"]) == 8 and len(result["summary"]) == 4
    local = [r for r in result["summary"] if r["policy"] == "local-robust"]
    assert all(r["fleet_risky_rate"] == 0.0 and r["jain_risk"] == 1.0 for r in local)
    off = {r["vehicles"]: r for r in result["summary"] if r["policy"] == "offload-all"}
    assert off[3]["fleet_risky_rate"] > off[1]["fleet_risky_rate"]  # contention
    assert not math.isnan(off[3]["fleet_risky_rate_ci95"])
    assert "| 3 | offload-all |" in format_fleet_table(result)
    paired = {r["vehicles"]: r for r in paired_against(result)}  # offload-all against local-robust, seed by seed
    for n in (1, 3):
        energy = {
            (r["policy"], r["seed"]): r["fleet_energy_per_frame_mj"] for r in result["runs"] if r["vehicles"] == n
        }
        diffs = [energy[("offload-all", s)] - energy[("local-robust", s)] for s in (0, 1)]
        assert paired[n]["energy_diff_mj"] == pytest.approx(sum(diffs) / 2)
        assert paired[n]["pairs"] == 2 and paired[n]["policy"] == "offload-all"
    assert "energy vs local-robust" in format_paired_table(paired_against(result))
    with pytest.raises(ValueError, match="oracle"):
        run_fleet(preset, 2, "oracle", 0, 5)


def test_the_fleet_cli_records_and_compares(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from romanus.cli import main

    assert main(["fleet", "record", "--vehicles", "2", "--duration-s", "1", "--out", str(tmp_path / "sc")]) == 0
    assert main(["fleet", "compare", "--scenario", str(tmp_path / "sc"), "--policies", "offload-all", "-q"]) == 0
    out = capsys.readouterr().out
    assert "| 2 | offload-all |" in out
    # romanus compare on a fleet folder: the fleet comparison (the oracle left out of the default set)
    assert main(["compare", "--scenarios", str(tmp_path / "sc"), "--out", str(tmp_path / "cmp"), "-q"]) == 0
    assert "| 2 | local-robust |" in capsys.readouterr().out
    assert len(json.loads((tmp_path / "cmp" / "fleet_results.json").read_text())["runs"]) >= 5
    code = main(
        ["fleet", "compare", "--vehicles", "1,2", "--seeds", "0:2", "--duration-s", "1", "--policies", "local-robust",
         "--scheduler", "round-robin", "--json", str(tmp_path / "r.json"), "-q"]
    )  # fmt: skip
    assert code == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert len(doc["runs"]) == 4 and len(doc["runs"][3]["per_vehicle"]) == 2
    assert main(["fleet", "compare", "--vehicles", "0", "-q"]) == 2  # a clear error, not a traceback
    assert "--vehicles" in capsys.readouterr().err


def test_the_fleet_bench_reports_rates_and_memory() -> None:
    from romanus.fleetbench import format_fleet_bench, run_fleet_bench

    report = run_fleet_bench(sizes=(1, 4), decisions=200, memory_decisions=400)
    for policy in ("local-robust", "offload-all"):
        assert report["speed"][policy]["4"]["decisions_per_s"] > 0
    assert report["speed"]["local-robust"]["4"]["cell_changes_per_decision"] == 0.0  # nobody on the air
    assert report["speed"]["offload-all"]["4"]["cell_changes_per_decision"] > 0.5
    assert report["memory"]["decisions_large"] == 400
    assert "N=4" in format_fleet_bench(report)
