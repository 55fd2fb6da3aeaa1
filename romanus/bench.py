"""The performance benchmark suite: every figure the project promises, side by side in one run.

``romanus bench [--quick] [--json FILE]`` measures

- ``simulator``: simulator frames/s against a bare SimPy skeleton making the same SimPy calls per
  frame, and against the same model written directly with SimPy resources (every background
  tenant request a SimPy job), for ``local-robust``, ``offload-all`` and ``offload-all`` without
  background tenants;
- ``env``: Gymnasium env steps/s of every registered preset under random actions;
- ``ppo``: PPO env-steps/s on the default preset against a no-op env with identical spaces
  (torch on one thread; a warm-up run first, then pairs in alternating order);
- ``ppo_shielded``: the same on ``DefaultShielded`` (risk observation and shield: the risk
  estimate runs every step);
- ``compare``: the comparison suite (scenarios x every fixed policy) serially and on a pool;
- ``memory``: resident memory after a small and after a large number of simulated frames.

Machines here are noisy: read the ratios, which are measured side by side, more than the
absolute rates.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import simpy

__all__ = ["BENCH_KEYS", "run_bench"]

#: top-level keys of the JSON report and their sub-keys (documented in the README)
BENCH_KEYS: dict[str, tuple[str, ...]] = {
    "machine": ("cpu", "cores", "python", "torch", "romanus"),
    "simulator": ("local-robust", "offload-all", "offload-all-no-tenants"),
    "env_steps_per_s": (),
    "ppo": ("real_steps_per_s", "noop_steps_per_s", "ratio", "runs"),
    "ppo_shielded": ("real_steps_per_s", "noop_steps_per_s", "ratio", "runs"),
    "compare": ("scenarios", "policies", "serial_s", "parallel_s", "workers", "speedup", "identical"),
    "memory": ("frames_small", "rss_mb_small", "frames_large", "rss_mb_large", "growth_mb"),
}
SIMULATOR_KEYS = (
    "simulator_frames_per_s",
    "skeleton_frames_per_s",
    "ratio",
    "simpy_queues_frames_per_s",
    "speedup_vs_simpy_queues",
)


def skeleton(busy_s: list[float], tail_s: list[float], offloaded: list[bool], period_s: float) -> float:
    """Seconds to run the bare SimPy skeleton over the given per-frame durations: the same SimPy
    calls per frame as the simulator (a process, an accelerator request, hold and release, a
    timeout to the frame's end; for an offloaded frame also the server-arrival and
    end-of-service events and the event the frame waits on)."""
    env = simpy.Environment()
    acc = simpy.Resource(env, capacity=1)

    def frame(busy: float, tail: float, off: bool):  # type: ignore[no-untyped-def]
        req = acc.request()
        yield req
        done = None
        if off:
            done = env.event()
            arrive = env.timeout(0.3 * tail)
            finish = done

            def served(_: object) -> None:
                finish.succeed()

            def at_server(_: object) -> None:
                env.timeout(0.3 * tail).callbacks.append(served)

            arrive.callbacks.append(at_server)
        yield env.timeout(busy)
        acc.release(req)
        if done is not None:
            yield done
        yield env.timeout(0.4 * tail if off else tail)

    def cycle():  # type: ignore[no-untyped-def]
        for busy, tail, off in zip(busy_s, tail_s, offloaded, strict=True):
            env.process(frame(busy, tail, off))
            yield env.timeout(period_s)

    t = time.perf_counter()
    env.process(cycle())
    env.run()
    return time.perf_counter() - t


def simpy_queues(
    busy_s: list[float],
    tail_s: list[float],
    offloaded: list[bool],
    period_s: float,
    workers: int,
    tenant_rate_hz: float,
    tenant_service_s: float,
    seed: int,
) -> float:
    """Seconds to run the same queues as plain SimPy resources: accelerator, uplink, a k-worker
    server whose background tenants are SimPy processes too, downlink. This is what a direct
    SimPy implementation of the model costs (durations approximate the simulated frames')."""
    env = simpy.Environment()
    acc = simpy.Resource(env, capacity=1)
    uplink = simpy.Resource(env, capacity=1)
    server = simpy.Resource(env, capacity=workers)
    downlink = simpy.Resource(env, capacity=1)
    rng = np.random.default_rng(seed)

    def hold(res: simpy.Resource, seconds: float):  # type: ignore[no-untyped-def]
        with res.request() as req:
            yield req
            yield env.timeout(seconds)

    def frame(busy: float, tail: float, off: bool):  # type: ignore[no-untyped-def]
        yield from hold(acc, busy)
        if off:  # split the remaining time over the legs of the offload path
            yield from hold(uplink, 0.4 * tail)
            yield env.timeout(0.2 * tail)
            yield from hold(server, 0.2 * tail)
            yield from hold(downlink, 0.05 * tail)
            yield env.timeout(0.15 * tail)
        else:
            yield env.timeout(tail)

    def cycle():  # type: ignore[no-untyped-def]
        for busy, tail, off in zip(busy_s, tail_s, offloaded, strict=True):
            env.process(frame(busy, tail, off))
            yield env.timeout(period_s)

    def tenants(horizon: float):  # type: ignore[no-untyped-def]
        while env.now < horizon:
            yield env.timeout(float(rng.exponential(1.0 / tenant_rate_hz)))
            env.process(hold(server, tenant_service_s))

    t = time.perf_counter()
    env.process(cycle())
    if tenant_rate_hz > 0:
        env.process(tenants(len(busy_s) * period_s))
    env.run()
    return time.perf_counter() - t


class NoOpEnv(gym.Env[np.ndarray, np.int64]):
    """Same spaces and episode length as the real env, no simulation."""

    def __init__(self, like: gym.Env[np.ndarray, np.int64], frames: int) -> None:
        self.observation_space = like.observation_space
        self.action_space = like.action_space
        self._frames = frames
        self._t = 0
        shape = self.observation_space.shape
        assert shape is not None
        self._obs: np.ndarray = np.zeros(shape, dtype=np.float32)

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
    n_actions = int(getattr(env.action_space, "n", 0))
    actions = rng.integers(n_actions, size=steps).tolist()
    env.reset(seed=0)
    t = time.perf_counter()
    for a in actions:
        _, _, _, truncated, _ = env.step(a)
        if truncated:
            env.reset()
    return steps / (time.perf_counter() - t)


def ppo_steps_per_s(env: gym.Env[np.ndarray, np.int64], steps: int) -> float:
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", env, n_steps=2048, batch_size=64, seed=0, device="cpu", verbose=0)
    t = time.perf_counter()
    model.learn(total_timesteps=steps)
    return model.num_timesteps / (time.perf_counter() - t)


def bench_simulator(frames: int, repeats: int) -> dict[str, dict[str, float]]:
    from romanus.config import load_preset
    from romanus.policies import policy_for
    from romanus.sim.simulator import Simulator, build_catalogue
    from romanus.vehicle.view import drive

    preset = load_preset("default")
    quiet = load_preset("default", {"server": {"background": {"levels": {"idle": 0.0}, "initial": "idle"}}})
    cat = build_catalogue(preset)
    power_w = preset.vehicle.active_power_w
    rows: dict[str, dict[str, float]] = {}
    for label, world, policy in (
        ("local-robust", preset, "local-robust"),
        ("offload-all", preset, "offload-all"),
        ("offload-all-no-tenants", quiet, "offload-all"),
    ):
        sim_rates, skel_rates, full_rates = [], [], []
        for rep in range(repeats):
            sim = Simulator(world, seed=rep, catalogue=cat)
            pol = policy_for(sim, policy)
            t = time.perf_counter()
            log = drive(sim, pol, frames)
            sim_s = time.perf_counter() - t
            busy = (log["compute_mj"] / power_w / 1000.0).tolist()
            tail = np.maximum(0.0, log["latency_ms"] / 1000.0 - log["compute_mj"] / power_w / 1000.0).tolist()
            off = log["offloaded"].tolist()
            skel_s = skeleton(busy, tail, off, world.period_ms / 1000.0)
            assert sim.server is not None
            full_s = simpy_queues(
                busy,
                tail,
                off,
                world.period_ms / 1000.0,
                world.server.workers,
                sim.server.background_jobs / log.duration_s,
                world.server.background.service_ms / 1000.0,
                rep,
            )
            sim_rates.append(frames / sim_s)
            skel_rates.append(frames / skel_s)
            full_rates.append(frames / full_s)
        rows[label] = {
            "simulator_frames_per_s": float(np.median(sim_rates)),
            "skeleton_frames_per_s": float(np.median(skel_rates)),
            "ratio": float(np.median([a / b for a, b in zip(sim_rates, skel_rates, strict=True)])),
            "simpy_queues_frames_per_s": float(np.median(full_rates)),
            "speedup_vs_simpy_queues": float(np.median([a / b for a, b in zip(sim_rates, full_rates, strict=True)])),
        }
    return rows


def bench_ppo(steps: int, repeats: int, env_id: str = "romanus/Default-v2") -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    real_rates: list[float] = []
    noop_rates: list[float] = []
    real = gym.make(env_id)
    ppo_steps_per_s(NoOpEnv(real, 600), 2048)  # warm-up: torch and SB3 first-call costs
    for rep in range(repeats):
        real = gym.make(env_id)
        noop = NoOpEnv(real, int(getattr(real.unwrapped, "frames_per_episode", 600)))
        pair = [(real_rates, real), (noop_rates, noop)]
        for rates, env in pair if rep % 2 == 0 else pair[::-1]:  # alternate the order: drift hits both
            rates.append(ppo_steps_per_s(env, steps))
    ratios = [a / b for a, b in zip(real_rates, noop_rates, strict=True)]
    return {
        "real_steps_per_s": float(np.median(real_rates)),
        "noop_steps_per_s": float(np.median(noop_rates)),
        "ratio": float(np.median(ratios)),
        "runs": ratios,
    }


def bench_compare(scenarios: int, duration_s: float, workers: int) -> dict[str, Any]:
    from romanus.compare import compare
    from romanus.policies import POLICY_NAMES
    from romanus.scenario import record_suite

    with tempfile.TemporaryDirectory() as tmp:
        files = record_suite("default", range(scenarios), duration_s, Path(tmp) / "suite")
        times = {}
        for w in (1, workers):
            t = time.perf_counter()
            compare(files, list(POLICY_NAMES), Path(tmp) / f"out{w}", workers=w)
            times[w] = time.perf_counter() - t
        same = (Path(tmp) / "out1" / "results.csv").read_bytes() == (
            Path(tmp) / f"out{workers}" / "results.csv"
        ).read_bytes()
    return {
        "scenarios": scenarios,
        "policies": len(POLICY_NAMES),
        "serial_s": times[1],
        "parallel_s": times[workers],
        "workers": workers,
        "speedup": times[1] / times[workers],
        "identical": same,
    }


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def bench_memory(small: int, large: int) -> dict[str, float]:
    """Resident memory of one long run (records not kept) after ``small`` and ``large`` frames."""
    from romanus.config import load_preset
    from romanus.policies import policy_for
    from romanus.sim.simulator import Simulator
    from romanus.vehicle.view import next_view

    sim = Simulator(load_preset("default"), seed=0, keep_records=False)
    policy = policy_for(sim, "offload-all")
    for _ in range(small):
        sim.step(policy.act(next_view(sim)))
    rss_small = _rss_mb()
    for _ in range(large - small):
        sim.step(policy.act(next_view(sim)))
    rss_large = _rss_mb()
    return {
        "frames_small": small,
        "rss_mb_small": rss_small,
        "frames_large": large,
        "rss_mb_large": rss_large,
        "growth_mb": rss_large - rss_small,
    }


def run_bench(quick: bool = False, progress: Any = None) -> dict[str, Any]:
    """Every benchmark; ``quick`` uses small sizes (for tests and a first look)."""
    import torch

    from romanus import __version__, registered_ids

    def step(name: str) -> None:
        if progress is not None:
            progress(name)

    report: dict[str, Any] = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "romanus": __version__,
        },
        "quick": quick,
    }
    step("simulator")
    report["simulator"] = bench_simulator(2_000 if quick else 20_000, 1 if quick else 3)
    step("env")
    report["env_steps_per_s"] = {i: env_steps_per_s(i, 1_000 if quick else 20_000) for i in registered_ids}
    step("ppo")
    report["ppo"] = bench_ppo(2_048 if quick else 8_192, 1 if quick else 4)
    step("ppo_shielded")
    report["ppo_shielded"] = bench_ppo(2_048 if quick else 8_192, 1 if quick else 4, "romanus/DefaultShielded-v2")
    step("compare")
    report["compare"] = bench_compare(2 if quick else 20, 5.0 if quick else 60.0, 2)
    step("memory")
    report["memory"] = bench_memory(10_000, 30_000 if quick else 1_000_000)
    return report


def format_report(r: dict[str, Any]) -> str:
    m = r["machine"]
    mode = "quick" if r["quick"] else "full"
    lines = [f"romanus bench ({mode}): {m['cpu']}, {m['cores']} cores, Python {m['python']}, torch {m['torch']}"]
    lines.append("  simulator frames/s      simulator   skeleton  ratio   SimPy-queues  speed-up")
    for label, s in r["simulator"].items():
        rates = f"{s['simulator_frames_per_s']:>9.0f} {s['skeleton_frames_per_s']:>10.0f} {s['ratio']:>6.2f}"
        lines.append(
            f"    {label:<22} {rates} {s['simpy_queues_frames_per_s']:>13.0f} {s['speedup_vs_simpy_queues']:>8.1f}x"
        )
    lines.append("  env steps/s (random actions)")
    for env_id, rate in r["env_steps_per_s"].items():
        lines.append(f"    {env_id:<28} {rate:>9.0f}")
    for key, label in (("ppo", "Default"), ("ppo_shielded", "DefaultShielded")):
        p = r[key]
        rates = f"real env {p['real_steps_per_s']:.0f}, no-op env {p['noop_steps_per_s']:.0f}"
        lines.append(f"  PPO steps/s on {label}: {rates}")
        lines.append(f"    ratio {p['ratio']:.3f} (target >= 0.90)")
    c = r["compare"]
    lines.append(f"  compare {c['scenarios']} scenarios x {c['policies']} policies: serial {c['serial_s']:.1f} s,")
    par = f"{c['parallel_s']:.1f} s (speed-up {c['speedup']:.2f}x, identical: {c['identical']})"
    lines.append(f"    {c['workers']} workers {par}")
    mem = r["memory"]
    lines.append(f"  memory: {mem['rss_mb_small']:.0f} MB after {mem['frames_small']} frames,")
    lines.append(f"    {mem['rss_mb_large']:.0f} MB after {mem['frames_large']} (growth {mem['growth_mb']:+.1f} MB)")
    return "\n".join(lines)


def write_report(report: dict[str, Any], path: str | Path) -> None:
    from romanus.fileio import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(report, indent=1).encode())
