"""Simulator throughput against a bare SimPy skeleton, measured side by side in one process.

The skeleton does per frame what the simulator does with SimPy: one frame process, one
accelerator request held for the frame's busy time, one release, one timeout to the frame's
end; a cycle spawns a frame every period. Its durations are the simulated frames' own, so the
ratio isolates the cost of everything else the simulator does (modes, links, server,
background tenants, scene, records).

A second reference, "SimPy queues", models the same queues directly as SimPy resources
(accelerator, uplink, k-worker server with every background tenant request as a SimPy job,
downlink): what a straightforward SimPy implementation of the model would cost.

    python benchmarks/bench_simulate.py [--frames 20000] [--repeats 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np
import simpy

from romanus.config import load_preset
from romanus.policies import policy_for
from romanus.sim.simulator import Simulator, build_catalogue


def skeleton(busy_s: list[float], tail_s: list[float], period_s: float) -> float:
    """Seconds to run the bare SimPy skeleton over the given per-frame durations."""
    env = simpy.Environment()
    acc = simpy.Resource(env, capacity=1)

    def frame(busy: float, tail: float):  # type: ignore[no-untyped-def]
        req = acc.request()
        yield req
        yield env.timeout(busy)
        acc.release(req)
        yield env.timeout(tail)

    def cycle():  # type: ignore[no-untyped-def]
        for busy, tail in zip(busy_s, tail_s, strict=True):
            env.process(frame(busy, tail))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--env", default="default")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)

    preset = load_preset(args.env)
    quiet = load_preset(args.env, overrides={"server": {"background": {"levels": {"idle": 0.0}, "initial": "idle"}}})
    cat = build_catalogue(preset)
    power_w = preset.vehicle.active_power_w
    rows: dict[str, dict[str, float]] = {}
    # The third case isolates the cost of simulating the background tenants' requests.
    cases = (("local-robust", preset), ("offload-all", preset), ("offload-all, no tenants", quiet))
    for label, world in cases:
        policy = label.split(",")[0]
        sim_rates, skel_rates, full_rates = [], [], []
        for rep in range(args.repeats):
            sim = Simulator(world, seed=rep, catalogue=cat)
            pol = policy_for(sim, policy)
            t = time.perf_counter()
            log = sim.run(pol, args.frames)
            sim_s = time.perf_counter() - t
            busy = (log["compute_mj"] / power_w / 1000.0).tolist()
            tail = np.maximum(0.0, log["latency_ms"] / 1000.0 - log["compute_mj"] / power_w / 1000.0).tolist()
            skel_s = skeleton(busy, tail, world.period_ms / 1000.0)
            assert sim.server is not None
            full_s = simpy_queues(
                busy,
                tail,
                log["offloaded"].tolist(),
                world.period_ms / 1000.0,
                world.server.workers,
                sim.server.background_jobs / log.duration_s,
                world.server.background.service_ms / 1000.0,
                rep,
            )
            sim_rates.append(args.frames / sim_s)
            skel_rates.append(args.frames / skel_s)
            full_rates.append(args.frames / full_s)
        ratios = [a / b for a, b in zip(sim_rates, skel_rates, strict=True)]
        rows[label] = {
            "simulator_frames_per_s": float(np.median(sim_rates)),
            "skeleton_frames_per_s": float(np.median(skel_rates)),
            "ratio_median": float(np.median(ratios)),
            "ratio_min": float(min(ratios)),
            "simpy_queues_frames_per_s": float(np.median(full_rates)),
            "speedup_vs_simpy_queues": float(np.median([a / b for a, b in zip(sim_rates, full_rates, strict=True)])),
        }
    machine = f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    print(f"romanus simulate vs bare SimPy skeleton ({args.frames} frames x {args.repeats}, {machine})")
    print(
        f"  {'policy':<24} {'simulator f/s':>14} {'skeleton f/s':>13} {'ratio':>7} {'worst':>7}"
        f" {'SimPy queues f/s':>17} {'speed-up':>9}"
    )
    for label, r in rows.items():
        print(
            f"  {label:<24} {r['simulator_frames_per_s']:>14.0f} {r['skeleton_frames_per_s']:>13.0f}"
            f" {r['ratio_median']:>7.2f} {r['ratio_min']:>7.2f}"
            f" {r['simpy_queues_frames_per_s']:>17.0f} {r['speedup_vs_simpy_queues']:>9.1f}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"frames": args.frames, "repeats": args.repeats, "results": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
