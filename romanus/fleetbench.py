"""The fleet benchmark: vehicle-decisions per second and memory over long fleet runs.

``romanus fleet bench`` (or ``romanus bench --fleet``) measures, for fleets of N = 1, 8 and 64
vehicles, the simulator's vehicle-decisions per second under fixed policies (``local-robust``:
no uplink traffic; ``offload-all``: every vehicle on the cell's air every frame, the
scheduler's worst case) and the cost per decision, and the resident memory of a long N = 64
run at a small and at a large number of decisions (records dropped as they resolve: the
simulator's own memory; a KPI accumulator adds 25 bytes a frame by design).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from romanus.config import load_preset
from romanus.policies import make_policy
from romanus.sim.fleet import FleetSimulator
from romanus.sim.records import KpiAccumulator
from romanus.sim.simulator import build_catalogue
from romanus.vehicle.view import VehicleView

__all__ = ["FLEET_BENCH_SIZES", "format_fleet_bench", "run_fleet_bench"]

FLEET_BENCH_SIZES = (1, 8, 64)
_POLICIES = ("local-robust", "offload-all")


def _rss_mb() -> float:
    """Resident memory of this process (MB; Linux /proc, else nan)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


def _drive(
    fleet: FleetSimulator, policy: str, frames: int, tick: Callable[[int], None] | None = None, kpis: bool = True
) -> float:
    """Seconds to run ``frames`` fleet decisions (policy included, as in an env), streaming the
    records into KPI accumulators (``kpis``; they keep 25 bytes a frame) or dropping them."""
    pols = [make_policy(policy, fleet.catalogue, fleet.preset) for _ in range(len(fleet))]
    sinks = [KpiAccumulator() for _ in range(len(fleet))]
    members = fleet.vehicles
    t0 = time.perf_counter()
    for i in range(frames):
        ds = fleet.decisions()
        out = fleet.step([p.act(VehicleView(v, d)) for p, v, d in zip(pols, members, ds, strict=True)])
        if kpis:
            for s, r in zip(sinks, out, strict=True):
                s.add(r)
        if tick is not None and (i + 1) % 100 == 0:
            tick(100 * len(fleet))
    return time.perf_counter() - t0


def run_fleet_bench(
    *,
    sizes: Sequence[int] = FLEET_BENCH_SIZES,
    decisions: int = 40_000,
    memory_decisions: int = 1_000_000,
    preset: str = "default",
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """The figures (see the module docstring); ``decisions`` per (policy, size)."""
    p = load_preset(preset)
    cat = build_catalogue(p)
    speed: dict[str, dict[str, Any]] = {}
    for policy in _POLICIES:
        rows: dict[str, Any] = {}
        for n in sizes:
            frames = max(20, decisions // n)
            fleet = FleetSimulator(p, n, 1, catalogue=cat, keep_records=False)
            seconds = _drive(fleet, policy, frames, progress)
            rate = n * frames / seconds
            rows[str(n)] = {
                "decisions_per_s": rate,
                "us_per_decision": 1e6 / rate,
                "cell_changes_per_decision": fleet.cell.changes / (n * frames),
            }
        speed[policy] = rows
    n = max(sizes)
    frames = memory_decisions // n
    small = max(1, frames // 10)
    fleet = FleetSimulator(p, n, 2, catalogue=cat, keep_records=False)
    # the simulator's own memory: records dropped (an accumulator adds 25 bytes a frame by design)
    _drive(fleet, "offload-all", small, progress, kpis=False)
    rss_small = _rss_mb()
    _drive(fleet, "offload-all", frames - small, progress, kpis=False)
    rss_large = _rss_mb()
    return {
        "preset": preset,
        "speed": speed,
        "memory": {
            "vehicles": n,
            "decisions_small": small * n,
            "rss_mb_small": rss_small,
            "decisions_large": frames * n,
            "rss_mb_large": rss_large,
            "growth_mb": rss_large - rss_small,
        },
    }


def format_fleet_bench(report: dict[str, Any]) -> str:
    lines = [f"fleet benchmark ({report['preset']}): vehicle-decisions/s (us per decision, cell changes per decision)"]
    for policy, rows in report["speed"].items():
        cells = [
            f"N={n}: {r['decisions_per_s'] / 1000:.1f}k "
            f"({r['us_per_decision']:.0f} us, {r['cell_changes_per_decision']:.2f})"
            for n, r in rows.items()
        ]
        lines.append(f"  {policy:<14} " + "; ".join(cells))
    m = report["memory"]
    lines.append(
        f"  memory, N={m['vehicles']} offload-all: {m['rss_mb_small']:.0f} MB after "
        f"{m['decisions_small']:,} decisions, "
        f"{m['rss_mb_large']:.0f} MB after {m['decisions_large']:,} (growth {m['growth_mb']:+.1f} MB)"
    )
    return "\n".join(lines)
