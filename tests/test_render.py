"""Watching an episode: render modes, frames that follow the simulation, videos."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import romanus
from romanus.env.core import RENDER_WINDOW_S, RomanusEnv

IDS = romanus.registered_ids


def _play(env: gym.Env, steps: int, seed: int = 0) -> None:
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        env.step(int(rng.choice(np.flatnonzero(env.unwrapped.action_masks()))))


def test_metadata_declares_both_modes_and_a_frame_rate() -> None:
    assert set(RomanusEnv.metadata["render_modes"]) == {"human", "rgb_array"}
    assert RomanusEnv.metadata["render_fps"] > 0
    env = gym.make("romanus/Default-v2", render_mode="rgb_array")
    assert env.render_mode == "rgb_array" and env.unwrapped.render_mode == "rgb_array"
    with pytest.raises(ValueError, match="render_mode 'rgb'"):
        RomanusEnv("default", render_mode="rgb")
    slow = RomanusEnv("default", overrides={"period_ms": 200.0, "deadline_ms": 200.0}, render_mode="rgb_array")
    assert slow.metadata["render_fps"] == 5.0 and RomanusEnv.metadata["render_fps"] == 10  # one frame per period


@pytest.mark.parametrize("env_id", IDS)
def test_every_id_renders_frames_that_follow_the_episode(env_id: str) -> None:
    env = gym.make(env_id, render_mode="rgb_array", episode_s=30.0)
    _play(env, 5)
    first = env.render()
    assert isinstance(first, np.ndarray) and first.dtype == np.uint8
    assert first.ndim == 3 and first.shape[2] == 3 and first.shape[0] >= 300 and first.shape[1] >= 400
    env.step(0)
    second = env.render()
    assert second.shape == first.shape
    assert (second != first).any(), "a step changed nothing on the frame"
    assert first.std() > 10  # not a blank canvas
    env.close()


def test_frames_draw_what_happened() -> None:
    """A frame after offloading differs from one after local-only frames, in the tier panel."""
    env = RomanusEnv("default", render_mode="rgb_array", episode_s=30.0)
    offload = int(np.flatnonzero(env.catalogue.offload_mask)[0])
    local = int(np.flatnonzero(~env.catalogue.offload_mask)[0])
    frames = []
    for mode in (local, offload):
        env.reset(seed=3)
        for _ in range(50):
            env.step(mode)
        frames.append(env.render())
    # same world, same clock: only the decisions and their outcomes differ
    assert (frames[0] != frames[1]).mean() > 0.001
    orange = np.array([255, 127, 14])  # tab:orange marks offloaded frames
    has_orange = [bool((np.abs(f.astype(int) - orange).sum(axis=2) < 30).sum() > 50) for f in frames]
    assert has_orange == [False, True]


def test_history_is_a_bounded_ring_buffer_cleared_on_reset() -> None:
    env = RomanusEnv("default", render_mode="rgb_array", episode_s=60.0)
    _play(env, 400)
    history = env._history
    assert history is not None
    times = [d.time_s for d in history.decisions]
    assert len(times) <= history.decisions.maxlen
    assert times[-1] - times[0] >= RENDER_WINDOW_S - 0.2  # covers the window
    assert len(times) < 400
    env.reset(seed=1)
    assert not history.decisions and not history.outcomes
    assert env.render().shape[2] == 3  # an empty history renders too


def test_no_history_without_a_render_mode_and_render_says_why() -> None:
    env = RomanusEnv("default")
    assert env._history is None
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None


def test_env_does_not_import_matplotlib_unless_it_renders() -> None:
    code = (
        "import sys, gymnasium as gym, romanus\n"
        "env = gym.make('romanus/Default-v2'); env.reset(seed=0); env.step(0)\n"
        "env = gym.make('romanus/Default-v2', render_mode='rgb_array'); env.reset(seed=0); env.step(0)\n"
        "assert 'matplotlib' not in sys.modules, 'imported before render()'\n"
        "env.render(); assert 'matplotlib' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("env_id", IDS)
def test_human_mode_renders_on_every_step_with_agg(env_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    env = gym.make(env_id, render_mode="human", episode_s=2.0)
    env.reset(seed=0)
    window = env.unwrapped._window
    assert window is not None and window._figure is not None  # reset rendered
    drawn = []
    monkeypatch.setattr(window, "show", lambda frame: drawn.append(frame))
    env.step(0)
    env.step(0)
    assert env.render() is None
    assert len(drawn) == 3 and drawn[0].dtype == np.uint8 and drawn[0].ndim == 3
    env.close()
    assert not plt.get_fignums()


def test_sb3_make_vec_env_renders_without_warnings() -> None:
    from stable_baselines3.common.env_util import make_vec_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        venv = make_vec_env("romanus/Default-v2", n_envs=2, seed=0, env_kwargs={"render_mode": "rgb_array"})
        venv.reset()
        venv.step(np.array([0, 1]))
        tiled = venv.render()
    assert tiled is not None and tiled.dtype == np.uint8 and tiled.ndim == 3


def test_pickled_env_keeps_its_render_mode_and_history() -> None:
    import pickle

    env = RomanusEnv("default", render_mode="rgb_array", episode_s=10.0)
    _play(env, 30)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.render_mode == "rgb_array"
    assert clone._history is not None and env._history is not None
    assert repr(list(clone._history.decisions)) == repr(list(env._history.decisions))  # nan-safe
    assert (clone.render() == env.render()).all()


def test_record_video_writes_an_episode(tmp_path: Path) -> None:
    pytest.importorskip("moviepy")
    from gymnasium.wrappers import RecordVideo

    env = RecordVideo(
        gym.make("romanus/Default-v2", render_mode="rgb_array", episode_s=2.0),
        str(tmp_path / "videos"),
        episode_trigger=lambda episode: episode == 0,
        disable_logger=True,
    )
    _play(env, 20)
    env.close()
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000


@pytest.mark.parametrize("mode", ["rgb_array", "human"])
def test_gymnasium_checker_passes_its_render_check(mode: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from gymnasium.utils.env_checker import check_env

    env = gym.make("romanus/Default-v2", render_mode=mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)  # its render check included
    env.close()
