"""Hostile input (issue 17): presets, sweep files and hyper-parameters that are tiny but
expand to gigabytes, values the schema used to accept but the simulation cannot run, and
malformed files; each is a one-line ConfigError naming the file and the line or field."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from romanus.config import MAX_EXTENDS_DEPTH, ConfigError, load_preset, read_yaml


def write(tmp_path: Path, text: str | bytes, name: str = "p.yaml") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def alias_bomb(keys: int = 9, levels: int = 10, top: str = "") -> str:
    """The audit's 830-byte preset: each level a list of ``keys`` aliases of the one below
    (keys ** levels values once expanded, 3.5e9 for 9 x 10)."""
    lines = [f"l0: &l0 [{', '.join(['x'] * keys)}]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * keys)}]")
    return top + "\n".join(lines) + "\n"


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text


# ----------------------------------------------------------------------------- memory


def test_alias_bomb_preset_is_refused_quickly_and_small(tmp_path: Path) -> None:
    path = write(tmp_path, alias_bomb(top="name: Bomb\n"))
    assert len(Path(path).read_bytes()) < 1000
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as info:
            load_preset(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20  # was > 10 GB
    assert one_line(info.value).startswith(f"{path}: line ")
    assert "expands to more than" in str(info.value)


def test_alias_bomb_in_a_mapping_key_walk_is_refused(tmp_path: Path) -> None:
    # nested mappings are what the leaf-key walk of extends follows
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}"]
    for i in range(1, 10):
        lines.append(f"m{i}: &m{i} {{{', '.join(f'{k}: *m{i - 1}' for k in 'abcdefghi')}}}")
    path = write(tmp_path, "extends: default\n" + "\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="expands to more than"):
        load_preset(path)


def test_ordinary_aliases_still_work(tmp_path: Path) -> None:
    text = "extends: default\nx_mix: &mix {city: 1, fog: 1}\nscene: {mix: *mix}\n"
    with pytest.raises(ConfigError, match="x_mix: unknown key"):  # aliases resolve; the key is foreign
        load_preset(write(tmp_path, text))
    p = load_preset(write(tmp_path, "extends: default\nscene: &s {mix: {city: 1, fog: 1}}\n"))
    assert p.scene.mix == {"city": 1.0, "fog": 1.0}


def test_self_referencing_alias_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="refers to itself"):
        load_preset(write(tmp_path, "name: X\nloop: &a [1, *a]\n"))


def test_sweep_alias_bomb_is_refused(tmp_path: Path) -> None:
    from romanus.sweep import load_sweep

    bomb = alias_bomb(keys=9, levels=9)
    text = "name: s\npresets: [default]\nalgos: [ppo]\nseeds: '0:1'\nanchors:\n" + "".join(
        "  " + line + "\n" for line in bomb.splitlines()
    )
    text += "grid: {learning_rate: [*l9]}\n"
    path = write(tmp_path, text, "sweep.yml")
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert one_line(info.value).startswith(f"{path}: line ")


def test_oversized_config_file_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with open(path, "wb") as fh:
        fh.write(b"name: Big\n")
        fh.truncate(64 * 2**20)
    with pytest.raises(ConfigError, match="larger than"):
        load_preset(str(path))


# ----------------------------------------------------------------------------- malformed files


def test_non_utf8_preset_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: Caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_preset(path)
    assert one_line(info.value) == f"{path}: line 1: not UTF-8 text (byte 0xe9)"


def test_complex_key_is_an_error_not_a_type_error(tmp_path: Path) -> None:
    path = write(tmp_path, "name: X\n? [a, b]\n: 1\n")
    with pytest.raises(ConfigError) as info:
        load_preset(path)
    assert one_line(info.value).startswith(f"{path}: line 2: ")
    assert "plain value" in str(info.value)


def test_deep_extends_chain_is_an_error_not_a_recursion_error(tmp_path: Path) -> None:
    write(tmp_path, "extends: default\n", "p0.yaml")
    for i in range(1, 990):
        write(tmp_path, f"extends: p{i - 1}.yaml\n", f"p{i}.yaml")
    with pytest.raises(ConfigError) as info:
        load_preset(str(tmp_path / "p989.yaml"))
    assert one_line(info.value).startswith(f"{tmp_path / 'p989.yaml'}: extends: chain of more than")
    # a chain within the limit still loads
    assert load_preset(str(tmp_path / f"p{MAX_EXTENDS_DEPTH - 2}.yaml")).name == "Default"


def test_deeply_nested_yaml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        read_yaml(write(tmp_path, "a: " + "[" * 20000 + "]" * 20000 + "\n"))
    with pytest.raises(ConfigError, match="levels"):
        read_yaml(write(tmp_path, "a: " + "[" * 100 + "]" * 100 + "\n"))


# ----------------------------------------------------------------------------- physical bounds


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("vehicle: {active_power_w: 0}", "vehicle.active_power_w", "must be >= 0.01"),
        ("vehicle: {active_power_w: 1.0e+308}", "vehicle.active_power_w", "must be <= 1000"),
        ("server: {service_cv: 1.0e-300}", "server.service_cv", "must be 0 (deterministic) or in [0.001, 1)"),
        ("server: {background: {service_cv: 1.0e-300}}", "server.background.service_cv", "must be 0"),
        ("server: {telemetry_delay_ms: 1.0e+300}", "server.telemetry_delay_ms", "must be <= 60000"),
        ("server: {telemetry_period_ms: 1.0e-9}", "server.telemetry_period_ms", "must be >= 10"),
        (
            "pipeline: {sensors: {radar: {kind: image, channels: 1, compressed_bits_per_element: 1.0e+308}}}",
            "pipeline.sensors.radar.compressed_bits_per_element",
            "must be <= 1024",
        ),
        ("server: {workers: 1000000000}", "server.workers", "must be <= 256"),
        ("server: {background: {service_ms: 1.0e-6}}", "server.background.service_ms", "must be >= 0.1"),
        ("server: {workers: 256, background: {service_ms: 1}}", "server.background.service_ms", "requests/s"),
        ("scene: {mean_dwell_s: 1.0e-9}", "scene.mean_dwell_s", "must be >= 0.1"),
        ("server: {background: {mean_dwell_s: 1.0e-9}}", "server.background.mean_dwell_s", "must be >= 0.1"),
        ("uplink: {mean_dwell_s: 1.0e-12}", "uplink.mean_dwell_s", "must be >= 0.001"),
        ("uplink: {outage: {mean_good_s: 1.0e-12, mean_bad_s: 1}}", "uplink.outage.mean_good_s", ">= 0.001"),
        ("uplink: {slot_ms: 1.0e-6}", "uplink.slot_ms", "must be >= 1"),
        ("deadline_ms: 1.0e+300", "deadline_ms", "must be <= 10000"),
        ("env: {reward: {energy_scale_mj: 1.0e-320}}", "env.reward.energy_scale_mj", "must be >= 0.001"),
        ("uplink: {model: markov, states_mbps: [1, 1.0e+300]}", "uplink.states_mbps[1]", "must be <= 100000"),
        ("period_ms: 1.0e-7", "period_ms", "must be >= 1"),
        ("period_ms: 1\ndeadline_ms: 5000", "deadline_ms", "more than 1000 periods of 1 ms"),
        ("period_ms: 1\nestimate_window_ms: 60000", "estimate_window_ms", "more than 1000 periods"),
        (
            "period_ms: 1000\nserver: {workers: 200, background: {service_ms: 1}}",
            "server.background.service_ms",
            "requests/s",
        ),
        (
            "period_ms: 1000\nserver: {workers: 64, background: {service_ms: 20}}",
            "server.background.service_ms",
            "background requests per 1000 ms period",
        ),
    ],
)
def test_values_the_simulation_cannot_run_are_refused(tmp_path: Path, override: str, key: str, expected: str) -> None:
    path = write(tmp_path, f"extends: default\n{override}\n")
    with pytest.raises(ConfigError) as info:
        load_preset(path)
    text = one_line(info.value)
    assert text.startswith(f"{path}: {key}: "), text
    assert expected in text


def test_error_shows_the_accepted_range(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_preset(write(tmp_path, "extends: default\nvehicle: {active_power_w: 0}\n"))
    assert str(info.value).endswith("got 0.0 (accepted range [0.01, 1000])")


def test_bounds_still_accept_the_physical_range(tmp_path: Path) -> None:
    p = load_preset(
        write(
            tmp_path,
            "extends: default\nvehicle: {active_power_w: 250}\nserver: {service_cv: 0, workers: 64,"
            " telemetry_period_ms: 10, background: {service_cv: 0}}\ndeadline_ms: 10000\nabandon_after_ms: 10000\n",
        )
    )
    assert p.vehicle.active_power_w == 250 and p.server.workers == 64 and p.server.service_cv == 0.0


# ----------------------------------------------------------------------------- learner and sweeps


def test_n_envs_100000_is_refused(tmp_path: Path) -> None:
    from romanus.train.hyperparams import load_hyperparams

    path = write(tmp_path, "romanus/Default-v2: {n_envs: 100000}\n", "ppo.yml")
    with pytest.raises(ConfigError) as info:
        load_hyperparams("ppo", "romanus/Default-v2", path)
    assert one_line(info.value).startswith(f"{path}: romanus/Default-v2.n_envs: must be <= 64")
    assert (
        load_hyperparams("ppo", "romanus/Default-v2", write(tmp_path, "romanus/Default-v2: {n_envs: 8}\n")).n_envs == 8
    )


@pytest.mark.parametrize("lr", ["lin_inf", "lin_nan", "1.0e+300", "lin_1e9"])
def test_absurd_learning_rates_are_refused(tmp_path: Path, lr: str) -> None:
    from romanus.train.hyperparams import load_hyperparams

    path = write(tmp_path, f"romanus/Default-v2: {{learning_rate: {lr}}}\n", "ppo.yml")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_hyperparams("ppo", "romanus/Default-v2", path)


def test_run_config_missing_keys_name_the_file_and_key(tmp_path: Path) -> None:
    from romanus.train.hyperparams import read_run_config

    good = {
        "env_id": "romanus/Default-v2",
        "preset_ref": "default",
        "algo": "ppo",
        "seed": 0,
        "timesteps": 64,
        "hyperparams_file": "ppo.yml",
        "eval_freq": 32,
        "checkpoint_freq": 32,
        "eval_scenarios": {"files": ["a.scenario"], "checksums": ["x"]},
        "threads": None,
    }
    import yaml

    (tmp_path / "config.yml").write_text(yaml.safe_dump(good))
    assert read_run_config(tmp_path)["algo"] == "ppo"
    for key in ("algo", "eval_freq", "seed"):
        (tmp_path / "config.yml").write_text(yaml.safe_dump({k: v for k, v in good.items() if k != key}))
        with pytest.raises(ConfigError) as info:
            read_run_config(tmp_path)
        assert one_line(info.value) == f"{tmp_path / 'config.yml'}: {key}: required key is missing"
    (tmp_path / "config.yml").write_text(yaml.safe_dump({**good, "timesteps": 0}))
    with pytest.raises(ConfigError, match="timesteps: must be in"):
        read_run_config(tmp_path)
    (tmp_path / "config.yml").write_text(yaml.safe_dump({**good, "algo": "sarsa"}))
    with pytest.raises(ConfigError, match="algo: unknown algorithm"):
        read_run_config(tmp_path)
    with pytest.raises(ConfigError, match=r"no config\.yml"):
        read_run_config(tmp_path / "nowhere")


def sweep_text(extra: str = "", seeds: str = "'0:2'") -> str:
    return f"name: s\npresets: [default]\nalgos: [ppo]\nseeds: {seeds}\n{extra}"


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (sweep_text(seeds="'0:1000000000'"), "seeds", "at most 1000 seeds"),
        (sweep_text(seeds="'0:" + "9" * 5000 + "'"), "seeds", "expected A:B"),
        (
            sweep_text("grid: {" + ", ".join(f"k{i}: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]" for i in range(6)) + "}\n"),
            "grid",
            "more than 10,000 trials",
        ),
        (sweep_text("grid: {learning_rate: [" + "'" + "x" * 5000 + "'" + "]}\n"), "grid.learning_rate[0]", "too large"),
        (sweep_text("eval: {seeds: '0:100000'}\n"), "eval.seeds", "at most 1000 seeds"),
        (sweep_text("eval: {duration_s: 1.0e+300}\n"), "eval.duration_s", "must be <= 86400"),
        (sweep_text("timesteps: 100000000000000\n"), "timesteps", "must be <= 1000000000"),
    ],
)
def test_sweep_files_that_would_exhaust_memory_are_refused(tmp_path: Path, text: str, key: str, expected: str) -> None:
    from romanus.sweep import load_sweep

    path = write(tmp_path, text, "sweep.yml")
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert one_line(info.value).startswith(f"{path}: {key}: "), str(info.value)
    assert expected in str(info.value)


def test_sweep_trial_for_an_env_without_shipped_hyperparams_is_a_config_error() -> None:
    from romanus.sweep import _trial_hyperparams

    trial = {"algo": "ppo", "env_id": "romanus/Nowhere-v2", "overrides": {}, "trial": "t"}
    with pytest.raises(ConfigError, match="romanus/Nowhere-v2: no hyper-parameters"):
        _trial_hyperparams(trial)


@pytest.mark.parametrize("value", ["9" * 5000, "1" + "0" * 400, "0x" + "f" * 5000])
def test_integers_of_thousands_of_digits_name_file_and_line(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"extends: default\nperiod_ms: {value}\n")
    with pytest.raises(ConfigError) as info:
        load_preset(path)
    assert one_line(info.value) == f"{path}: line 2: an integer of more than 40 characters"


def test_an_integer_beyond_any_float_in_overrides_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="period_ms: expected a finite number"):
        load_preset("default", {"period_ms": 10**400})


def test_long_keys_deep_under_aliases_do_not_blow_up_the_key_walk(tmp_path: Path) -> None:
    # 45,000 values under 58 levels of 200-character keys: within the expansion cap, but a
    # walk recording every dotted key (as loading did) builds half a gigabyte of key strings.
    leaf = "{" + ", ".join(f"k{i}: 1" for i in range(500)) + "}"
    middle = "{" + ", ".join(f"m{i}: *leaf" for i in range(90)) + "}"
    text = f"name: X\nleaf: &leaf {leaf}\n"
    text += "deep: " + "".join(f"{{{chr(97 + i % 26) * 200}: " for i in range(58)) + middle + "}" * 58 + "\n"
    path = write(tmp_path, text)
    assert len(text) < 30_000
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as info:
            load_preset(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "unknown key" in one_line(info.value)
    assert peak < 150 * 2**20


def test_relative_trace_paths_stay_anchored_to_the_preset_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "up.cooked").write_text("0 5\n1 5\n")
    base = write(tmp_path, "extends: default\nuplink: {model: trace, trace: up.cooked}\n", "sub/base.yaml")
    assert load_preset(base).uplink.trace == str(tmp_path / "sub" / "up.cooked")
    child = write(tmp_path, "extends: sub/base.yaml\nname: Child\n", "child.yaml")
    assert load_preset(child).uplink.trace == str(tmp_path / "sub" / "up.cooked")
