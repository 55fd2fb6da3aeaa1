"""Policies: each picks an operating mode per frame through one interface.

Every policy, fixed or trained, has ``name``, ``reset(seed)`` and ``act(ctx) -> mode index``
and runs through the same simulator code on the same inputs; none lives inside the
simulator or the environment. The fixed policies:

- ``local-robust``: the scene's most robust tier, all on the vehicle (pure local execution);
- ``local-<tier>``: that tier, all on the vehicle, whatever the scene;
- ``local-cheapest-robust``: the least-compute tier robust enough for the scene, all on the
  vehicle: everything a policy can save without offloading;
- ``offload-all``: the scene's robust tier with every group at the preset's default split;
- ``robust-agnostic``: the mode with the least expected energy whose expected latency meets
  the deadline, over every mode, ignoring the scene (the paper's offloading baseline);
- ``neurosurgeon``: the scene's robust tier at the split with the least expected latency
  (Neurosurgeon's per-inference partitioning, latency objective);
- ``scene-aware-greedy``: among the modes robust enough for the scene, the least expected
  energy whose expected latency meets the deadline under pessimistic estimates (a safety
  margin on capacity and RTT); the strong heuristic a learned policy must beat;
  ``scene-aware-greedy@P`` sets the pessimism P (default 0.25): sweeping it traces the
  heuristic's energy-vs-risk frontier;
- ``risk-budget-greedy``: among the modes robust enough for the scene, the least expected
  energy whose estimated deadline-miss probability is within a per-frame risk budget (a
  chance constraint on the *tail* of uplink time + RTT + downlink time, estimated from the
  vehicle's measured history: :mod:`romanus.risk`); ``risk-budget-greedy@B`` sets the budget
  B (default 0.005): sweeping it traces the frontier of a distribution-aware heuristic;
- ``random``: uniform over the modes that can run;
- ``oracle``: knows the future (capacity, RTTs, server queue) and picks, per frame, the
  least-energy mode that is not risky by simulating every robust-enough candidate from the
  current state; if none can avoid risk, the one that resolves soonest. A lower bound to
  report, not a deployable policy (see :class:`Oracle`).

Expected latency and energy (all but the oracle) use only what the vehicle measures: its own
accelerator and uplink backlogs, the mean uplink and downlink capacity over recent windows,
the running mean of measured RTTs, and the newest (delayed) server telemetry.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from romanus.config import Preset
from romanus.pipeline.modes import LOCAL, ModeCatalogue
from romanus.risk import RiskAssessor, cheapest_within
from romanus.sim.simulator import DecisionContext, Simulator

__all__ = [
    "POLICY_NAMES",
    "Estimator",
    "LocalCheapestRobust",
    "LocalRobust",
    "LocalTier",
    "Neurosurgeon",
    "OffloadAll",
    "Oracle",
    "Policy",
    "RandomPolicy",
    "RiskBudgetGreedy",
    "RobustAgnostic",
    "SceneAwareGreedy",
    "make_policy",
    "policy_for",
    "policy_names",
]

RTT_PRIOR_MS = 30.0  # [assumed] the vehicle's RTT guess before its first measured response
CAPACITY_WINDOW_S = 0.5  # window of the capacity estimate


class Policy:
    """Base class: a policy is reset per episode or run and picks a mode per frame."""

    name = "policy"

    def reset(self, seed: int | None = None) -> None:
        """Start a new run; ``seed`` seeds a policy's own randomness, if it has any."""

    def act(self, ctx: DecisionContext) -> int:
        raise NotImplementedError


class LocalRobust(Policy):
    name = "local-robust"

    def __init__(self, catalogue: ModeCatalogue) -> None:
        self._by_scene = [catalogue.local_robust(s) for s in range(len(catalogue.scenes))]

    def act(self, ctx: DecisionContext) -> int:
        return self._by_scene[ctx.scene]


class LocalCheapestRobust(Policy):
    name = "local-cheapest-robust"

    def __init__(self, catalogue: ModeCatalogue) -> None:
        local = ~catalogue.offload_mask
        cost = np.array([m.vehicle_ms for m in catalogue.modes])
        self._by_scene = []
        for s in range(len(catalogue.scenes)):
            cand = np.flatnonzero(local & catalogue.robust_ok[:, s])
            self._by_scene.append(int(cand[np.argmin(cost[cand])]) if len(cand) else catalogue.local_robust(s))

    def act(self, ctx: DecisionContext) -> int:
        return self._by_scene[ctx.scene]


class LocalTier(Policy):
    def __init__(self, catalogue: ModeCatalogue, tier: str) -> None:
        self.name = f"local-{tier}"
        self._mode = catalogue.mode_for(tier, LOCAL).index

    def act(self, ctx: DecisionContext) -> int:
        return self._mode


class OffloadAll(Policy):
    """Offloads whenever offloading can run; on the vehicle (local-robust) when it cannot."""

    name = "offload-all"

    def __init__(self, catalogue: ModeCatalogue) -> None:
        self._by_scene = [catalogue.offload_all(s) for s in range(len(catalogue.scenes))]
        self._local = [catalogue.local_robust(s) for s in range(len(catalogue.scenes))]

    def act(self, ctx: DecisionContext) -> int:
        mode = self._by_scene[ctx.scene]
        return mode if ctx.mask[mode] else self._local[ctx.scene]


class RandomPolicy(Policy):
    name = "random"

    def __init__(self, seed: int | np.random.Generator | None = None) -> None:
        self.reset(seed)

    def reset(self, seed: int | np.random.Generator | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def act(self, ctx: DecisionContext) -> int:
        allowed = np.flatnonzero(ctx.mask)
        return int(allowed[self._rng.integers(len(allowed))])


class Estimator:
    """Expected latency (ms) and energy (mJ) of every mode from the vehicle's measurements.

    latency = max(local path, remote path) + fusion, where the local path is the accelerator
    backlog + the mode's vehicle work, and the remote path adds the uplink backlog, payload /
    capacity estimate, RTT estimate, reported server wait, server time and result / downlink
    estimate. Energy = active power x vehicle work + Huang radio energy at the estimated rates.
    ``pessimism`` scales capacity down by (1 - pessimism) and RTT and server wait up by
    (1 + pessimism).
    """

    def __init__(self, preset: Preset, catalogue: ModeCatalogue, pessimism: float = 0.0) -> None:
        modes = catalogue.modes
        self.prefix = np.array([m.prefix_ms for m in modes])
        self.vehicle = np.array([m.vehicle_ms for m in modes])
        self.up_mbit = np.array([m.uplink_bytes * 8e-6 for m in modes])
        self.down_mbit = np.array([m.downlink_bytes * 8e-6 for m in modes])
        self.server_ms = np.array([m.server_ms for m in modes])
        self.offloads = catalogue.offload_mask
        self.fusion_ms = preset.pipeline.fusion_ms
        self.power_w = preset.vehicle.active_power_w
        self.alpha_up, self.alpha_down, self.beta = preset.radio.coefficients
        self.pessimism = pessimism
        self.compute_mj = self.power_w * self.vehicle

    def __call__(self, ctx: DecisionContext) -> tuple[np.ndarray, np.ndarray]:
        k = 1.0 - self.pessimism
        up = ctx.uplink_mbps(CAPACITY_WINDOW_S) * k
        down = ctx.downlink_mbps(CAPACITY_WINDOW_S) * k
        rtt = ctx.rtt_estimate_ms
        rtt = (RTT_PRIOR_MS if rtt is None else rtt) * (1.0 + self.pessimism)
        report = ctx.server_report
        wait = 0.0 if report is None else report.wait_ms * (1.0 + self.pessimism)
        backlog = ctx.accelerator_backlog_ms
        with np.errstate(divide="ignore"):
            up_ms = (
                np.where(self.up_mbit > 0, self.up_mbit / up * 1000.0, 0.0)
                if up > 0
                else np.where(self.offloads, np.inf, 0.0)
            )
            down_ms = self.down_mbit / down * 1000.0 if down > 0 else np.where(self.offloads, np.inf, 0.0)
        local = backlog + self.vehicle
        remote = backlog + self.prefix + ctx.uplink_backlog_ms + up_ms + rtt + wait + self.server_ms + down_ms
        latency = np.where(self.offloads, np.maximum(local, remote), local) + self.fusion_ms
        radio = np.where(
            self.offloads,
            self.alpha_up * self.up_mbit
            + self.beta * up_ms / 1000.0
            + self.alpha_down * self.down_mbit
            + self.beta * down_ms / 1000.0,
            0.0,
        )
        return latency, self.compute_mj + radio


class RobustAgnostic(Policy):
    name = "robust-agnostic"

    def __init__(self, preset: Preset, catalogue: ModeCatalogue) -> None:
        self._estimate = Estimator(preset, catalogue)
        self._deadline = preset.deadline_ms

    def act(self, ctx: DecisionContext) -> int:
        latency, energy = self._estimate(ctx)
        return cheapest_within(latency, energy, ctx.mask, self._deadline)


class Neurosurgeon(Policy):
    name = "neurosurgeon"

    def __init__(self, preset: Preset, catalogue: ModeCatalogue) -> None:
        self._estimate = Estimator(preset, catalogue)
        tiers = [catalogue.robust_tier(s) for s in range(len(catalogue.scenes))]
        tier_of = np.array([m.tier for m in catalogue.modes])
        self._allowed = [tier_of == t for t in tiers]

    def act(self, ctx: DecisionContext) -> int:
        latency, energy = self._estimate(ctx)
        cand = np.flatnonzero(self._allowed[ctx.scene] & ctx.mask)
        return int(cand[np.lexsort((energy[cand], latency[cand]))[0]])


class SceneAwareGreedy(Policy):
    name = "scene-aware-greedy"

    def __init__(self, preset: Preset, catalogue: ModeCatalogue, pessimism: float = 0.25) -> None:
        self._estimate = Estimator(preset, catalogue, pessimism)
        self._deadline = preset.deadline_ms
        self._robust = [catalogue.robust_ok[:, s] for s in range(len(catalogue.scenes))]

    def act(self, ctx: DecisionContext) -> int:
        latency, energy = self._estimate(ctx)
        return cheapest_within(latency, energy, self._robust[ctx.scene] & ctx.mask, self._deadline)


class RiskBudgetGreedy(Policy):
    name = "risk-budget-greedy"
    default_budget = 0.005

    def __init__(self, preset: Preset, catalogue: ModeCatalogue, budget: float = default_budget) -> None:
        self._preset, self._catalogue, self.budget = preset, catalogue, budget
        self._assess = RiskAssessor(preset, catalogue)

    def reset(self, seed: int | None = None) -> None:
        self._assess = RiskAssessor(self._preset, self._catalogue)

    def act(self, ctx: DecisionContext) -> int:
        p, energy = self._assess(ctx)
        return cheapest_within(p, energy, ctx.mask, self.budget)


class Oracle(Policy):
    """The hindsight oracle.

    What it knows: the world's future (capacity over time on both links, every frame's RTT
    and service-time draw, every background request at the server), which the simulator can
    evaluate because the world is deterministic (recorded, or generated from its seed).
    What it does: for the frame captured now it simulates every mode that is robust enough
    for the scene from the exact current state (:meth:`Simulator.predict`) and takes the
    least-energy one that meets the deadline; if none does, the one that resolves soonest.
    What it approximates: it is greedy, frame by frame; a frame's choice can still affect
    later frames through the shared server queue (it delays background requests that later
    frames queue behind), which it ignores, so it is a near-lower bound on energy at zero
    avoidable risk, not a proven optimum. With an abandon time longer than the period, frames
    still in flight are only partly accounted (see ``predict``).
    """

    name = "oracle"

    def __init__(self, catalogue: ModeCatalogue) -> None:
        self._robust = [catalogue.robust_ok[:, s] for s in range(len(catalogue.scenes))]
        energy = np.array([m.vehicle_ms for m in catalogue.modes])
        self._order = np.argsort(energy, kind="stable")  # cheap compute first: a good pruning order

    def act(self, ctx: DecisionContext) -> int:
        allowed = self._robust[ctx.scene] & ctx.mask
        best, best_energy = -1, np.inf
        fallback, fallback_key = -1, (np.inf, np.inf)
        for m in self._order.tolist():
            if not allowed[m]:
                continue
            p = ctx.predict(m)
            energy = p.compute_mj + p.radio_mj
            if p.compute_mj >= best_energy:
                continue  # compute alone already costs more than the best so far
            if not p.risky and energy < best_energy:
                best, best_energy = m, energy
            key = (p.latency_ms, energy)
            if key < fallback_key:
                fallback, fallback_key = m, key
        return best if best >= 0 else fallback


#: the fixed policies every comparison runs by default
POLICY_NAMES = (
    "local-robust",
    "offload-all",
    "robust-agnostic",
    "neurosurgeon",
    "scene-aware-greedy",
    "risk-budget-greedy",
    "random",
    "oracle",
)


def policy_names(catalogue: ModeCatalogue) -> list[str]:
    """Every fixed policy name for a catalogue (``local-<tier>`` for each of its tiers)."""
    tiers = (f"local-{t}" for t in catalogue.pipeline.tiers)
    return [
        POLICY_NAMES[0],
        "local-cheapest-robust",
        *tiers,
        *POLICY_NAMES[1:],
        "scene-aware-greedy@<pessimism>",
        "risk-budget-greedy",
        "risk-budget-greedy@<budget>",
    ]


def _setting(name: str, valid: Callable[[float], bool], expected: str) -> float:
    """The number after ``@`` in a policy name such as ``scene-aware-greedy@0.5``."""
    try:
        value = float(name.split("@", 1)[1])
    except ValueError:
        value = math.nan
    if not valid(value):
        raise ValueError(f"{name}: {expected}")
    return value


def make_policy(
    name: str, catalogue: ModeCatalogue, preset: Preset, seed: int | np.random.Generator | None = None
) -> Policy:
    """The fixed policy called ``name`` for ``preset``; ``seed`` seeds a randomising policy."""
    if name == "local-robust":
        return LocalRobust(catalogue)
    if name == "local-cheapest-robust":
        return LocalCheapestRobust(catalogue)
    if name == "offload-all":
        return OffloadAll(catalogue)
    if name == "random":
        return RandomPolicy(seed)
    if name == "oracle":
        return Oracle(catalogue)
    if name == "robust-agnostic":
        return RobustAgnostic(preset, catalogue)
    if name == "neurosurgeon":
        return Neurosurgeon(preset, catalogue)
    if name == "scene-aware-greedy":
        return SceneAwareGreedy(preset, catalogue)
    if name.startswith("scene-aware-greedy@"):
        pessimism = _setting(name, lambda x: 0.0 <= x < 1.0, "the pessimism after @ must be a number in [0, 1)")
        policy = SceneAwareGreedy(preset, catalogue, pessimism)
        policy.name = name
        return policy
    if name == "risk-budget-greedy":
        return RiskBudgetGreedy(preset, catalogue)
    if name.startswith("risk-budget-greedy@"):
        budget = _setting(name, lambda x: 0.0 < x <= 1.0, "the risk budget after @ must be a probability in (0, 1]")
        policy = RiskBudgetGreedy(preset, catalogue, budget)
        policy.name = name
        return policy
    if name.startswith("local-") and name[len("local-") :] in catalogue.pipeline.tiers:
        return LocalTier(catalogue, name[len("local-") :])
    raise ValueError(f"unknown policy {name!r} (known: {', '.join(policy_names(catalogue))})")


def policy_for(sim: Simulator, name: str) -> Policy:
    """The policy ``name`` for a simulator's world, its randomness from the run's seed root.

    ``<algo>:RUN_DIR`` or ``<algo>:model.zip`` (``ppo``, ``maskable_ppo``, ``a2c``, ``dqn``,
    or ``agent`` to read the algorithm from the run) names a trained agent."""
    if ":" in name:
        from romanus.train.agent import AgentPolicy, is_agent_spec

        if is_agent_spec(name):
            return AgentPolicy(name, sim)
    return make_policy(name, sim.catalogue, sim.preset, sim.seeds.generator("policy"))
