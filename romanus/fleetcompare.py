"""Fleet comparisons: policies x fleet sizes x seeds, per-vehicle and fleet KPIs with CIs.

Every vehicle of a fleet runs the same policy (a fixed policy name or a trained agent,
``ppo:RUN_DIR``; each vehicle its own instance, its randomness from its own seed), on live
worlds from each seed or on a recorded fleet scenario (:mod:`romanus.fleetscenario`), so every
policy faces the same inputs (common random numbers). A run's KPIs are each vehicle's
(:func:`romanus.sim.records.kpis`) and the fleet's (:func:`romanus.sim.fleet.fleet_kpis`:
fleet energy, worst vehicle's risk, Jain's fairness index of energy and of risk); a comparison
reports their means over seeds with 95 % Student-t intervals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from romanus.config import Preset
from romanus.fleetscenario import FleetScenario
from romanus.pipeline.modes import ModeCatalogue
from romanus.policies import Policy, make_policy
from romanus.rng import SeedPlan
from romanus.sim.fleet import FLEET_KPIS, CellConfig, FleetSimulator, fleet_kpis, vehicle_seed
from romanus.sim.records import KpiAccumulator
from romanus.sim.simulator import build_catalogue
from romanus.stats import mean_ci, paired_difference
from romanus.vehicle.view import VehicleView

__all__ = ["SUMMARY_KPIS", "compare_fleet", "format_fleet_table", "format_paired_table", "paired_against", "run_fleet"]

log = logging.getLogger(__name__)

#: the KPIs a comparison summarises (fleet KPIs, then per-vehicle means already in them)
SUMMARY_KPIS = FLEET_KPIS


def _policies(name: str, n: int, seed: int, preset: Preset, catalogue: ModeCatalogue) -> list[Policy]:
    out = []
    for i in range(n):
        pol = make_policy(name, catalogue, preset, SeedPlan(vehicle_seed(seed, i)).generator("policy"))
        if pol.sees_future:
            raise ValueError(
                f"policy {name}: the hindsight oracle needs the future, which in a fleet depends on the "
                "other vehicles' decisions; it cannot run in a fleet"
            )
        out.append(pol)
    return out


def run_fleet(
    preset: Preset,
    vehicles: int,
    policy: str,
    seed: int,
    frames: int,
    *,
    cell: CellConfig | None = None,
    scenario: FleetScenario | None = None,
    catalogue: ModeCatalogue | None = None,
) -> dict[str, Any]:
    """One fleet run: ``{"vehicles": [per-vehicle KPIs], "fleet": fleet KPIs}``. Records are
    not kept (KPIs stream), so memory stays flat however long the run."""
    cat = catalogue if catalogue is not None else build_catalogue(preset)
    worlds = None
    if scenario is not None:
        if len(scenario) != vehicles:
            raise ValueError(f"the fleet scenario holds {len(scenario)} vehicles, not {vehicles}")
        if frames > scenario.frames:
            raise ValueError(f"frames: the fleet scenario holds {scenario.frames} frames, not {frames}")
        worlds, seed = scenario.worlds(), scenario.seed
    fleet = FleetSimulator(preset, vehicles, seed, cell=cell, catalogue=cat, keep_records=False, worlds=worlds)
    pols = _policies(policy, vehicles, seed, preset, cat)
    for p in pols:
        p.reset()
    sinks = [KpiAccumulator() for _ in range(vehicles)]
    members = fleet.vehicles
    for _ in range(frames):
        decisions = fleet.decisions()
        modes = [p.act(VehicleView(v, d)) for p, v, d in zip(pols, members, decisions, strict=True)]
        for sink, resolved in zip(sinks, fleet.step(modes), strict=True):
            sink.add(resolved)
    for sink, resolved in zip(sinks, fleet.drain(), strict=True):
        sink.add(resolved)
    per_vehicle = []
    for v, sink in zip(members, sinks, strict=True):
        sink.add_state_mj(v.unattributed_state_mj)
        duration = max(v.env.now, v.capture_s(v.frames_started))
        per_vehicle.append(sink.result(v.energy.idle_mj(max(0.0, duration - v.busy_s)), duration))
    return {"vehicles": per_vehicle, "fleet": fleet_kpis(per_vehicle)}


def compare_fleet(
    preset: Preset,
    sizes: Sequence[int],
    policies: Sequence[str],
    seeds: Sequence[int],
    duration_s: float,
    *,
    cell: CellConfig | None = None,
    scenarios: dict[int, list[FleetScenario]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Every policy on every fleet size and seed (or on the recorded fleet scenarios given per
    size). Returns ``{"runs": [...], "summary": [...]}``: one run row per (size, policy, seed)
    with the fleet KPIs and each vehicle's, one summary row per (size, policy) with each fleet
    KPI's mean and 95 % half-width over the seeds."""
    if not sizes or not policies:
        raise ValueError("sizes and policies must not be empty")
    frames = max(1, round(duration_s * 1000.0 / preset.period_ms))
    cat = build_catalogue(preset)
    runs: list[dict[str, Any]] = []
    for n in sizes:
        recorded = (scenarios or {}).get(n)
        cases: list[tuple[int, FleetScenario | None]] = (
            [(sc.seed, sc) for sc in recorded] if recorded else [(s, None) for s in seeds]
        )
        for policy in policies:
            for seed, sc in cases:
                out = run_fleet(preset, n, policy, seed, frames, cell=cell, scenario=sc, catalogue=cat)
                runs.append(
                    {"vehicles": n, "policy": policy, "seed": seed, **out["fleet"], "per_vehicle": out["vehicles"]}
                )
                if progress is not None:
                    progress(1)
    summary = []
    for n in sizes:
        for policy in policies:
            rows = [r for r in runs if r["vehicles"] == n and r["policy"] == policy]
            entry: dict[str, Any] = {"vehicles": n, "policy": policy, "runs": len(rows)}
            for key in SUMMARY_KPIS:
                ci = mean_ci([r[key] for r in rows])
                entry[key] = ci.mean
                entry[f"{key}_ci95"] = ci.half_width
            summary.append(entry)
    return {"preset": preset.name, "duration_s": duration_s, "runs": runs, "summary": summary}


def format_fleet_table(result: dict[str, Any]) -> str:
    """The summary as a Markdown table (means ± 95 % half-widths)."""

    def pm(row: dict[str, Any], key: str, fmt: str) -> str:
        half = row[f"{key}_ci95"]
        return f"{row[key]:{fmt}}" + ("" if half != half else f" ± {half:{fmt}}")  # nan: one run

    lines = [
        "| N | policy | energy/frame (mJ) | risky rate | worst vehicle risky | Jain energy | Jain risk | offload |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["summary"]:
        lines.append(
            f"| {r['vehicles']} | {r['policy']} | {pm(r, 'fleet_energy_per_frame_mj', '.1f')} | "
            f"{pm(r, 'fleet_risky_rate', '.3f')} | {pm(r, 'worst_vehicle_risky_rate', '.3f')} | "
            f"{pm(r, 'jain_energy', '.3f')} | {pm(r, 'jain_risk', '.3f')} | {pm(r, 'fleet_offload_fraction', '.2f')} |"
        )
    return "\n".join(lines)


def paired_against(result: dict[str, Any], reference: str = "local-robust") -> list[dict[str, Any]]:
    """Per (fleet size, policy): the paired differences to ``reference`` on the same seeds
    (fleet energy per frame, in mJ and as a share of the reference's; fleet risky rate), with
    95 % Student-t half-widths. Empty when ``reference`` was not run."""
    runs = result["runs"]
    out = []
    for n in dict.fromkeys(r["vehicles"] for r in runs):
        ref = {r["seed"]: r for r in runs if r["vehicles"] == n and r["policy"] == reference}
        if not ref:
            continue
        for policy in dict.fromkeys(r["policy"] for r in runs if r["vehicles"] == n):
            if policy == reference:
                continue
            rows = [r for r in runs if r["vehicles"] == n and r["policy"] == policy and r["seed"] in ref]
            base = [ref[r["seed"]] for r in rows]
            energy = paired_difference(
                [r["fleet_energy_per_frame_mj"] for r in rows], [b["fleet_energy_per_frame_mj"] for b in base]
            )
            saving = paired_difference(
                [
                    1.0 - r["fleet_energy_per_frame_mj"] / b["fleet_energy_per_frame_mj"]
                    for r, b in zip(rows, base, strict=True)
                ],
                [0.0] * len(rows),
            )
            risky = paired_difference([r["fleet_risky_rate"] for r in rows], [b["fleet_risky_rate"] for b in base])
            out.append(
                {
                    "vehicles": n,
                    "policy": policy,
                    "reference": reference,
                    "pairs": len(rows),
                    "energy_diff_mj": energy.mean,
                    "energy_diff_mj_ci95": energy.half_width,
                    "energy_saving": saving.mean,
                    "energy_saving_ci95": saving.half_width,
                    "risky_diff": risky.mean,
                    "risky_diff_ci95": risky.half_width,
                }
            )
    return out


def format_paired_table(rows: list[dict[str, Any]]) -> str:
    """:func:`paired_against` as a Markdown table."""
    if not rows:
        return ""
    ref = rows[0]["reference"]
    lines = [
        f"| N | policy | energy vs {ref} (mJ) | energy saving | risky rate vs {ref} |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['vehicles']} | {r['policy']} | {r['energy_diff_mj']:+.1f} ± {r['energy_diff_mj_ci95']:.1f} | "
            f"{100 * r['energy_saving']:.1f} % ± {100 * r['energy_saving_ci95']:.1f} | "
            f"{r['risky_diff']:+.3f} ± {r['risky_diff_ci95']:.3f} |"
        )
    return "\n".join(lines)
