"""Module costs follow from the architecture; modes follow from the config."""

from __future__ import annotations

import pytest

from romanus.config import Preset, load_preset, parse_split_point
from romanus.pipeline import arch
from romanus.pipeline.modes import ModeCatalogue
from romanus.pipeline.profile import PipelineProfile
from romanus.sim.simulator import build_catalogue


def test_stem_shape_and_macs_match_resnet18_at_384x672() -> None:
    stem = arch.stem(384, 672)
    assert stem.output_shape == (64, 96, 168)
    assert stem.output_bytes(32) == 64 * 96 * 168 * 4  # 4.13 MB fp32
    assert stem.macs == pytest.approx(3.0e9, rel=0.05)


def test_tail_heads_and_merge_macs_match_design_figures() -> None:
    shape = arch.stem(384, 672).output_shape
    tail = 0
    for layer in (2, 3, 4):
        cost = arch.tail_layer(layer, shape)
        tail += cost.macs
        shape = cost.output_shape
    assert shape == (512, 12, 21)
    assert tail == pytest.approx(6.3e9, rel=0.05)
    assert arch.rpn(shape, 15).macs == pytest.approx(0.6e9, rel=0.05)
    assert arch.box_head(shape, 1000, 9, 1024, 7).macs == pytest.approx(26.8e9, rel=0.05)
    stem_shape = (64, 96, 168)
    assert 1.2e9 * 0.95 <= arch.merge(stem_shape, 2).macs <= arch.merge(stem_shape, 3).macs <= 1.8e9 * 1.05


def test_payload_bytes_are_exact() -> None:
    p = PipelineProfile(load_preset("default", {"pipeline": {"profile": None}}).pipeline, server_speedup=7.0)
    assert p.stem_shape == (64, 94, 168)  # 376x672 camera
    for channels, bits in [(3, 8), (6, 8), (9, 16), (12, 32)]:
        sp = parse_split_point(f"bottleneck-c{channels}-b{bits}")
        assert p.head(sp).output_bytes == channels * 47 * 84 * bits // 8
    assert p.head(parse_split_point("bottleneck-c6-b8")).output_bytes == 23688  # ~23.7 KB (DESIGN.md)
    # tail points at 384x672 (DESIGN.md section 3): 516 KB, 258 KB, 129 KB at int8
    q = PipelineProfile(
        load_preset("default", overrides={"pipeline": {"input_height": 384, "profile": None}}).pipeline, 7.0
    )
    assert [q.layer(k, 8).output_bytes for k in (2, 3, 4)] == [516096, 258048, 129024]


def test_calibration_points_are_reproduced(preset: Preset) -> None:
    p = PipelineProfile(preset.pipeline, server_speedup=7.0)
    backbone = p.stem().vehicle_ms + sum(p.layer(k).vehicle_ms for k in (2, 3, 4))
    assert backbone == pytest.approx(18.41, rel=1e-12)
    # one calibration point: a head (stem + encoder) is timed by its MACs at the detector's
    # rate, so it never runs faster than the bare stem it contains (issue 14)
    rate = 18.41 / (arch.stem(376, 672, 3).macs + sum(arch.tail_layer(k, s).macs for k, s in _layer_inputs()))
    for c in (3, 6, 12):
        head = p.head(parse_split_point(f"bottleneck-c{c}-b8"))
        macs = arch.stem(376, 672, 3).macs + arch.encoder((64, 94, 168), c).macs
        assert head.macs == macs and head.vehicle_ms == pytest.approx(macs * rate, rel=1e-9)
        assert head.vehicle_ms > p.stem().vehicle_ms
    assert p.head(parse_split_point("bottleneck-c6-b8")).vehicle_ms == pytest.approx(5.863, abs=5e-4)
    assert p.box_head.server_ms == pytest.approx(p.box_head.vehicle_ms / 7.0)
    assert all(m.provenance for m in p.table())


def _layer_inputs() -> list[tuple[int, tuple[int, int, int]]]:
    """(layer, its input shape) of ResNet-18 layer2..4 after the 376x672 stem."""
    shape, out = (64, 94, 168), []
    for k in (2, 3, 4):
        out.append((k, shape))
        shape = arch.tail_layer(k, shape).output_shape
    return out


def test_local_robust_sets_match_the_sanity_table(catalogue: ModeCatalogue) -> None:
    city = catalogue.modes[catalogue.local_robust(catalogue.scene_index("city"))]
    fog = catalogue.modes[catalogue.local_robust(catalogue.scene_index("fog"))]
    assert city.branches == ("camera_both",)
    assert set(fog.branches) == {"radar", "radar_lidar"}
    # DESIGN.md section 4: 44 ms / 306 mJ and 73 ms / 513 mJ at 7 W
    assert city.vehicle_ms == pytest.approx(44.0, rel=0.03)
    assert fog.vehicle_ms == pytest.approx(73.0, rel=0.03)
    assert city.vehicle_ms * 7.0 == pytest.approx(306.0, rel=0.03)


def test_every_scene_robust_set_fits_the_deadline_locally(preset: Preset, catalogue: ModeCatalogue) -> None:
    for s, scene in enumerate(catalogue.scenes):
        mode = catalogue.modes[catalogue.local_robust(s)]
        assert catalogue.robust_ok[mode.index, s], scene
        assert mode.vehicle_ms + preset.pipeline.fusion_ms < preset.deadline_ms, scene


def test_catalogue_rejects_mixed_placements_and_oversized_payloads(catalogue: ModeCatalogue) -> None:
    assert "full|camera=local,range=raw" not in catalogue.by_name
    why = dict(catalogue.rejected)["full|camera=local,range=raw"]
    assert "camera_lidar mixes placements (camera=local, range=raw)" in why
    assert "full|camera=raw,range=bottleneck-c6-b8" in catalogue.by_name
    # A radar BEV layer3 map (258,048 B) is larger than the raw radar image (252,672 B).
    assert "radar_fusion|range=layer3" not in catalogue.by_name
    assert "lidar_fusion|range=layer3" in catalogue.by_name
    assert ("radar_fusion|range=layer3", "a path sends more than its raw sensor data") in catalogue.rejected
    names = [m.name for m in catalogue.modes]
    assert len(names) == len(set(names))
    for m in catalogue.modes:
        assert (m.uplink_bytes > 0) == any(p != "local" for _, p in m.placement)


def test_offloading_at_the_bottleneck_moves_work_to_the_server(catalogue: ModeCatalogue) -> None:
    local = catalogue.by_name["camera_both|camera=local"]
    off = catalogue.by_name["camera_both|camera=bottleneck-c6-b8"]
    head_macs = arch.stem(376, 672, 3).macs + arch.encoder((64, 94, 168), 6).macs
    backbone_macs = arch.stem(376, 672, 3).macs + sum(arch.tail_layer(k, s).macs for k, s in _layer_inputs())
    assert off.prefix_ms == pytest.approx(2 * 18.41 * head_macs / backbone_macs, rel=1e-9) and off.local_ms == 0.0
    assert off.uplink_bytes == 2 * 23688
    assert off.server_ms > 0 and local.server_ms == 0
    raw = catalogue.by_name["radar_fusion|range=raw"]
    # radar + lidar data sent once each, although lidar feeds two branches
    assert raw.uplink_bytes == 126336 + 115000


def test_no_server_masks_every_offloading_mode(catalogue: ModeCatalogue) -> None:
    mask = catalogue.mask(server_available=False)
    assert mask.any()
    assert not (mask & catalogue.offload_mask).any()
    assert catalogue.mask(True).all()


def test_catalogue_is_generated_from_the_config() -> None:
    p = load_preset(
        "default", overrides={"pipeline": {"tiers": {"solo": ["radar"]}, "split_points": ["raw", "bottleneck-c6-b8"]}}
    )
    cat = build_catalogue(p)
    tiers = {m.tier for m in cat.modes}
    assert "solo" in tiers
    assert [m.name for m in cat.modes if m.tier == "solo"] == [
        "solo|range=local",
        "solo|range=raw",
        "solo|range=bottleneck-c6-b8",
    ]
