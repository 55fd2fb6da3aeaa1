"""Presets load typed and validated; bad input names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from romanus.config import ConfigError, Preset, list_presets, load_preset


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_default_preset_is_shipped_and_typed(preset: Preset) -> None:
    assert "default" in list_presets()
    assert preset.name == "Default"
    assert preset.period_ms == 100.0 and preset.deadline_ms == 100.0
    assert preset.vehicle.active_power_w == 7.0
    assert preset.radio.coefficients == (438.39, 51.97, 1288.04)
    assert preset.uplink.model == "rayleigh" and preset.uplink.sigma_mbps == 13.62
    assert isinstance(preset.pipeline.branches["camera_lidar"], tuple)
    assert load_preset("DEFAULT") == preset  # names are case-insensitive


def test_extends_overrides_and_keeps_the_rest(tmp_path: Path, preset: Preset) -> None:
    path = write(tmp_path, "extends: default\nname: Slow\nuplink: {model: constant, capacity_mbps: 5}\n")
    p = load_preset(path)
    assert p.name == "Slow"
    assert p.uplink.model == "constant" and p.uplink.capacity_mbps == 5.0
    assert p.pipeline == preset.pipeline and p.server == preset.server
    assert p.uplink.slot_ms == preset.uplink.slot_ms  # sections merge key by key


def test_user_keyed_tables_are_replaced_not_merged(tmp_path: Path) -> None:
    p = load_preset(write(tmp_path, "extends: default\nscene: {mix: {fog: 1, snow: 2}}\n"))
    assert p.scene.mix == {"fog": 1.0, "snow": 2.0}
    assert p.scene.mean_dwell_s == 30.0


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("extends: default\nuplink: {bandwith_mbps: 3}\n", "uplink.bandwith_mbps", "unknown key"),
        ("extends: default\nsurprise: 1\n", "surprise", "unknown key"),
        ("extends: default\nuplink: {model: constant, capacity_mbps: -3}\n", "uplink.capacity_mbps", "must be >= 0"),
        ("extends: default\nperiod_ms: fast\n", "period_ms", "expected a number"),
        ("extends: default\nserver: {workers: 2.5}\n", "server.workers", "expected an integer"),
        ("extends: default\nuplink: {model: wavy}\n", "uplink.model", "expected one of"),
        ("extends: default\npipeline: {branches: {radar: [sonar]}}\n", "pipeline.branches.radar", "'sonar'"),
        (
            "extends: default\npipeline: {robustness: {city: [1, 2]}}\n",
            "pipeline.robustness.city",
            "one score per branch",
        ),
        (
            "extends: default\npipeline: {split_points: [raw, layer9]}\n",
            "pipeline.split_points[1]",
            "unknown split point",
        ),
        ("extends: default\nabandon_after_ms: 50\n", "abandon_after_ms", "must be >= deadline_ms"),
        ("extends: default\nscene: {mix: {moon: 1}}\n", "scene.mix.moon", "no row in pipeline.robustness"),
        (
            "extends: default\nserver: {background: {initial: extreme}}\n",
            "server.background.initial",
            "not one of levels",
        ),
    ],
)
def test_bad_values_name_file_and_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_preset(path)
    assert err.value.key == key
    assert err.value.source == path  # the file that set the bad value
    assert words in str(err.value)
    assert path in str(err.value) and key in str(err.value)


def test_error_from_inherited_key_names_the_parent_file(tmp_path: Path) -> None:
    write(tmp_path, "extends: default\nrtt: {shape: -1}\n", "base.yaml")
    child = write(tmp_path, "extends: base.yaml\nname: child\n", "child.yaml")
    with pytest.raises(ConfigError) as err:
        load_preset(child)
    assert err.value.key == "rtt.shape"
    assert err.value.source.endswith("base.yaml")


def test_missing_stem_in_branch_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "extends: default\npipeline: {branches: {camera_lidar: [camera_left, thermal]}}\n")
    with pytest.raises(ConfigError, match=r"camera_lidar: needs stem 'thermal', which is not defined in stems"):
        load_preset(path)


def test_yaml_problems_name_the_line(tmp_path: Path) -> None:
    dup = write(tmp_path, "name: a\nperiod_ms: 100\nperiod_ms: 50\n", "dup.yaml")
    with pytest.raises(ConfigError, match=r"dup.yaml: line 3: duplicate key 'period_ms'"):
        load_preset(dup)
    broken = write(tmp_path, "name: a\npipeline: [1, 2\n", "broken.yaml")
    with pytest.raises(ConfigError, match=r"broken.yaml: line \d+"):
        load_preset(broken)


def test_unknown_preset_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match=r"shipped presets: .*default"):
        load_preset("atlantis")


def test_circular_extends_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    with pytest.raises(ConfigError, match="circular extends"):
        load_preset(str(tmp_path / "a.yaml"))


def test_overrides_are_validated_too() -> None:
    with pytest.raises(ConfigError) as err:
        load_preset("default", overrides={"server": {"workers": 0}})
    assert err.value.source == "overrides" and err.value.key == "server.workers"
