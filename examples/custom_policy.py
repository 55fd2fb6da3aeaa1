"""A policy of your own, simulated with ``romanus.vehicle.drive`` and compared with the
shipped baselines on recorded scenarios with ``romanus.compare``.

Run: ``python examples/custom_policy.py [--frames N] [--scenarios K] [--duration-s S]``.

A policy subclasses :class:`romanus.policies.Policy` and picks a mode index per frame from
what the vehicle knows (:class:`romanus.vehicle.view.VehicleView`: its scene, the uplink
capacity its modem measured, its own queues, the RTTs it measured, delayed server
telemetry); it cannot see the future. Registered in :data:`romanus.policies.POLICIES`, it
runs everywhere a policy name does (``compare``, ``make_policy``) in this process.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from romanus.compare import compare
from romanus.config import Preset, load_preset
from romanus.pipeline.modes import ModeCatalogue
from romanus.policies import POLICIES, Policy, PolicyEntry
from romanus.scenario import record_suite
from romanus.sim.records import kpis
from romanus.sim.simulator import Simulator
from romanus.vehicle.view import VehicleView, drive


class LinkThreshold(Policy):
    """Offload the scene's robust tier when the uplink measured over the last 0.5 s carried at
    least ``threshold_mbps`` and nothing is waiting to be sent; otherwise stay on the vehicle."""

    name = "link-threshold"

    def __init__(self, catalogue: ModeCatalogue, threshold_mbps: float = 20.0) -> None:
        scenes = range(len(catalogue.scenes))
        self._offload = [catalogue.offload_all(s) for s in scenes]
        self._local = [catalogue.local_robust(s) for s in scenes]
        self._threshold_mbps = threshold_mbps

    def act(self, view: VehicleView) -> int:
        offload = self._offload[view.scene]
        if view.mask[offload] and view.uplink_backlog_ms == 0.0 and view.uplink_mbps(0.5) >= self._threshold_mbps:
            return offload
        return self._local[view.scene]


def register(threshold_mbps: float = 20.0) -> str:
    """Add the policy to the registry (``name@X`` settings are for the shipped ones)."""

    def factory(preset: Preset, catalogue: ModeCatalogue, rng: np.random.Generator | None, x: float | None) -> Policy:
        return LinkThreshold(catalogue, threshold_mbps)

    POLICIES[LinkThreshold.name] = PolicyEntry(
        LinkThreshold.name, "offload when the measured uplink is fast and idle", factory, default=False
    )
    return LinkThreshold.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000, help="frames for the drive (default: 3000)")
    parser.add_argument("--scenarios", type=int, default=4, help="recorded scenarios to compare on (default: 4)")
    parser.add_argument("--duration-s", type=float, default=30.0, help="seconds per scenario (default: 30)")
    args = parser.parse_args()

    # 1. one drive: the policy object itself, on a fresh world
    preset = load_preset("default")
    sim = Simulator(preset, seed=0)
    k = kpis(drive(sim, LinkThreshold(sim.catalogue), args.frames))
    print(
        f"drive, {args.frames} frames: {k['energy_per_frame_mj']:.1f} mJ/frame, risky {k['risky_rate']:.2%}, "
        f"offloaded {k['offload_fraction']:.2%}"
    )

    # 2. a comparison: every policy replays the same recorded scenarios
    name = register()
    with tempfile.TemporaryDirectory() as tmp:
        files = record_suite("default", range(100, 100 + args.scenarios), args.duration_s, Path(tmp) / "suite")
        policies = ["local-robust", "offload-all", "scene-aware-greedy", name]
        result = compare(files, policies, None, workers=1)  # workers=1: the registry entry lives in this process
    print(f"\n{len(files)} recorded scenarios of {args.duration_s:g} s:")
    print(f"{'policy':<20} {'energy/frame mJ':>16} {'risky':>8} {'offloaded':>10}")
    for policy in policies:
        rows = [r for r in result.rows if r["policy"] == policy]
        energy = np.mean([r["energy_per_frame_mj"] for r in rows])
        risky = np.mean([r["risky_rate"] for r in rows])
        offloaded = np.mean([r["offload_fraction"] for r in rows])
        print(f"{policy:<20} {energy:>16.1f} {risky:>8.2%} {offloaded:>10.2%}")


if __name__ == "__main__":
    main()
