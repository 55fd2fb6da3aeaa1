"""An observation of your own, registered by name and used by the Gymnasium environment.

Run: ``python examples/custom_observation.py [--timesteps N]``.

An observation function owns its features (name, unit, source, staleness, scaling) and fills
them from the vehicle's view (:class:`romanus.vehicle.view.VehicleView`); every feature is a
float in [0, 1], so its space is ``Box(0, 1, (n,), float32)``. Registered in
:data:`romanus.vehicle.observations.OBSERVATIONS`, it is chosen like the shipped ones:
``RomanusEnv(observation="compact")``, ``gym.make(id, observation="compact")`` or
``env: {observation: compact}`` in a preset (in this process; put the class in a module you
import for subprocesses).
"""

from __future__ import annotations

import argparse
import math

import gymnasium as gym
import numpy as np

from romanus.env.core import RomanusEnv
from romanus.vehicle.observations import OBSERVATIONS, Feature, VehicleObservation
from romanus.vehicle.view import VehicleView

_LOG_CAP = math.log1p(1000.0)


class CompactObservation(VehicleObservation):
    """The scene, the uplink measured over two windows, the vehicle's own queues and whether
    the newest frame met its deadline: 8 + 5 features on the default preset."""

    name = "compact"

    def _features(self) -> tuple[Feature, ...]:
        d = self.preset.deadline_ms
        log_rate = "log1p(x)/log1p(1000)"
        scenes = [Feature(f"scene_{s}", "0/1", "scene classifier", "now", "one-hot") for s in self.catalogue.scenes]
        return (
            *scenes,
            Feature("uplink_mbps_500ms", "Mbit/s", "modem: mean uplink capacity, last 0.5 s", "past 0.5 s", log_rate),
            Feature("uplink_mbps_2000ms", "Mbit/s", "the same over the last 2 s", "past 2 s", log_rate),
            Feature("uplink_backlog", "ms", "own uplink queue", "current", f"x/{4 * d:g}"),
            Feature("accelerator_backlog", "ms", "own compute already queued", "current", f"x/{d:g}"),
            Feature("last_met", "0/1", "newest resolved frame met its deadline", "previous frame", "as is"),
        )

    def observe(self, view: VehicleView) -> np.ndarray:
        d = self.preset.deadline_ms
        out = np.zeros(len(self.features), dtype=np.float32)
        n = len(self.catalogue.scenes)
        out[view.scene] = 1.0
        out[n] = min(1.0, math.log1p(max(view.uplink_mbps(0.5), 0.0)) / _LOG_CAP)
        out[n + 1] = min(1.0, math.log1p(max(view.uplink_mbps(2.0), 0.0)) / _LOG_CAP)
        out[n + 2] = min(1.0, view.uplink_backlog_ms / (4.0 * d))
        out[n + 3] = min(1.0, view.accelerator_backlog_ms / d)
        last = view.last_record
        out[n + 4] = 1.0 if last is None or last.deadline_met else 0.0
        return out


OBSERVATIONS[CompactObservation.name] = CompactObservation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=5000, help="MaskablePPO steps, 0 to skip (default: 5000)")
    parser.add_argument("--episode-s", type=float, default=30.0, help="simulated seconds per episode (default: 30)")
    args = parser.parse_args()

    env = RomanusEnv("default", observation="compact", episode_s=args.episode_s)
    from gymnasium.utils.env_checker import check_env

    check_env(env, skip_render_check=True)
    print(f"observation space {env.observation_space}: {', '.join(f.name for f in env.stack.observation.features)}")
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    total, truncated = 0.0, False
    while not truncated:
        obs, reward, _, truncated, info = env.step(int(rng.choice(np.flatnonzero(env.action_masks()))))
        total += float(reward)
    print(f"a random episode: return {total:.1f}, risky {info['episode_risky_rate']:.2%}")

    if args.timesteps > 0:
        import torch
        from sb3_contrib import MaskablePPO

        torch.set_num_threads(1)  # small MLPs train several times faster on one thread
        model = MaskablePPO("MlpPolicy", env, n_steps=256, batch_size=64, seed=0, device="cpu")
        model.learn(args.timesteps)
        obs, _ = env.reset(seed=1)
        total, truncated = 0.0, False
        while not truncated:
            action, _ = model.predict(obs, deterministic=True, action_masks=env.action_masks())
            obs, reward, _, truncated, info = env.step(int(action))
            total += float(reward)
        print(f"after {args.timesteps} MaskablePPO steps: return {total:.1f}, risky {info['episode_risky_rate']:.2%}")
    assert isinstance(gym.make("romanus/Default-v2", observation="compact").observation_space, gym.spaces.Box)


if __name__ == "__main__":
    main()
