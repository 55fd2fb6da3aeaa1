"""Worlds, scenarios and observations from real drives, checked against the drive files.

The capacity a simulated link plays is checked against the integral of the drive's own samples,
the place's answers against :mod:`romanus.drives` and :class:`romanus.coverage.CoverageMap`,
and a recorded drive scenario against the live run it recorded (frame logs column by column).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from test_drives import IRISH, irish_files

from romanus.cli import main
from romanus.config import ConfigError, Preset, load_preset
from romanus.coverage import build_coverage
from romanus.drives import (
    downlink_samples,
    fix_rows,
    handovers,
    kpi_at,
    load_drive,
    positions,
    uplink_samples,
)
from romanus.env.core import RomanusEnv
from romanus.policies import policy_for
from romanus.scenario import (
    FORMAT_VERSION,
    Scenario,
    ScenarioError,
    _checksum,
    drive_windows,
    record_drive_suite,
    record_scenario,
)
from romanus.sim.place import Place
from romanus.sim.simulator import Simulator
from romanus.vehicle.observations import PlaceObservation, make_observation
from romanus.vehicle.view import drive, next_view

pytestmark = pytest.mark.skipif(not irish_files(), reason=f"irish-5g drives not found at {IRISH}")

# 5G NSA, LTE, HSPA+ and HSUPA rows, CQI missing on a quarter of them, 1351 s
MIXED = IRISH / "B_2019.12.16_12.27.05.csv"
LTE_5G = IRISH / "B_2019.12.16_07.22.43.csv"


def drive_preset(path: Path, start_s: float = 0.0, **drive: Any) -> Preset:
    return load_preset(
        "default",
        {
            "drive": {"file": str(path), "start_s": start_s, **drive},
            "uplink": {"model": "drive", "outage": None},
            "downlink": {"model": "drive", "outage": None},
        },
    )


def sample_integral(times: np.ndarray, per_sample: np.ndarray, a: float, b: float) -> float:
    """Integral over [a, b] of the piecewise-constant capacity whose sample i holds over
    (t_{i-1}, t_i] (the drive's own definition), summed interval by interval."""
    lo, hi = np.maximum(times[:-1], a), np.minimum(times[1:], b)
    return float(np.sum(np.clip(hi - lo, 0.0, None) * per_sample[1:]))


# --- the links -------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["dl_ratio", "cqi"])
def test_link_capacity_is_the_integral_of_the_drive(model: str) -> None:
    d = load_drive(MIXED)
    start, span = 300.0, 400.0
    world = Simulator(drive_preset(MIXED, start, uplink_model=model, handover_interruptions=False), 0).world
    up = sample_integral(d.time_s, uplink_samples(d, model), start, start + span)
    down = sample_integral(d.time_s, downlink_samples(d), start, start + span)
    assert world.uplink.integral(span) == pytest.approx(up, rel=1e-9)
    assert world.downlink.integral(span) == pytest.approx(down, rel=1e-9)


def test_handover_interruptions_remove_their_volume_and_zero_the_link() -> None:
    d = load_drive(MIXED)
    start, span = 0.0, float(d.duration_s)
    plain = Simulator(drive_preset(MIXED, start, handover_interruptions=False), 0).world
    cut = Simulator(drive_preset(MIXED, start), 0).world
    rates = uplink_samples(d)
    inside = [h for h in handovers(d) if d.time_s[h.index] - d.time_s[h.index - 1] > h.interruption_s]
    assert len(inside) > 20
    for h in inside:
        assert cut.uplink.rate(h.time_s - h.interruption_s / 2) == 0.0
    hos = handovers(d)
    lost = sum(rates[h.index] * h.interruption_s for h in hos)
    assert plain.uplink.integral(span) - cut.uplink.integral(span) == pytest.approx(lost, rel=1e-9)
    # the link ends with the drive: no capacity after it
    assert cut.uplink.rate(span + 1.0) == 0.0


# --- the place -------------------------------------------------------------------------------


def test_place_answers_from_the_drive() -> None:
    d = load_drive(MIXED)
    start = 200.0
    place = Simulator(drive_preset(MIXED, start, kpi_delay_s=1.5), 0).world.place
    assert place is not None
    rows = fix_rows(d)
    rows = rows[d.time_s[rows] > start]
    for i in rows[:20]:
        assert place.speed_mps(float(d.time_s[i]) - start) == pytest.approx(d.speed_kmh[i] / 3.6, rel=1e-12)
    lon, lat = positions(d)
    for i in range(400, 420):
        assert place.position(float(d.time_s[i]) - start) == pytest.approx((lon[i], lat[i]), abs=1e-12)
    seen_modes = set()
    for t in np.linspace(0.0, 1000.0, 333):
        k, truth = place.kpis(float(t)), kpi_at(d, start + float(t), delay_s=1.5)
        assert k.valid and truth["valid"]
        assert k.mode == truth["network_mode"] and k.cell == truth["cell"]
        for ours, theirs in ((k.rsrp_dbm, "rsrp_dbm"), (k.rsrq_db, "rsrq_db"), (k.snr_db, "snr_db"), (k.cqi, "cqi")):
            assert ours == truth[theirs] or (math.isnan(ours) and math.isnan(float(truth[theirs])))
        assert k.age_s == pytest.approx(truth["age_s"], abs=1e-9)
        seen_modes.add(k.mode)
        # since the newest cell change reported by now (a reporting delay late)
        reported = [h.time_s for h in handovers(d) if h.time_s <= start + t - 1.5 + 1e-9]
        expected = start + t - reported[-1] if reported and reported[-1] >= start - 60.0 else math.inf
        assert place.seconds_since_handover(float(t)) == pytest.approx(expected, abs=1e-9)
    assert {"5G", "LTE", "HSPA+"} <= seen_modes
    # the serving mode without delay: the sample whose interval holds t
    i = 500
    assert place.mode_at(float(d.time_s[i]) - start - 0.01) == d.mode_of(i)


def test_a_window_sees_what_the_whole_drive_sees_at_the_same_drive_time() -> None:
    d = load_drive(LTE_5G)
    cmap = build_coverage([load_drive(p) for p in irish_files() if load_drive(p).day != d.day])
    whole, window = Place.from_drive(d, 0.0), Place.from_drive(d, 600.0)
    for t in np.linspace(0.0, 300.0, 97).tolist():
        ours, theirs = window.kpis(t), whole.kpis(600.0 + t)
        assert ours._replace(age_s=0.0) == theirs._replace(age_s=0.0)
        assert ours.age_s == pytest.approx(theirs.age_s, abs=1e-9)
        assert window.speed_mps(t) == pytest.approx(whole.speed_mps(600.0 + t), rel=1e-12)
        assert window.position(t) == pytest.approx(whole.position(600.0 + t), abs=1e-12)
        assert window.mode_at(t) == whole.mode_at(600.0 + t)
        assert min(window.seconds_since_handover(t), 60.0) == pytest.approx(
            min(whole.seconds_since_handover(600.0 + t), 60.0), abs=1e-9
        )
        ahead = zip(window.lookahead(t, cmap, 5.0), whole.lookahead(600.0 + t, cmap, 5.0), strict=True)
        assert all(a is b for a, b in ahead)


def test_place_before_the_first_report_is_unknown() -> None:
    place = Place.from_drive(load_drive(LTE_5G), 0.0, kpi_delay_s=1.0)
    k = place.kpis(0.5)
    assert not k.valid and math.isnan(k.rsrp_dbm) and k.mode == "" and k.cell == -1
    assert place.seconds_since_handover(0.5) == math.inf


def test_place_lookahead_is_the_coverage_maps_along_the_route() -> None:
    d = load_drive(LTE_5G)
    cmap = build_coverage([load_drive(p) for p in irish_files() if load_drive(p).day != d.day])
    place = Place.from_drive(d, 0.0)
    a = place.arrays
    hits = 0
    for i in range(10, len(a["time_s"]) - 10, 37):
        ours = place.lookahead(float(a["time_s"][i]), cmap, 5.0)
        truth = cmap.ahead(a["lon"], a["lat"], i, float(a["speed_kmh"][i]), 5.0)
        assert [c is None for c in ours] == [c is None for c in truth]
        assert all(x is y for x, y in zip(ours, truth, strict=True))
        hits += sum(c is not None for c in ours)
    assert hits > 100  # the other days' map knows this road


# --- presets ---------------------------------------------------------------------------------


def test_drive_presets_are_checked_naming_file_and_field(tmp_path: Path) -> None:
    preset_file = tmp_path / "drive.yaml"
    preset_file.write_text(
        "extends: default\nname: OnADrive\ndrive: {file: absent.csv}\n"
        "uplink: {model: drive, outage: null}\ndownlink: {model: drive}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_preset(str(preset_file))
    assert err.value.source == str(preset_file) and err.value.key == "drive.file"
    assert str(tmp_path / "absent.csv") in str(err.value)  # relative to the preset file
    (tmp_path / "absent.csv").write_text("time,throughput\n0,1\n")
    with pytest.raises(ConfigError, match=r"drive\.file: not a usable G-NetTrack log"):
        load_preset(str(preset_file))
    (tmp_path / "absent.csv").write_bytes(MIXED.read_bytes())
    assert load_preset(str(preset_file)).drive is not None
    with pytest.raises(ConfigError, match=r"uplink\.model: model drive needs a drive section"):
        load_preset("default", {"uplink": {"model": "drive", "outage": None}})
    with pytest.raises(ConfigError, match=r"uplink\.model: a preset with a drive section takes its uplink"):
        load_preset("default", {"drive": {"file": str(MIXED)}})
    with pytest.raises(ConfigError, match=r"drive\.start_s: 5000 s is past the end of the drive"):
        drive_preset(MIXED, 5000.0)
    with pytest.raises(ConfigError, match=r"uplink\.outage: outages apply to synthetic"):
        load_preset("default", {"drive": {"file": str(MIXED)}, "uplink": {"model": "drive"}})
    with pytest.raises(ConfigError) as err:
        load_preset("default", {"coverage_map": str(tmp_path / "no-map.json")})
    assert err.value.key == "coverage_map" and "cannot read the coverage map" in str(err.value)


# --- scenarios -------------------------------------------------------------------------------


def run(sim: Simulator, policy: str, frames: int) -> dict[str, np.ndarray]:
    return drive(sim, policy_for(sim, policy), frames).columns


@pytest.mark.parametrize("policy", ["offload-all", "random", "local-robust"])
def test_a_drive_scenario_replays_the_live_run_exactly(tmp_path: Path, policy: str) -> None:
    preset = drive_preset(MIXED, 610.0)
    sc = record_scenario(preset, 9, 40.0)
    assert sc.manifest["format_version"] == FORMAT_VERSION == 2
    path = sc.save(tmp_path / "d.scenario")
    loaded = Scenario.load(path)
    live = run(Simulator(preset, 9), policy, sc.frames)
    replay = run(Simulator(loaded.preset, loaded.seed, world=loaded.world()), policy, loaded.frames)
    assert live.keys() == replay.keys()
    for name in live:
        np.testing.assert_array_equal(replay[name], live[name], err_msg=name)
    assert len(live["frame"]) == 400


def test_a_random_start_is_drawn_per_seed_and_replays_exactly(tmp_path: Path) -> None:
    """``drive.start_s: null``: each seed starts somewhere else on the drive (links and place
    from the same drive time), within the room an episode needs, and a recording replays it."""
    preset = load_preset(
        "default",
        {
            "drive": {"file": str(MIXED), "start_s": None},
            "uplink": {"model": "drive", "outage": None},
            "downlink": {"model": "drive", "outage": None},
            "env": {"episode_s": 60.0},
        },
    )
    starts = []
    for seed in (1, 2, 3):
        sim = Simulator(preset, seed)
        start = sim.world.sources["drive_start_s"]
        assert isinstance(start, float) and 0.0 <= start <= 1351.0 - 60.0
        fixed = Simulator(drive_preset(MIXED, start), seed)
        assert sim.world.place is not None and fixed.world.place is not None
        assert sim.world.place.speed_mps(7.0) == fixed.world.place.speed_mps(7.0)
        assert sim.uplink.integral(30.0) == fixed.uplink.integral(30.0)
        starts.append(start)
    assert len(set(starts)) == 3
    sc = record_scenario(preset, 2, 20.0)
    assert sc.manifest["sources"][0]["start_s"] == starts[1]
    loaded = Scenario.load(sc.save(tmp_path / "r.scenario"))
    live = run(Simulator(preset, 2), "offload-all", sc.frames)
    replay = run(Simulator(loaded.preset, loaded.seed, world=loaded.world()), "offload-all", loaded.frames)
    for name in live:
        np.testing.assert_array_equal(replay[name], live[name], err_msg=name)


def test_synthetic_scenarios_stay_format_version_1(tmp_path: Path) -> None:
    sc = record_scenario(load_preset("default"), 3, 5.0)
    assert sc.manifest["format_version"] == 1
    assert "drive" not in sc.manifest["preset"] and "coverage_map" not in sc.manifest["preset"]
    loaded = Scenario.load(sc.save(tmp_path / "v1.scenario"))
    assert loaded.place() is None and loaded.world().place is None


def test_a_place_in_a_version_1_file_or_a_broken_place_is_refused(tmp_path: Path) -> None:
    sc = record_scenario(drive_preset(MIXED, 100.0), 1, 5.0)
    for change, message in (
        (lambda m, a: m.__setitem__("format_version", 1), "a place needs format version 2"),
        (lambda m, a: a.__setitem__("place_time_s", a["place_time_s"][::-1].copy()), "place_time_s|times must"),
        (lambda m, a: a.__setitem__("place_mode", a["place_mode"] + 50), "network modes must index"),
        (lambda m, a: m["place"].__setitem__("kpi_delay_s", -1), "kpi_delay_s"),
    ):
        m, a = json.loads(json.dumps(sc.manifest)), dict(sc.arrays)
        change(m, a)
        m["checksum"] = _checksum(m, a)
        path = Scenario(m, a).save(tmp_path / "bad.scenario")
        with pytest.raises(ScenarioError, match=message):
            Scenario.load(path)


def test_drive_windows_are_whole_periods_and_skip_a_short_remainder() -> None:
    assert drive_windows(145.3, 60.0, 100.0) == [(0.0, 60.0), (60.0, 60.0)]
    assert drive_windows(145.37, None, 100.0) == [(0.0, 145.3)]
    assert drive_windows(50.0, 60.0, 100.0) == [(0.0, 50.0)]  # shorter than a window: all of it
    assert drive_windows(0.05, None, 100.0) == []  # not one period


def truncated(src: Path, dest: Path, rows: int) -> Path:
    """The first ``rows`` rows of a real drive (a short drive of its own)."""
    lines = src.read_text().splitlines()[: rows + 1]
    dest.write_text("\n".join(lines) + "\n")
    return dest


@pytest.fixture(scope="module")
def drives_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("drives")
    for name in ("B_2019.12.16_12.27.05.csv", "B_2019.12.17_07.32.39.csv", "B_2020.01.16_09.56.56.csv"):
        truncated(IRISH / name, folder / name, 140)
    (folder / "README.txt").write_text("not a drive\n")
    return folder


def test_cli_records_a_drive_suite_split_by_day(drives_dir: Path, tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "suite"
    assert (
        main(
            ["scenario", "suite", "--drives", str(drives_dir), "--window-s", "60", "--seed", "5", "-o", str(out), "-q"]
        )
        == 0
    )
    assert "train: 4 scenarios" in capsys.readouterr().out
    train = json.loads((out / "train" / "suite.json").read_text())
    test = json.loads((out / "test" / "suite.json").read_text())
    assert train["train_days"] == ["2019-12-16", "2019-12-17"] and train["test_days"] == ["2020-01-16"]
    assert [e["split"] for e in train["scenarios"]] == ["train"] * 4
    # 140 rows are ~145 s: two whole 60 s windows per drive; seeds count every window in order
    assert [(e["drive"], e["start_s"], e["seed"]) for e in train["scenarios"]] == [
        ("B_2019.12.16_12.27.05", 0.0, 5),
        ("B_2019.12.16_12.27.05", 60.0, 6),
        ("B_2019.12.17_07.32.39", 0.0, 7),
        ("B_2019.12.17_07.32.39", 60.0, 8),
    ]
    assert [e["seed"] for e in test["scenarios"]] == [9, 10]
    for e in train["scenarios"] + test["scenarios"]:
        sc = Scenario.load(out / e["split"] / e["file"])
        assert sc.manifest["split"] == e["split"] and sc.manifest["drive"]["day"] == e["day"]
        assert sc.manifest["split_days"] == {"train": ["2019-12-16", "2019-12-17"], "test": ["2020-01-16"]}
        assert sc.frames == 600 and sc.duration_s == e["duration_s"] == 60.0 and sc.checksum == e["checksum"]
        assert sc.manifest["drive"]["sha256"] == load_drive(drives_dir / sc.manifest["drive"]["file"]).sha256
    # one split only, chosen days
    only = tmp_path / "only"
    assert (
        main(
            [
                "scenario",
                "suite",
                "--drives",
                str(drives_dir),
                "--split",
                "test",
                "--test-days",
                "2019-12-16",
                "-o",
                str(only),
                "-q",
            ]
        )
        == 0
    )
    assert not (only / "train").exists()
    assert [p.name for p in sorted((only / "test").glob("*.scenario"))] == ["B_2019.12.16_12.27.05.scenario"]
    assert main(["scenario", "suite", "--drives", str(drives_dir), "--test-days", "2030-01-01", "-o", str(only)]) == 2
    assert "test day 2030-01-01 has no drive" in capsys.readouterr().err


def test_a_recorded_window_replays_like_a_live_world_from_its_preset(drives_dir: Path, tmp_path: Path) -> None:
    files = record_drive_suite(drives_dir, tmp_path, window_s=60.0, split="test", seed=2)["test"]
    sc = Scenario.load(files[1])
    preset = drive_preset(drives_dir / "B_2020.01.16_09.56.56.csv", 60.0)
    for policy in ("offload-all", "random"):
        live = run(Simulator(preset, sc.seed), policy, sc.frames)
        replay = run(Simulator(sc.preset, sc.seed, world=sc.world()), policy, sc.frames)
        for name in live:
            np.testing.assert_array_equal(replay[name], live[name], err_msg=name)


# --- the observation and the env -----------------------------------------------------------------


def test_place_observation_is_unknown_in_a_synthetic_world() -> None:
    preset = load_preset("default")
    sim = Simulator(preset, 0)
    obs = make_observation("place", preset, sim.catalogue, 1.0)
    assert isinstance(obs, PlaceObservation)
    values = dict(zip((f.name for f in obs.features), obs.observe(next_view(sim)).tolist(), strict=True))
    assert values["place_known"] == 0.0 and values["kpi_rsrp_unknown"] == 1.0 and values["since_handover"] == 1.0
    assert values["ahead_5s_unknown"] == 1.0 and values["speed"] == 0.0
    vehicle = make_observation("vehicle", preset, sim.catalogue, 1.0)
    assert [f.name for f in obs.features[: len(vehicle.features)]] == [f.name for f in vehicle.features]


def test_place_observation_reads_the_delayed_kpis_and_the_map(tmp_path: Path) -> None:
    d = load_drive(LTE_5G)
    cmap = build_coverage([load_drive(p) for p in irish_files() if load_drive(p).day != d.day])
    map_path = cmap.save(tmp_path / "map.json")
    preset = load_preset(
        "default",
        {
            "drive": {"file": str(LTE_5G), "start_s": 100.0},
            "uplink": {"model": "drive", "outage": None},
            "coverage_map": str(map_path),
        },
    )
    sim = Simulator(preset, 0)
    obs = make_observation("place", preset, sim.catalogue, 1.0)
    names = [f.name for f in obs.features]
    policy = policy_for(sim, "local-robust")
    seen = 0
    for _ in range(300):
        view = next_view(sim)
        x = obs.observe(view)
        assert x.dtype == np.float32 and x.shape == (len(names),) and np.all((x >= 0) & (x <= 1))
        v = dict(zip(names, x.tolist(), strict=True))
        k = kpi_at(d, 100.0 + view.time_s, delay_s=1.0)
        assert v["kpi_rsrp"] == pytest.approx((float(k["rsrp_dbm"]) + 140.0) / 100.0, abs=1e-6)
        assert v["kpi_cqi"] == pytest.approx(float(k["cqi"]) / 15.0, abs=1e-6)
        assert v["mode_nr"] == (1.0 if k["network_mode"] == "5G" else 0.0)
        assert v["mode_lte"] == (1.0 if k["network_mode"] == "LTE" else 0.0)
        cells = sim.world.place.lookahead(view.time_s, cmap, 5.0)  # type: ignore[union-attr]
        for h in (1, 3, 5):
            known = [c for c in cells[:h] if c is not None]
            assert v[f"ahead_{h}s_unknown"] == pytest.approx(1.0 - len(known) / h, abs=1e-6)
            if not known:
                assert v[f"ahead_{h}s_uplink"] == v[f"ahead_{h}s_outage"] == v[f"ahead_{h}s_handover"] == 0.0
                continue
            seen += h == 5
            mean = sum(c.uplink_mean_mbps for c in known) / len(known)
            outage = sum(c.outage_share for c in known) / len(known)
            p_handover = 1.0 - math.exp(-sum(c.handovers_per_s for c in known))
            assert v[f"ahead_{h}s_uplink"] == pytest.approx(math.log1p(mean) / math.log1p(1000.0), abs=1e-6)
            assert v[f"ahead_{h}s_outage"] == pytest.approx(outage, abs=1e-6)
            assert v[f"ahead_{h}s_handover"] == pytest.approx(p_handover, abs=1e-6)
        sim.step(policy.act(view))
    assert seen > 100


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("observation", ["place", "risk_place"])
def test_env_runs_on_drive_scenarios_and_passes_both_checkers(
    drives_dir: Path, tmp_path: Path, observation: str
) -> None:
    record_drive_suite(drives_dir, tmp_path / "s", window_s=60.0, split="all")
    cmap = build_coverage([load_drive(p) for p in sorted(drives_dir.glob("*.csv"))[:2]], 100.0)
    map_path = cmap.save(tmp_path / "map.json")
    make = lambda: RomanusEnv(  # noqa: E731
        "default", scenario=tmp_path / "s" / "train", observation=observation, overrides={"coverage_map": str(map_path)}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(make(), skip_render_check=True)
        sb3_check_env(make(), warn=True)
    env = make()
    assert env.observation_space.shape == (len(env.stack.observation.features),)
    obs, _ = env.reset(seed=0)
    frames, truncated = 1, False
    while not truncated:
        obs, _, terminated, truncated, _ = env.step(0)
        assert env.observation_space.contains(obs) and not terminated
        frames += 1
    assert frames == 601  # the first scenario, start to end


def test_speed_deadlines_follow_the_drive_and_replay_exactly(tmp_path: Path) -> None:
    """The deadline model ``speed`` (per-frame deadlines from World.place.speed_mps) on a drive:
    each frame's deadline is the time to cover ``budget_m`` at the drive's speed at capture
    (GPS speeds interpolated between fixes), and the recording replays the live run."""
    d = load_drive(LTE_5G)
    start = 700.0
    preset = load_preset(
        "default",
        {
            "drive": {"file": str(LTE_5G), "start_s": start},
            "uplink": {"model": "drive", "outage": None},
            "deadlines": {"model": "speed", "budget_m": 3.0, "min_ms": 100.0, "max_ms": 300.0},
            "abandon_after_ms": 300.0,
        },
    )
    sc = record_scenario(preset, 5, 30.0)
    live = run(Simulator(preset, 5), "random", sc.frames)
    loaded = Scenario.load(sc.save(tmp_path / "speed.scenario"))
    replay = run(Simulator(loaded.preset, loaded.seed, world=loaded.world()), "random", loaded.frames)
    for name in live:
        np.testing.assert_array_equal(replay[name], live[name], err_msg=name)
    rows = fix_rows(d)
    capture = start + live["frame"] * preset.period_ms / 1000.0
    speed = np.interp(capture, d.time_s[rows], d.speed_kmh[rows]) / 3.6
    expected = np.clip(np.where(speed > 0, 3.0 / np.maximum(speed, 1e-12) * 1000.0, np.inf), 100.0, 300.0)
    np.testing.assert_allclose(live["deadline_ms"], expected, rtol=1e-9)
    assert live["deadline_ms"].min() < live["deadline_ms"].max()  # the speed changes over the window


def test_risk_place_is_risk_then_place(drives_dir: Path, tmp_path: Path) -> None:
    record_drive_suite(drives_dir, tmp_path, window_s=60.0, split="test")
    envs = {
        name: RomanusEnv("default", scenario=tmp_path / "test", observation=name)
        for name in ("vehicle", "risk", "place", "risk_place")
    }
    n_vehicle = envs["vehicle"].observation_space.shape[0]
    obs = {name: env.reset(seed=1)[0] for name, env in envs.items()}
    rng = np.random.default_rng(0)
    for _ in range(200):
        np.testing.assert_array_equal(obs["risk_place"], np.concatenate([obs["risk"], obs["place"][n_vehicle:]]))
        action = int(rng.integers(envs["vehicle"].action_space.n))
        obs = {name: env.step(action)[0] for name, env in envs.items()}


def test_cli_drive_suite_errors_name_the_file_and_line(tmp_path: Path, capsys: Any) -> None:
    good = truncated(MIXED, tmp_path / MIXED.name, 50)
    lines = (IRISH / "B_2020.01.16_09.56.56.csv").read_text().splitlines()[:30]
    fields = lines[19].split(",")
    fields[1] = "-800.1"  # longitude
    lines[19] = ",".join(fields)
    (tmp_path / "B_2020.01.16_09.56.56.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert main(["scenario", "suite", "--drives", str(tmp_path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "B_2020.01.16_09.56.56.csv: line 20: Longitude -800.1 outside the plausible range" in err
    assert not list(out.rglob("*.scenario"))  # nothing half-recorded
    (tmp_path / "B_2020.01.16_09.56.56.csv").unlink()
    good.unlink()
    assert main(["scenario", "suite", "--drives", str(tmp_path), "-o", str(out)]) == 2
    assert "no G-NetTrack drive logs in this folder" in capsys.readouterr().err
    assert main(["scenario", "suite", "--drives", str(tmp_path), "--seeds", "0:3", "-o", str(out)]) == 2
    assert "--drives takes neither --seeds" in capsys.readouterr().err
    assert main(["scenario", "suite", "-o", str(out)]) == 2
    assert "give --seeds A:B (synthetic worlds) or --drives DIR" in capsys.readouterr().err


def test_a_map_that_saw_a_test_drive_is_refused_for_test_scenarios(drives_dir: Path, tmp_path: Path) -> None:
    drives = [load_drive(p) for p in sorted(drives_dir.glob("*.csv"))]
    leaky = build_coverage(drives).save(tmp_path / "leaky.json")  # every day, the test day too
    clean = build_coverage([d for d in drives if d.day != "2020-01-16"]).save(tmp_path / "clean.json")
    with pytest.raises(ScenarioError, match=r"built from test-split drive B_2020\.01\.16_09\.56\.56"):
        record_drive_suite(drives_dir, tmp_path / "a", window_s=60.0, coverage_map=str(leaky))
    # the training split alone may use it (the map saw those drives: that is what it is for)
    assert record_drive_suite(drives_dir, tmp_path / "b", window_s=60.0, split="train", coverage_map=str(leaky))
    files = record_drive_suite(drives_dir, tmp_path / "c", window_s=60.0, split="test", coverage_map=str(clean))
    assert Scenario.load(files["test"][0]).preset.coverage_map == str(clean)
    # at replay: an env whose own preset names the leaky map refuses the test scenarios
    from romanus.env import RomanusEnv

    with pytest.raises(ScenarioError, match=r"built from test-split drive B_2020\.01\.16_09\.56\.56"):
        RomanusEnv("default", overrides={"coverage_map": str(leaky)}, scenario=files["test"])
    RomanusEnv("default", overrides={"coverage_map": str(clean)}, scenario=files["test"]).reset(seed=0)


@pytest.mark.slow
def test_every_irish_drive_records_and_replays(tmp_path: Path) -> None:
    """The issue's "done when": the suite records every irish-5g drive, split by day, and each
    replays its live run (the first 1,000 frames, under two policies)."""
    files = record_drive_suite(IRISH, tmp_path, split="all")
    assert (len(files["train"]), len(files["test"])) == (10, 3)
    assert {Scenario.load(p).manifest["drive"]["day"] for p in files["test"]} == {"2020-02-14"}
    for path in files["train"] + files["test"]:
        sc = Scenario.load(path)
        d = sc.manifest["drive"]
        assert d["sha256"] == load_drive(IRISH / d["file"]).sha256
        preset = drive_preset(IRISH / d["file"], d["start_s"])
        for policy in ("offload-all", "random"):
            live = run(Simulator(preset, sc.seed), policy, 1000)
            replay = run(Simulator(sc.preset, sc.seed, world=sc.world()), policy, 1000)
            for name in live:
                np.testing.assert_array_equal(replay[name], live[name], err_msg=f"{path.name} {policy} {name}")
