"""Hostile scenario files (issue 17): bounded reading before the checksum, and semantic
validation after it of crafted files whose checksum matches."""

from __future__ import annotations

import io
import json
import re
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from romanus.config import load_preset
from romanus.scenario import Scenario, ScenarioError, _checksum, record_scenario, scenario_summary


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "a.scenario"
    record_scenario(load_preset("default"), 3, 6.0).save(path)
    return path


def crafted(recorded: Path, out: Path, edit: Callable[[dict[str, Any], dict[str, np.ndarray]], None]) -> Path:
    """A copy of ``recorded`` edited, with its checksum recomputed: a valid checksum."""
    sc = Scenario.load(recorded)
    manifest = json.loads(json.dumps(sc.manifest))
    arrays = {k: v.copy() for k, v in sc.arrays.items()}
    edit(manifest, arrays)
    manifest["checksum"] = _checksum(manifest, arrays)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        for name, arr in arrays.items():
            npy = io.BytesIO()
            np.lib.format.write_array(npy, arr, allow_pickle=False)
            zf.writestr(f"{name}.npy", npy.getvalue())
    out.write_bytes(buf.getvalue())
    return out


def load_error(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}: "), text
    return text


# ----------------------------------------------------------------------------- bounded reading


def zeros_member(recorded: Path, path: Path, mib: int) -> None:
    """``recorded`` with its RTT series replaced by ``mib`` MiB of zeros (compresses ~1000x)."""
    with zipfile.ZipFile(recorded) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != "rtt_s.npy":
                dst.writestr(info, src.read(info))
        with dst.open("rtt_s.npy", "w", force_zip64=True) as fh:
            zeros = bytes(1 << 20)
            for _ in range(mib):
                fh.write(zeros)


def check_refused_small_and_fast(path: Path, declared: str) -> None:
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        text = load_error(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"rtt_s.npy declares {declared} bytes" in text
    assert peak < 20 * 2**20  # was 3.1 GB for 1 GiB
    assert time.perf_counter() - t0 < 2.0


def test_an_oversized_member_of_zeros_is_refused_before_reading(recorded: Path, tmp_path: Path) -> None:
    path = tmp_path / "bomb.scenario"
    zeros_member(recorded, path, 300)
    assert path.stat().st_size < 2 * 2**20
    check_refused_small_and_fast(path, f"{300 * 2**20:,}")


@pytest.mark.slow
def test_the_audits_1gib_member_of_zeros_is_refused_before_reading(recorded: Path, tmp_path: Path) -> None:
    path = tmp_path / "bomb.scenario"
    zeros_member(recorded, path, 1024)  # the audit's 1.1 MB file
    assert path.stat().st_size < 4 * 2**20
    check_refused_small_and_fast(path, "1,073,741,824")


def test_many_members_are_capped_in_total(recorded: Path, tmp_path: Path) -> None:
    path = tmp_path / "many.scenario"
    with zipfile.ZipFile(recorded) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        for i in range(2):  # two members of 200 MiB each: under the cap per series, not together
            with dst.open(f"extra{i}.npy", "w", force_zip64=True) as fh:
                for _ in range(200):
                    fh.write(bytes(1 << 20))
    assert "in all (at most" in load_error(path)


def test_a_member_whose_header_disagrees_with_its_size_is_refused_unread(recorded: Path, tmp_path: Path) -> None:
    path = crafted(recorded, tmp_path / "ok.scenario", lambda m, a: None)
    data = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            data[info.filename] = zf.read(info)
    npy = bytearray(data["rtt_s.npy"])
    header_end = npy.index(b"\n") + 1
    header = re.sub(r"'shape': \(\d+,\)", "'shape': (8000000,)", npy[:header_end].decode("latin-1"))
    assert "8000000" in header
    data["rtt_s.npy"] = header.encode("latin-1").ljust(header_end, b" ")[:header_end] + npy[header_end:]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, blob in data.items():
            zf.writestr(name, bytes(blob))
    assert "truncated" in load_error(path)


# ----------------------------------------------------------------------------- crafted, checksum valid


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda m, a: m.__setitem__("preset", "Default"), "manifest.json: preset must be a mapping, got str"),
        (lambda m, a: m.__setitem__("preset", [1, 2]), "preset must be a mapping"),
        (lambda m, a: a["scene_ids"].__setitem__(0, 999), "scene_ids.npy: scene id 999 is out of range"),
        (lambda m, a: a["scene_ids"].__setitem__(0, -1), "scene_ids.npy: scene id -1 is out of range"),
        (lambda m, a: a.__setitem__("rtt_s", a["rtt_s"][:10]), "rtt_s.npy: 10 values"),
        (lambda m, a: a["rtt_s"].__setitem__(3, np.nan), "rtt_s.npy: holds NaN or infinite values"),
        (lambda m, a: a["rtt_s"].__setitem__(3, np.inf), "rtt_s.npy: holds NaN or infinite values"),
        (lambda m, a: a["uplink_rates"].__setitem__(0, np.nan), "uplink_rates.npy: holds NaN"),
        (lambda m, a: a["uplink_durations"].__setitem__(0, -1.0), "durations must be > 0"),
        (lambda m, a: m.__setitem__("duration_s", 0), "manifest.json: duration_s must be in [0.1, 86400] s, got 0"),
        (lambda m, a: m.__setitem__("duration_s", 1e300), "duration_s must be in"),
        (lambda m, a: m.__setitem__("frames", 10**9), "frames 1000000000 does not match"),
        (lambda m, a: m.__setitem__("horizon_s", 1.0), "horizon_s 1.0 does not cover"),
        (lambda m, a: m.__setitem__("seed", -3), "seed must be a non-negative integer"),
        (lambda m, a: m["preset"]["vehicle"].__setitem__("active_power_w", 0), "its preset is not valid"),
        (lambda m, a: m.__setitem__("scenes", ["city"]), "scenes do not match"),
        (lambda m, a: a["load_levels"].__setitem__(0, 7), "load_levels.npy: level out of range"),
        (lambda m, a: a["bg_services"].__setitem__(0, 0.0), "services > 0"),
        (lambda m, a: a.__setitem__("uplink_chunks", a["uplink_chunks"] * 2), "inconsistent lengths"),
        (lambda m, a: a.__setitem__("scene_starts", a["scene_starts"] + 1.0), "must start at 0"),
        (lambda m, a: a.__setitem__("scene_ids", a["scene_ids"].astype(np.float64)), "unexpected dtype"),
        (lambda m, a: a.__setitem__("jitter", -a["jitter"]), "jitter.npy: service-time factors must be > 0"),
        (lambda m, a: a["bg_times"].__setitem__(-1, 1e6), "bg_times.npy: an arrival lies outside its window"),
        (lambda m, a: m.__setitem__("sources", "x"), "manifest.json: sources must be a list"),
        (lambda m, a: m.__setitem__("sources", [{"link": 1}]), "manifest.json: sources must be a list"),
    ],
)
def test_crafted_checksum_valid_scenarios_are_one_line_errors(
    recorded: Path, tmp_path: Path, edit: Callable[[dict[str, Any], dict[str, np.ndarray]], None], words: str
) -> None:
    assert words in load_error(crafted(recorded, tmp_path / "crafted.scenario", edit))


def test_an_unedited_copy_still_loads(recorded: Path, tmp_path: Path) -> None:
    sc = Scenario.load(crafted(recorded, tmp_path / "same.scenario", lambda m, a: None))
    assert sc.checksum == Scenario.load(recorded).checksum


def test_record_refuses_what_load_would_refuse() -> None:
    preset = load_preset("default")
    for bad in (float("inf"), float("nan"), 1e9):
        with pytest.raises(ValueError, match="duration_s"):
            record_scenario(preset, 0, bad)


# ----------------------------------------------------------------------------- info = replay


def test_summary_of_a_non_looping_trace_counts_the_silence_after_it(tmp_path: Path) -> None:
    trace = tmp_path / "short.cooked"
    trace.write_text("0 20\n2 20\n")  # 2 s at 20 Mbit/s, then nothing (no loop)
    preset = load_preset("default", {"uplink": {"model": "trace", "trace": str(trace), "loop": False, "outage": None}})
    path = tmp_path / "s.scenario"
    record_scenario(preset, 1, 60.0).save(path)
    sc = Scenario.load(path)
    info = scenario_summary(sc)
    assert info["uplink_mean_mbps"] == pytest.approx(20 * 2 / 60)  # was reported as 20 Mbit/s
    assert info["uplink_zero_fraction"] == pytest.approx(58 / 60)  # was 0 %
    world = sc.world()
    assert world.uplink.integral(sc.duration_s) == pytest.approx(info["uplink_mean_mbps"] * sc.duration_s)
    assert world.uplink.rate(30.0) == 0.0 and world.uplink.rate(1.0) == pytest.approx(20.0)
    assert sum(v for v in info["scene_share"].values()) == pytest.approx(1.0)


def test_summary_matches_replay_for_a_synthetic_world(recorded: Path) -> None:
    sc = Scenario.load(recorded)
    info = scenario_summary(sc)
    world = sc.world()
    assert info["uplink_mean_mbps"] * sc.duration_s == pytest.approx(world.uplink.integral(sc.duration_s))
    assert info["downlink_mean_mbps"] * sc.duration_s == pytest.approx(world.downlink.integral(sc.duration_s))
    shares = {}
    for t in np.arange(0.0, sc.duration_s, 0.01):
        name = sc.manifest["scenes"][world.scene.at(float(t))]
        shares[name] = shares.get(name, 0) + 0.01 / sc.duration_s
    for name, share in info["scene_share"].items():
        assert share == pytest.approx(shares[name], abs=0.01)
    assert 0 < info["background_requests"] <= len(sc.arrays["bg_times"])
