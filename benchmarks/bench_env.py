"""Environment throughput, and what the environment costs PPO, measured side by side.

1. Env steps/s of every registered preset under uniformly random actions.
2. PPO (stable-baselines3, MlpPolicy, torch on one thread) env-steps/s on the default preset
   against PPO on a no-op env with identical spaces and episode length; after a warm-up run
   the pairs alternate their order so machine noise and drift hit both. The ratio
   real/no-op is the share of training throughput the simulator leaves (target >= 0.90).

    python benchmarks/bench_env.py [--steps 20000] [--ppo-steps 8192] [--repeats 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO

import romanus


class NoOpEnv(gym.Env[np.ndarray, np.int64]):
    """Same spaces and episode length as the real env, no simulation."""

    def __init__(self, like: gym.Env[np.ndarray, np.int64], frames: int) -> None:
        self.observation_space = like.observation_space
        self.action_space = like.action_space
        self._frames = frames
        self._t = 0
        self._obs = np.zeros(self.observation_space.shape, dtype=np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        return self._obs.copy(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._t += 1
        return self._obs.copy(), 0.0, False, self._t >= self._frames, {}


def env_steps_per_s(env_id: str, steps: int) -> float:
    env = gym.make(env_id)
    rng = np.random.default_rng(0)
    actions = rng.integers(env.action_space.n, size=steps).tolist()
    env.reset(seed=0)
    t = time.perf_counter()
    for a in actions:
        _, _, _, truncated, _ = env.step(a)
        if truncated:
            env.reset()
    return steps / (time.perf_counter() - t)


def ppo_steps_per_s(env: gym.Env[np.ndarray, np.int64], steps: int) -> float:
    model = PPO("MlpPolicy", env, n_steps=2048, batch_size=64, seed=0, device="cpu", verbose=0)
    t = time.perf_counter()
    model.learn(total_timesteps=steps)
    return model.num_timesteps / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000, help="env steps per preset")
    parser.add_argument("--ppo-steps", type=int, default=8192, help="PPO steps per run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    rates = {env_id: env_steps_per_s(env_id, args.steps) for env_id in romanus.registered_ids}
    real_rates, noop_rates = [], []
    real = gym.make("romanus/Default-v0")
    ppo_steps_per_s(NoOpEnv(real, 600), 2048)  # warm-up: torch and SB3 first-call costs
    for rep in range(args.repeats):
        real = gym.make("romanus/Default-v0")
        noop = NoOpEnv(real, real.unwrapped.frames_per_episode)
        if rep % 2 == 0:  # alternate the order so drift hits both
            real_rates.append(ppo_steps_per_s(real, args.ppo_steps))
            noop_rates.append(ppo_steps_per_s(noop, args.ppo_steps))
        else:
            noop_rates.append(ppo_steps_per_s(noop, args.ppo_steps))
            real_rates.append(ppo_steps_per_s(real, args.ppo_steps))
    ratios = [a / b for a, b in zip(real_rates, noop_rates, strict=True)]
    machine = (
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}"
    )
    print(f"romanus environment benchmark ({machine}, torch threads 1)")
    for env_id, r in rates.items():
        print(f"  {env_id:<28} {r:>9.0f} env steps/s (random actions)")
    print(f"  PPO on Default-v0:  {np.median(real_rates):>7.0f} steps/s")
    print(f"  PPO on no-op env:   {np.median(noop_rates):>7.0f} steps/s")
    print(f"  ratio real/no-op:   {np.median(ratios):>7.3f} (runs: {', '.join(f'{x:.3f}' for x in ratios)})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {"env_steps_per_s": rates, "ppo_real": real_rates, "ppo_noop": noop_rates, "ratios": ratios},
                fh,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
