"""The paper study: reproduce the Romanus result in the open, with confidence intervals.

``romanus reproduce`` trains agents on the default world (by default posed with the risk
observation and the shield, ``romanus/DefaultShielded-v2``) over several seeds (a sweep:
resumable, one trial per seed), records held-out test scenarios, evaluates the agents, every
fixed baseline and the hindsight oracle on them, and repeats the evaluation on every other
preset and on suites recorded from real traces the agents never saw. It writes ``study.md``:
the paper's two metrics beside the paper's values, the gap to the oracle, the comparison with
``scene-aware-greedy``, results per scene type, generalisation, and the targets met or not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from romanus.compare import CompareResult, compare, display_name
from romanus.fileio import atomic_write_bytes
from romanus.policies import POLICY_NAMES
from romanus.stats import RatioCI, mean_ci, reduction_ci

__all__ = ["PAPER", "StudySpec", "run_study"]

#: the paper's headline numbers (Chen, Odema, Al Faruque, ICCAD 2022)
PAPER = {"energy_saving_vs_local_robust": 0.1499, "risky_reduction_vs_robust_agnostic": 0.7706}
OTHER_PRESETS = ("romanus/Highway5G-v2", "romanus/AdverseWeather-v2", "romanus/RuralLTE-v2")
#: scene-aware-greedy at several pessimism levels: the heuristic's energy-vs-risk frontier
FRONTIER = tuple(f"scene-aware-greedy@{p}" for p in (0.5, 0.7, 0.85, 0.9))
#: risk-budget-greedy at several budgets: the distribution-aware heuristic's frontier
RISK_FRONTIER = tuple(f"risk-budget-greedy@{b}" for b in (0.002, 0.01, 0.02, 0.05))


@dataclass(frozen=True)
class StudySpec:
    out: str = "study"
    env: str = "romanus/DefaultShielded-v2"  # the training env: a preset of the default world
    algo: str = "maskable_ppo"
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    timesteps: int | None = None  # default: the shipped hyper-parameters' budget
    test_seeds: tuple[int, ...] = tuple(range(2_000_000, 2_000_020))
    duration_s: float = 60.0
    traces: tuple[str, ...] = ()  # folders of real traces for generalisation suites
    other_presets: tuple[str, ...] = OTHER_PRESETS
    workers: int = 2
    baselines: tuple[str, ...] = field(default=POLICY_NAMES)


def _train(spec: StudySpec, progress: Callable[[int], None] | None) -> list[str]:
    from romanus.sweep import SweepConfig, SweepEval, run_sweep

    sweep = SweepConfig(
        name="paper",
        presets=(spec.env,),
        algos=(spec.algo,),
        seeds=spec.seeds,
        timesteps=spec.timesteps,
        eval=SweepEval(seeds="1000000:1000003", duration_s=spec.duration_s, baselines=()),
    )
    results = run_sweep(sweep, Path(spec.out) / "training", workers=spec.workers, progress=progress)
    failed = [r for r in results if r["status"] != "ok"]
    if failed:
        raise RuntimeError(f"{len(failed)} training trials failed: {failed[0]['error']}")
    return [f"{spec.algo}:{r['run_dir']}" for r in sorted(results, key=lambda r: r["seed"])]


def _suite(spec: StudySpec, name: str, env: str, traces: str | None = None) -> list[Path]:
    from romanus.scenario import load_suite, record_suite

    folder = Path(spec.out) / "suites" / name
    if not (folder / "suite.json").is_file():
        record_suite(env, spec.test_seeds, spec.duration_s, folder, uplink_traces=traces, workers=spec.workers)
    return load_suite(folder)


def _agent_ratios(result: CompareResult, agents: Sequence[str], reference: str, key: str) -> list[RatioCI]:
    ref = {o.row["scenario"]: o.row[key] for o in result.by_policy(reference)}
    out = []
    for a in agents:
        runs = result.by_policy(a)
        out.append(reduction_ci([o.row[key] for o in runs], [ref[o.row["scenario"]] for o in runs]))
    return out


def _pct(ci: Any) -> str:
    if math.isnan(ci.half_width):
        return f"{ci.mean * 100:.1f}"
    return f"{ci.mean * 100:.1f} ± {ci.half_width * 100:.1f}"


def _policy_means(result: CompareResult, policy: str) -> tuple[float, float]:
    runs = result.by_policy(policy)
    return float(np.mean([o.row["energy_per_frame_mj"] for o in runs])), float(
        np.mean([o.row["risky_rate"] for o in runs])
    )


def _per_scene(result: CompareResult, policies: Sequence[str], scenes: Sequence[str]) -> list[str]:
    lines = ["| policy | " + " | ".join(scenes) + " |", "|" + " --- |" * (len(scenes) + 1)]
    for p in policies:
        energy = np.zeros(len(scenes))
        risky = np.zeros(len(scenes))
        count = np.zeros(len(scenes))
        for o in result.by_policy(p):
            np.add.at(energy, o.scene, o.energy_mj)
            np.add.at(risky, o.scene, o.risky.astype(float))
            np.add.at(count, o.scene, 1)
        cells = [
            f"{energy[i] / count[i]:.0f} mJ / {100 * risky[i] / count[i]:.1f} %" if count[i] else "-"
            for i in range(len(scenes))
        ]
        lines.append(f"| `{display_name(p)}` | " + " | ".join(cells) + " |")
    return lines


HOLD_RISK_TOLERANCE = 0.005  # half a point of risky frames above local-robust still "holds"
GENERALISATION_COLUMNS = ("local-robust", "robust-agnostic", "scene-aware-greedy", "risk-budget-greedy", "oracle")


def _generalisation_row(name: str, result: CompareResult, agents: Sequence[str]) -> str:
    e_agents = [_policy_means(result, a) for a in agents]
    e_agent, r_agent = float(np.mean([e for e, _ in e_agents])), float(np.mean([r for _, r in e_agents]))
    cells = [name, f"{e_agent:.0f} / {100 * r_agent:.2f}"]
    means = {p: _policy_means(result, p) for p in GENERALISATION_COLUMNS if p in result.policies}
    cells += [f"{means[p][0]:.0f} / {100 * means[p][1]:.2f}" if p in means else "-" for p in GENERALISATION_COLUMNS]
    e_local, r_local = means["local-robust"]
    holds = e_agent < e_local and r_agent <= r_local + HOLD_RISK_TOLERANCE and r_agent < means["robust-agnostic"][1]
    cells.append("holds" if holds else "breaks")
    return "| " + " | ".join(cells) + " |"


def run_study(spec: StudySpec, progress: Callable[[str], None] | None = None) -> Path:
    """Run (or resume) the whole study; returns the path of ``study.md``."""

    def say(text: str) -> None:
        if progress is not None:
            progress(text)

    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    say(f"training {len(spec.seeds)} {spec.algo} agents on {spec.env}")
    agents = _train(spec, None)
    policies = [*spec.baselines, "local-cheapest-robust", *FRONTIER, *RISK_FRONTIER, *agents]
    say("evaluating on held-out default-preset scenarios")
    main_files = _suite(spec, "default", "default")
    main = compare(main_files, policies, out / "default", workers=spec.workers)
    suites: list[tuple[str, CompareResult]] = []
    for env_id in spec.other_presets:
        name = env_id.split("/")[-1].split("-v")[0]
        say(f"generalisation: {name}")
        from romanus.train.train import resolve_env

        files = _suite(spec, name, resolve_env(env_id)[1])
        suites.append((name, compare(files, policies, out / name, workers=spec.workers)))
    for folder in spec.traces:
        name = f"traces-{Path(folder).name}"
        say(f"generalisation: real traces in {folder}")
        files = _suite(spec, name, "default", traces=folder)
        suites.append((name, compare(files, policies, out / name, workers=spec.workers)))
    text = _report(spec, main, agents, suites, outage_onset_rate(main_files))
    atomic_write_bytes(out / "study.md", text.encode())
    return out / "study.md"


def outage_onset_rate(files: Sequence[str | Path]) -> float:
    """Share of the recorded scenarios' uplink periods that begin an outage: no capacity over
    the period, after a period with some. An offloaded frame whose period begins one cannot
    see it coming and misses; it is the floor of a causal offloading policy's risk."""
    from romanus.scenario import Scenario
    from romanus.vehicle.estimates import OUTAGE_MBPS

    onsets = before = 0
    for f in files:
        sc = Scenario.load(f)
        uplink = sc.world().uplink
        period = sc.preset.period_ms / 1000.0
        edges = np.array([uplink.integral(k * period) for k in range(sc.frames + 1)])
        live = np.diff(edges) / period > OUTAGE_MBPS
        onsets += int(np.sum(live[:-1] & ~live[1:]))
        before += int(np.sum(live[:-1]))
    return onsets / before if before else 0.0


def _report(
    spec: StudySpec,
    main: CompareResult,
    agents: Sequence[str],
    suites: list[tuple[str, CompareResult]],
    onset_rate: float = math.nan,
) -> str:
    saving = _agent_ratios(main, agents, "local-robust", "energy_per_frame_mj")
    risk = _agent_ratios(main, agents, "robust-agnostic", "risky_rate")
    saving_ci = mean_ci([r.estimate for r in saving])
    risk_ci = mean_ci([r.estimate for r in risk])
    e_oracle, r_oracle = _policy_means(main, "oracle")
    e_local, r_local = _policy_means(main, "local-robust")
    heuristics = [p for p in ("scene-aware-greedy", "risk-budget-greedy") if p in main.policies]
    per_agent = [_policy_means(main, a) for a in agents]
    e_agent = mean_ci([e for e, _ in per_agent])
    r_agent = mean_ci([r for _, r in per_agent])
    n = len(main.scenarios)
    lines = [
        "# The Romanus study, reproduced",
        "",
        f"{len(agents)} {spec.algo} agents (seeds {', '.join(map(str, spec.seeds))}) trained on `{spec.env}`; "
        f"every policy evaluated on the same {n} held-out scenarios ({spec.duration_s:g} s each). "
        "Agent figures: mean over seeds ± 95 % Student-t half-width.",
        "",
        "## The paper's two metrics",
        "",
        "| metric | romanus agents | paper |",
        "| --- | --- | --- |",
        f"| energy saving vs `local-robust` (%) | {_pct(saving_ci)} | "
        f"{PAPER['energy_saving_vs_local_robust'] * 100:.2f} |",
        f"| risky-frame reduction vs `robust-agnostic` (%) | {_pct(risk_ci)} | "
        f"{PAPER['risky_reduction_vs_robust_agnostic'] * 100:.2f} |",
        "",
        "Per seed: "
        + "; ".join(
            f"seed {s}: {sv.estimate * 100:.1f} % saving, {rv.estimate * 100:.1f} % risk reduction"
            for s, sv, rv in zip(spec.seeds, saving, risk, strict=True)
        ),
        "",
        "## Against the strongest baseline and the oracle",
        "",
        "| policy | energy/frame (mJ) | risky (%) |",
        "| --- | --- | --- |",
        f"| agents | {e_agent.mean:.1f} ± {e_agent.half_width:.1f} | {_pct(r_agent)} |",
        f"| `local-robust` | {e_local:.1f} | {100 * r_local:.2f} |",
        *(f"| `{h}` | {e:.1f} | {100 * r:.2f} |" for h in heuristics for e, r in [_policy_means(main, h)]),
        f"| `oracle` | {e_oracle:.1f} | {100 * r_oracle:.2f} |",
        "",
        *_frontier_lines(main, e_agent.mean, r_agent.mean, _margin(e_agent)),
        "",
        f"Gap to the oracle: the agents spend {100 * (e_agent.mean / e_oracle - 1):+.1f} % energy at "
        f"{100 * (r_agent.mean - r_oracle):+.2f} points of risky frames. The full comparison (all policies, "
        "CIs, figures) is in `default/summary.md`.",
        "",
        "## Per scene type (energy per frame / risky frames)",
        "",
        *_per_scene(main, ["local-robust", "robust-agnostic", *heuristics, "oracle", *agents], _scenes(main)),
        "",
        "## Generalisation (energy mJ / risky %, agents averaged over seeds)",
        "",
        "| suite | agents | " + " | ".join(GENERALISATION_COLUMNS) + " | verdict |",
        "|" + " --- |" * (len(GENERALISATION_COLUMNS) + 3),
        *(_generalisation_row(name, res, agents) for name, res in suites),
        "",
        "A suite *holds* when the agents spend less energy than `local-robust`, have at most half a point more "
        "risky frames than it, and fewer than `robust-agnostic`.",
        "",
        "## Targets",
        "",
        *_targets(saving_ci, risk_ci, e_agent, r_agent.mean, e_local, r_local, e_oracle, main, onset_rate),
        "",
    ]
    return "\n".join(lines)


def _scenes(result: CompareResult) -> list[str]:
    from romanus.scenario import Scenario

    return list(Scenario.load(result.paths[0]).manifest["scenes"])


def _frontier(result: CompareResult, family: str = "scene-aware-greedy") -> list[tuple[str, float, float]]:
    """(policy, energy, risky) of a heuristic at every setting compared (``family@...``)."""
    names = [family, *(p for p in result.policies if p.startswith(f"{family}@"))]
    return [(p, *_policy_means(result, p)) for p in names if p in result.policies]


def frontier_energy_at(points: Sequence[tuple[float, float]], risk: float) -> tuple[float, str]:
    """The least energy a heuristic reaches at no more than ``risk`` risky frames, using its
    points (energy, risky) and any mixture of two of them (alternating two settings, frame
    by frame in proportion, reaches every point on the segment between them); inf if every
    point is riskier. Returns (energy, how)."""
    best, how = math.inf, "every point is riskier"
    for i, (e1, r1) in enumerate(points):
        if r1 <= risk + 1e-12 and e1 < best:
            best, how = e1, f"point {i}"
        for j, (e2, r2) in enumerate(points):
            if r1 < risk < r2:  # mix i (safer) with j (riskier) up to the risk allowed
                w = (risk - r1) / (r2 - r1)
                e = (1 - w) * e1 + w * e2
                if e < best:
                    best, how = e, f"mix of points {i} and {j}"
    return best, how


def _ahead_of_frontier(
    result: CompareResult, e_agent: float, r_agent: float, margin: float = 0.0, family: str = "scene-aware-greedy"
) -> tuple[bool, str]:
    """Whether the agents spend less energy (by more than ``margin``, their CI half-width) than
    the heuristic's frontier (its settings and their mixtures) at no more risk than them."""
    points = _frontier(result, family)
    e, how = frontier_energy_at([(e, r) for _, e, r in points], r_agent)
    if math.isinf(e):
        p, e0, r0 = min(points, key=lambda x: x[2])
        safest = f"{p}: {e0:.0f} mJ / {100 * r0:.2f} %"
        return False, f"every {family} point is riskier than the agents; the safest is {safest}"
    names = [p for p, _, _ in points]
    how = " ".join(f"`{names[int(t)]}`" if t.isdigit() else t for t in how.split())
    why = f"at the agents' {100 * r_agent:.2f} % risky frames the frontier spends {e:.0f} mJ ({how})"
    why += f"; agents {e_agent:.0f} mJ"
    return e_agent + margin < e, why


def _margin(ci: Any) -> float:
    return 0.0 if math.isnan(ci.half_width) else float(ci.half_width)


def _frontier_lines(result: CompareResult, e_agent: float, r_agent: float, margin: float) -> list[str]:
    lines: list[str] = []
    for family, title in (
        ("scene-aware-greedy", "The pessimism heuristic's frontier (scene-aware-greedy at several pessimism levels)"),
        ("risk-budget-greedy", "The distribution-aware heuristic's frontier (risk-budget-greedy at several budgets)"),
    ):
        points = _frontier(result, family)
        if not points:
            continue
        lines += ["", f"{title}:", "", "| policy | energy/frame (mJ) | risky (%) |", "| --- | --- | --- |"]
        lines += [f"| `{p}` | {e:.1f} | {100 * r:.2f} |" for p, e, r in sorted(points, key=lambda x: x[2])]
        ahead, why = _ahead_of_frontier(result, e_agent, r_agent, margin, family)
        lines += ["", f"Agents ahead of this frontier by more than their CI: {'yes' if ahead else 'no'} ({why})."]
    return lines


def _targets(
    saving: Any,
    risk: Any,
    e_agent_ci: Any,
    r_agent: float,
    e_local: float,
    r_local: float,
    e_oracle: float,
    result: CompareResult,
    onset_rate: float = math.nan,
) -> list[str]:
    def mark(ok: bool) -> str:
        return "met" if ok else "not met"

    e_agent = e_agent_ci.mean
    ahead, why = _ahead_of_frontier(result, e_agent, r_agent, _margin(e_agent_ci))

    energy_ok = saving.mean >= 0.20 and r_agent <= r_local + 1e-9
    why_not = ""
    if not energy_ok and "local-cheapest-robust" in result.policies:
        e_lean, r_lean = _policy_means(result, "local-cheapest-robust")
        why_not = (
            f". Without offloading a policy saves at most {100 * (1 - e_lean / e_local):.1f} % "
            f"(`local-cheapest-robust`, {100 * r_lean:.2f} % risky); every further saving needs offloaded frames, "
            f"and {100 * onset_rate:.2f} % of these scenarios' uplink periods begin an outage that no causal "
            "policy sees coming and an offloaded frame does not survive, so saving more costs risky frames"
        )
    return [
        f"- energy >= 20 % below `local-robust` at no more risky frames: {mark(energy_ok)} "
        f"({saving.mean * 100:.1f} % at {r_agent * 100:.2f} % risky vs {r_local * 100:.2f} %{why_not})",
        f"- risky frames >= 85 % below `robust-agnostic`: {mark(risk.mean >= 0.85)} ({risk.mean * 100:.1f} %)",
        f"- energy within 5 % of the oracle at equal risk: {mark(e_agent <= 1.05 * e_oracle)} "
        f"({100 * (e_agent / e_oracle - 1):+.1f} %)",
        f"- ahead of `scene-aware-greedy` on the energy-vs-risk plane (its whole frontier): {mark(ahead)} ({why})",
    ]
