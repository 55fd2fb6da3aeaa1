"""The torch modules and the profile: FLOPs against the architecture, the shipped file
against a fresh computation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from romanus.cli import main
from romanus.config import ConfigError, load_preset, parse_split_point
from romanus.pipeline import arch
from romanus.pipeline import torch_modules as tm
from romanus.pipeline.profile import PipelineProfile, resolve_profile_path
from romanus.pipeline.profiler import _count, module_specs, profile_pipeline
from romanus.sim.simulator import build_catalogue


def macs(module: torch.nn.Module, shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        x = torch.empty(shape)
        with FlopCounterMode(display=False) as counter:
            y = module(x)
    return counter.get_total_flops() // 2, tuple(y.shape)


def test_stem_output_and_design_mac_totals_at_384x672() -> None:
    with torch.device("meta"):
        stem, tail, box = (
            tm.Stem(),
            torch.nn.Sequential(tm.TailLayer(2), tm.TailLayer(3), tm.TailLayer(4)),
            tm.BoxHead(),
        )
    m_stem, out = macs(stem, (1, 3, 384, 672))
    assert out == (1, 64, 96, 168)
    m_tail, feat = macs(tail, out)
    assert feat == (1, 512, 12, 21)
    m_box, _ = macs(box, (1000, 512, 7, 7))
    assert m_stem == pytest.approx(3.0e9, rel=0.05)
    assert m_tail == pytest.approx(6.3e9, rel=0.05)
    assert m_box == pytest.approx(26.8e9, rel=0.05)


@pytest.mark.parametrize(("channels", "bits"), [(3, 8), (6, 8), (9, 16), (12, 32)])
def test_bottleneck_payload_bytes_are_exact(channels: int, bits: int) -> None:
    with torch.device("meta"):
        head = tm.BottleneckHead(channels, bits)
    _, out = macs(head, (1, 3, 376, 672))
    assert out == (1, channels, 47, 84)
    profile = PipelineProfile(dataclasses.replace(load_preset("default").pipeline, profile=None))
    assert (
        profile.head(parse_split_point(f"bottleneck-c{channels}-b{bits}")).output_bytes
        == channels * 47 * 84 * bits // 8
    )


def test_torch_modules_match_the_analytic_architecture_exactly() -> None:
    pipeline = dataclasses.replace(load_preset("default").pipeline, profile=None)
    analytic = PipelineProfile(pipeline)
    table = {m.name: m for m in analytic.table()}
    specs = module_specs(pipeline, analytic)
    assert {s.name for s in specs} == {n for n in table if not n.startswith("compress-")}
    for spec in specs:
        _, flops, _ = _count(spec)
        assert flops // 2 == table[spec.name].macs, spec.name


def test_shipped_profile_is_reproducible() -> None:
    shipped = json.loads(resolve_profile_path("builtin:px2").read_text())
    fresh = profile_pipeline(dataclasses.replace(load_preset("default").pipeline, profile=None), measure=False)
    assert shipped["architecture"] == fresh["architecture"]
    assert shipped["calibration"] == fresh["calibration"]
    assert set(shipped["modules"]) == set(fresh["modules"])
    for name, entry in fresh["modules"].items():
        got = {k: v for k, v in shipped["modules"][name].items() if k != "measured"}
        assert got == entry, name  # FLOPs, parameters, shapes, bytes and the PX2 latency, exactly
        assert shipped["modules"][name]["measured"]["threads_1"]["median_ms"] > 0


def test_the_default_preset_runs_on_the_shipped_profile() -> None:
    preset = load_preset("default")
    assert preset.pipeline.profile == "builtin:px2"
    with_file = build_catalogue(preset)
    derived = build_catalogue(dataclasses.replace(preset, pipeline=dataclasses.replace(preset.pipeline, profile=None)))
    assert [(m.prefix_ms, m.local_ms, m.server_ms) for m in with_file.modes] == [
        (m.prefix_ms, m.local_ms, m.server_ms) for m in derived.modes
    ]
    assert "builtin:px2" in with_file.profile.stem().provenance


def test_a_profile_for_another_architecture_is_refused() -> None:
    preset = load_preset("default", {"pipeline": {"input_height": 384}})
    with pytest.raises(
        ConfigError, match=r"builtin:px2: modules\.[a-z0-9-]+\.macs: \d+ MACs in the profile, \d+ in this"
    ):
        build_catalogue(preset)


def test_a_split_point_no_path_can_use_is_an_error() -> None:
    overrides = {"pipeline": {"split_points": ["raw", "bottleneck-c64-b32"], "default_split": "raw", "profile": None}}
    preset = load_preset("default", overrides)
    with pytest.raises(ConfigError, match=r"split_points\[1\]: bottleneck-c64-b32 sends more than the raw sensor data"):
        build_catalogue(preset)


def test_every_offloading_mode_sends_less_than_its_raw_data() -> None:
    cat = build_catalogue(load_preset("default"))
    raw_total = {
        m.name: sum(
            cat.profile.raw_bytes(cat.pipeline.stems[s].sensor) for b in m.branches for s in cat.pipeline.branches[b]
        )
        for m in cat.modes
    }
    for m in cat.modes:
        if m.offloaded:
            assert 0 < m.uplink_bytes < raw_total[m.name], m.name


def test_profile_cli_writes_a_usable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.json"
    assert main(["profile", "--no-measure", "--out", str(out), "-q"]) == 0
    assert "box_head-300" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["provenance"]["device"] == "cpu" and data["calibration"]["method"] == "px2"
    preset = load_preset("default", {"pipeline": {"profile": str(out)}, "server": {"profile": str(out)}})
    cat = build_catalogue(preset)
    stem = cat.profile.stem()
    assert stem.server_ms == stem.vehicle_ms  # the server profile replaces vehicle / speedup
    assert main(["profile", "--input", "384x672", "--no-measure", "--out", str(tmp_path / "q.json"), "-q"]) == 0
    assert json.loads((tmp_path / "q.json").read_text())["modules"]["stem"]["output_shape"] == [64, 96, 168]
    assert arch.stem(384, 672).macs == json.loads((tmp_path / "q.json").read_text())["modules"]["stem"]["macs"]
