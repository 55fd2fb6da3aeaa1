"""The risk estimate's population prior: capacity libraries of drive windows (romanus.vehicle.population)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from test_drives import IRISH, irish_files
from test_train_suite import short_drives

from romanus.config import ConfigError, load_preset
from romanus.policies import Policy
from romanus.sim.simulator import build_catalogue
from romanus.study import DRIVE_WORLD
from romanus.vehicle.estimates import RiskAssessor, RiskEstimator
from romanus.vehicle.population import CapacityLibrary, build_library, load_library

pytestmark = pytest.mark.skipif(not irish_files(), reason=f"irish-5g drives not found at {IRISH}")


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from romanus.scenario import record_drive_suite

    root = tmp_path_factory.mktemp("pop")
    world = root / "world.yaml"
    world.write_text(yaml.safe_dump({"extends": "default", "name": "StudyDrives", **DRIVE_WORLD}))
    files = record_drive_suite(short_drives(root / "drives"), root / "suites", env=str(world), window_s=20.0)
    return {"root": root, "world": world, "train": files["train"], "test": files["test"]}


def _geometry(suite: dict[str, Any]) -> tuple[int, int]:
    from romanus.scenario import Scenario
    from romanus.vehicle.estimates import path_geometry

    return path_geometry(Scenario.load(suite["train"][0]).preset)


def test_library_holds_the_windows_transitions_and_round_trips(suite: dict[str, Any], tmp_path: Path) -> None:
    from romanus.scenario import Scenario
    from romanus.sim.simulator import Simulator

    slots, ahead = _geometry(suite)
    lib = build_library(suite["train"], slots=slots, ahead=ahead)
    assert lib.slots == slots and lib.ahead == ahead and lib.period_ms == 100.0
    assert np.all(np.diff(lib.rates) >= 0) and lib.paths.shape == (len(lib.rates), slots * ahead)
    # an outside truth: the first window's first transition, from its uplink's integral
    sc = Scenario.load(suite["train"][0])
    sim = Simulator(sc.preset, sc.seed, world=sc.world())
    rate0 = (sim.uplink.integral(0.1) - sim.uplink.integral(0.0)) / 0.1
    edges = 0.1 + np.arange(slots * ahead + 1) * (0.1 / slots)
    path0 = np.diff([sim.uplink.integral(float(t)) for t in edges]) / (0.1 / slots)
    i = int(np.flatnonzero(np.isclose(lib.rates, rate0, rtol=0, atol=1e-12))[0])
    same = [k for k in range(len(lib.rates)) if lib.rates[k] == lib.rates[i]]
    assert any(np.allclose(lib.paths[k], path0, rtol=1e-9, atol=1e-12) for k in same)
    # nearest: the k rates closest in log rate, as a brute force finds them
    now = float(np.median(lib.rates)) * 1.07
    rates, paths = lib.nearest(now, 25)
    brute = np.sort(np.abs(np.log(lib.rates) - np.log(now)))[:25]
    assert np.allclose(np.sort(np.abs(np.log(rates) - np.log(now))), brute) and paths.shape == (25, slots * ahead)
    # save and load give the same library; a foreign file is refused, naming it
    lib.save(tmp_path / "lib.npz")
    back = load_library(tmp_path / "lib.npz")
    assert np.array_equal(back.rates, lib.rates) and np.array_equal(back.paths, lib.paths)
    assert back.sources == lib.sources and back.slots == slots and np.array_equal(back.origins, lib.origins)
    # each transition knows its drive (the file name); an estimate on a drive never draws its own
    both = build_library([*suite["train"], *suite["test"]], slots=slots, ahead=ahead)
    names = [Path(Scenario.load(f).preset.drive.file).name for f in (suite["train"][0], suite["test"][0])]  # type: ignore[union-attr]
    assert sorted(both.sources) == sorted(set(names)) and len(set(names)) == 2 and lib.sources == (names[0],)
    less = both.without(names[1])
    assert less is not None and less.skip == both.sources.index(names[1])
    # passing over the test drive is the library of the training drive alone, at every rate and k
    for now in np.geomspace(0.3, 3 * float(both.rates[-1]), 23):
        for k in (1, 7, 60, 5000):
            a, b = less.nearest(float(now), k), lib.nearest(float(now), k)
            assert len(a[0]) == min(k, len(lib.rates))
            assert np.allclose(np.sort(np.abs(np.log(a[0]) - np.log(now))), np.sort(np.abs(np.log(b[0]) - np.log(now))))
    assert both.without(names[1]) is less and both.without("elsewhere.csv") is both and lib.without(names[0]) is None
    test = Scenario.load(suite["test"][0])
    assert RiskEstimator(test.preset, sim.catalogue, population=both).population is both.without(names[1])
    assert RiskEstimator(sc.preset, sim.catalogue, population=lib).population is None
    bad = tmp_path / "bad.npz"
    np.savez(bad, rates=np.ones(3))
    with pytest.raises(ValueError, match=r"bad\.npz: not a capacity library"):
        load_library(bad)
    with pytest.raises(ValueError, match="no scenarios"):
        build_library([], slots=slots, ahead=ahead)


class _Recorder(Policy):
    """Runs local; records the lowest estimated P(miss) of the offloading modes each frame."""

    name = "recorder"

    def __init__(self, est: RiskEstimator) -> None:
        self.lowest: dict[int, float]
        self.est, self.lowest = est, {}

    def act(self, view: Any) -> int:
        self.est.observe(view)
        p, _ = self.est.assess(view)
        off = np.flatnonzero(self.est.offloads & view.mask)
        if len(off):
            self.lowest[view.frame] = float(p[off].min())
        return int(np.flatnonzero(view.mask & ~self.est.offloads)[0])


def test_a_library_of_collapses_raises_the_estimated_miss_and_a_preset_names_it(
    suite: dict[str, Any], tmp_path: Path
) -> None:
    """Paths that collapse to a trickle after every rate: the prior's share of the samples then
    misses for sure, so P(miss) of an offload rises by about that share over the estimate
    without it (and never falls)."""
    from romanus.scenario import Scenario
    from romanus.sim.simulator import Simulator
    from romanus.vehicle.view import drive

    slots, ahead = _geometry(suite)
    rates = np.geomspace(0.5, 200.0, 400)
    collapse = CapacityLibrary(
        rates, np.full((400, slots * ahead), 1e-3), 100.0, slots, ("elsewhere.csv",), np.zeros(400, dtype=np.int64)
    )
    sc = Scenario.load(suite["test"][0])
    seen: dict[str, dict[int, float]] = {}
    for key, lib in (("without", None), ("with", collapse)):
        sim = Simulator(sc.preset, sc.seed, world=sc.world())
        rec = _Recorder(RiskEstimator(sc.preset, sim.catalogue, population=lib))
        drive(sim, rec, sc.frames)
        seen[key] = rec.lowest
    assert seen["without"].keys() == seen["with"].keys()
    frames = [f for f, v in seen["without"].items() if v < 1.0]  # offloads judged possible
    a, b = np.array([seen["without"][f] for f in frames]), np.array([seen["with"][f] for f in frames])
    assert len(a) > 20
    assert np.all(b >= a - 1e-12) and np.mean(b - a) > 0.1
    # geometry must match the estimate's
    with pytest.raises(ValueError, match="capacity library of"):
        RiskEstimator(
            sc.preset,
            Simulator(sc.preset, 0).catalogue,
            population=CapacityLibrary(rates[:3], np.ones((3, slots)), 100.0, slots, ("x",), np.zeros(3, np.int64)),
        )
    # a preset names it, relative to its own file; a bad one is a config error naming the field
    collapse.save(tmp_path / "lib.npz")
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({"extends": str(suite["world"]), "name": "Lib", "capacity_library": "lib.npz"}))
    loaded = load_preset(str(preset))
    assert loaded.capacity_library == str(tmp_path / "lib.npz")
    assessor = RiskAssessor(loaded, build_catalogue(loaded))
    assert assessor.estimator.population is not None and len(assessor.estimator.population.rates) == 400
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    preset.write_text(yaml.safe_dump({"extends": str(suite["world"]), "name": "Lib", "capacity_library": "junk.npz"}))
    with pytest.raises(ConfigError, match="capacity_library"):
        load_preset(str(preset))


def test_coverage_paths_command_writes_a_library(suite: dict[str, Any], tmp_path: Path) -> None:
    from romanus.cli import main

    out = tmp_path / "lib.npz"
    assert main(["coverage", "paths", str(suite["root"] / "suites" / "train"), "-o", str(out)]) == 0
    lib = load_library(out)
    assert len(lib.rates) > 100 and len(lib.sources) == 1  # one drive: the windows' drive


def test_drive_suites_name_a_library_and_refuse_one_that_saw_a_test_drive(
    suite: dict[str, Any], tmp_path: Path
) -> None:
    """``record_drive_suite(capacity_library=)``: the scenarios' preset names it (their estimate
    then draws from it) and replays; a library holding a test-split drive is refused for the test
    split, naming the file."""
    from romanus.scenario import Scenario, ScenarioError, record_drive_suite

    drives_dir = suite["root"] / "drives"
    clean, leaky = tmp_path / "clean.npz", tmp_path / "leaky.npz"
    build_library(suite["train"]).save(clean)
    build_library([*suite["train"], *suite["test"]]).save(leaky)
    with pytest.raises(ScenarioError, match=r"leaky\.npz.*test-split drive"):
        record_drive_suite(
            drives_dir, tmp_path / "a", env=str(suite["world"]), window_s=20.0, capacity_library=str(leaky)
        )
    files = record_drive_suite(
        drives_dir, tmp_path / "b", env=str(suite["world"]), window_s=20.0, split="test", capacity_library=str(clean)
    )
    sc = Scenario.load(files["test"][0])
    assert sc.preset.capacity_library == str(clean)
    assessor = RiskAssessor(sc.preset, build_catalogue(sc.preset))
    assert assessor.estimator.population is not None and len(assessor.estimator.population.rates) > 100
    assert Scenario.load(suite["test"][0]).preset.capacity_library is None
