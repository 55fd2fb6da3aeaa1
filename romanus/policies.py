"""Policies: each picks an operating mode per frame through one interface.

Every policy, fixed or trained, has ``name``, ``reset(seed)`` and ``act(view) -> mode index``
(``view``: :class:`romanus.vehicle.view.VehicleView`, or the oracle's view for the one
policy that ``sees_future``) and runs through the same simulator code on the same inputs;
none lives inside the simulator or the environment. Every policy is in one registry
(:data:`POLICIES`, name -> factory and description; ``romanus policies`` lists it); a
``NAME@X`` suffix sets a policy's one setting, parsed once by :func:`make_policy`. Trained
agents are named ``<algo>:RUN_DIR`` or ``<algo>:model.zip`` and resolved through an entry
point (:data:`AGENT_ENTRY_POINT`, as Gymnasium resolves env ids), so this layer does not
import the training layer. The fixed policies:

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
  vehicle's measured history: :mod:`romanus.vehicle.estimates`); ``risk-budget-greedy@B`` sets the budget
  B (default 0.005): sweeping it traces the frontier of a distribution-aware heuristic;
- ``map-aware-greedy``: ``risk-budget-greedy`` whose estimate and budget are gated by a coverage
  map of other days (:mod:`romanus.vehicle.mapaware`): an offload's miss probability is raised
  by how much more likely the cell ahead (1 s along the route) is than the current one to be
  unable to carry its payload in time (or to hand over while it is in flight), and its budget
  is multiplied by :data:`MAP_RELAX` where both cells are well seen and their p10 uplink
  carries the payload in time (handovers unlikely);
  ``map-aware-greedy@B`` sets the budget B. Without a place or a map it is its map-free twin,
  decision for decision;
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

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from romanus.config import Preset
from romanus.pipeline.modes import LOCAL, ModeCatalogue
from romanus.sim.actions import JUST_IN_TIME, ActionTable
from romanus.sim.costs import EnergyModel, ModeCosts
from romanus.sim.simulator import Simulator
from romanus.vehicle.estimates import Estimator, RiskAssessor, cheapest_within
from romanus.vehicle.mapaware import MapHazard
from romanus.vehicle.view import OracleView, VehicleView

__all__ = [
    "AGENT_ENTRY_POINT",
    "FALLBACK_SUFFIX",
    "POLICIES",
    "POLICY_NAMES",
    "LocalCheapestRobust",
    "LocalRobust",
    "LocalTier",
    "MapAwareGreedy",
    "Neurosurgeon",
    "OffloadAll",
    "Oracle",
    "Policy",
    "PolicyEntry",
    "RandomPolicy",
    "RiskBudgetGreedy",
    "RobustAgnostic",
    "SceneAwareGreedy",
    "WithFallback",
    "make_policy",
    "policy_for",
    "policy_names",
]


#: the suffix of a policy's hedged variant (``offload-all+fallback``)
FALLBACK_SUFFIX = "+fallback"


class Policy:
    """Base class: a policy is reset per episode or run and picks a mode per frame."""

    name = "policy"
    #: whether :meth:`act` needs the oracle's view (the world's future); only the oracle's does
    sees_future = False

    def reset(self, seed: int | None = None) -> None:
        """Start a new run; ``seed`` seeds a policy's own randomness, if it has any."""

    def act(self, view: VehicleView) -> int:
        raise NotImplementedError


class LocalRobust(Policy):
    name = "local-robust"

    def __init__(self, catalogue: ModeCatalogue) -> None:
        self._by_scene = [catalogue.local_robust(s) for s in range(len(catalogue.scenes))]

    def act(self, view: VehicleView) -> int:
        return self._by_scene[view.scene]


class LocalCheapestRobust(Policy):
    name = "local-cheapest-robust"

    def __init__(self, catalogue: ModeCatalogue) -> None:
        self._by_scene = [catalogue.cheapest_robust_local(s) for s in range(len(catalogue.scenes))]

    def act(self, view: VehicleView) -> int:
        return self._by_scene[view.scene]


class LocalTier(Policy):
    def __init__(self, catalogue: ModeCatalogue, tier: str) -> None:
        self.name = f"local-{tier}"
        self._mode = catalogue.mode_for(tier, LOCAL).index

    def act(self, view: VehicleView) -> int:
        return self._mode


class OffloadAll(Policy):
    """Offloads whenever offloading can run; on the vehicle (local-robust) when it cannot."""

    name = "offload-all"

    def __init__(self, catalogue: ModeCatalogue) -> None:
        self._by_scene = [catalogue.offload_all(s) for s in range(len(catalogue.scenes))]
        self._local = [catalogue.local_robust(s) for s in range(len(catalogue.scenes))]

    def act(self, view: VehicleView) -> int:
        mode = self._by_scene[view.scene]
        return mode if view.mask[mode] else self._local[view.scene]


class RandomPolicy(Policy):
    name = "random"

    def __init__(self, seed: int | np.random.Generator | None = None) -> None:
        self.reset(seed)

    def reset(self, seed: int | np.random.Generator | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def act(self, view: VehicleView) -> int:
        allowed = np.flatnonzero(view.mask)
        return int(allowed[self._rng.integers(len(allowed))])


class WithFallback(Policy):
    """``NAME+fallback``: the policy's choice, with the just-in-time local fallback armed
    whenever the chosen mode offloads (EnergyShield's hedge, arXiv 2302.06572;
    ``offload-all+fallback`` is its baseline). It offloads only hedged: when no fallback can
    finish by the frame's deadline, the frame runs the scene's robust tier on the vehicle."""

    def __init__(self, inner: Policy, catalogue: ModeCatalogue) -> None:
        self.inner = inner
        self.name = inner.name + FALLBACK_SUFFIX
        self._local = [catalogue.local_robust(s) for s in range(len(catalogue.scenes))]

    def reset(self, seed: int | None = None) -> None:
        self.inner.reset(seed)

    def act(self, view: VehicleView) -> int:
        mode = self.inner.act(view)
        if mode >= view.actions.n_modes or not view.catalogue.modes[mode].offloaded:
            return mode
        action = view.actions.index(mode, JUST_IN_TIME)
        return action if view.action_mask[action] else self._local[view.scene]


def _hedge_ties(view: VehicleView, action: int, energy: np.ndarray, allowed: np.ndarray) -> int:
    """``action``, or its just-in-time hedged twin if that is allowed and expected to cost no
    more (a fallback that is not expected to trigger is free insurance)."""
    table = view.actions
    if action >= table.n_modes or not table.has_fallback or not view.catalogue.modes[action].offloaded:
        return action
    twin = table.index(action, JUST_IN_TIME)
    return twin if allowed[twin] and energy[twin] <= energy[action] else action


class RobustAgnostic(Policy):
    name = "robust-agnostic"

    def __init__(self, preset: Preset, catalogue: ModeCatalogue) -> None:
        self._estimate = Estimator(preset, catalogue)

    def act(self, view: VehicleView) -> int:
        latency, energy = self._estimate(view)
        return cheapest_within(latency, energy, view.mask, view.deadline_ms)


class Neurosurgeon(Policy):
    name = "neurosurgeon"

    def __init__(self, preset: Preset, catalogue: ModeCatalogue) -> None:
        self._estimate = Estimator(preset, catalogue)
        tiers = [catalogue.robust_tier(s) for s in range(len(catalogue.scenes))]
        tier_of = np.array([m.tier for m in catalogue.modes])
        self._allowed = [tier_of == t for t in tiers]

    def act(self, view: VehicleView) -> int:
        latency, energy = self._estimate(view)
        cand = np.flatnonzero(self._allowed[view.scene] & view.mask)
        return int(cand[np.lexsort((energy[cand], latency[cand]))[0]])


class SceneAwareGreedy(Policy):
    """With ``fallback``, it chooses among every action, fallbacks included
    (:meth:`Estimator.actions`)."""

    name = "scene-aware-greedy"
    default_pessimism = 0.25

    def __init__(
        self, preset: Preset, catalogue: ModeCatalogue, pessimism: float = default_pessimism, fallback: bool = False
    ) -> None:
        self._estimate = Estimator(preset, catalogue, pessimism)
        self._robust = [catalogue.robust_ok[:, s] for s in range(len(catalogue.scenes))]
        self._fallback = fallback

    def act(self, view: VehicleView) -> int:
        robust = self._robust[view.scene]
        if self._fallback:
            latency, energy = self._estimate.actions(view)
            allowed = view.actions.extend(robust) & view.action_mask
            action = cheapest_within(latency, energy, allowed, view.deadline_ms)
            return _hedge_ties(view, action, energy, allowed & (latency <= view.deadline_ms))
        latency, energy = self._estimate(view)
        return cheapest_within(latency, energy, robust & view.mask, view.deadline_ms)


class RiskBudgetGreedy(Policy):
    """With ``fallback``, it chooses among every action, fallbacks included
    (:meth:`RiskAssessor.actions`)."""

    name = "risk-budget-greedy"
    default_budget = 0.005

    def __init__(
        self, preset: Preset, catalogue: ModeCatalogue, budget: float = default_budget, fallback: bool = False
    ) -> None:
        self._preset, self._catalogue, self.budget = preset, catalogue, budget
        self._assess = RiskAssessor(preset, catalogue)
        self._fallback = fallback

    def reset(self, seed: int | None = None) -> None:
        self._assess = RiskAssessor(self._preset, self._catalogue)

    @property
    def assessor(self) -> RiskAssessor:
        """The risk assessor of the current run (fed once per frame, shareable)."""
        return self._assess

    def act(self, view: VehicleView) -> int:
        if self._fallback:
            p, energy = self._assess.actions(view)
            action = cheapest_within(p, energy, view.action_mask, self.budget)
            return _hedge_ties(view, action, energy, view.action_mask & (p <= self.budget))
        p, energy = self._assess(view)
        return cheapest_within(p, energy, view.mask, self.budget)


#: [assumed] how much the risk budget of ``map-aware-greedy`` grows where the map vouches for
#: every cell ahead (well seen, safe for the mode): the estimator's prior of an outage onset
#: every 30 s is what keeps an unhedged offload above a small budget, and a well-seen cell
#: without outages or handovers is the evidence that prior stands in for
MAP_RELAX = 5.0


class MapAwareGreedy(Policy):
    """``risk-budget-greedy`` gated by the coverage map (see the module docstring).

    Per offloading mode m, ``q_m``, how much more likely the cell 1 s ahead is than the current
    cell to be unable to carry m's payload in time (``MapRisk.p_worse`` of
    :class:`romanus.vehicle.mapaware.MapHazard`; the estimator's recent history already speaks
    for the current cell, the map adds what changes ahead), raises the estimate:
    P'(miss) = 1 - (1 - P(miss)) (1 - q_m); the budget is B x :data:`MAP_RELAX` for a mode the
    map vouches for (both cells well seen, shortfall probability <= ``SAFE_P``), B otherwise.
    With ``fallback``, a hedged action's P(risky) stays the assessor's (0 for robust modes), and
    its expected energy adds the fallback's compute times the extra probability of falling
    back, (1 - P(late)) x q_m. Without a place (a synthetic world) or without a map in the
    preset, every decision is ``risk-budget-greedy``'s."""

    name = "map-aware-greedy"
    default_budget = RiskBudgetGreedy.default_budget

    def __init__(
        self, preset: Preset, catalogue: ModeCatalogue, budget: float = default_budget, fallback: bool = False
    ) -> None:
        self.twin = RiskBudgetGreedy(preset, catalogue, budget, fallback)
        self.budget, self._fallback = budget, fallback
        self._hazard = MapHazard.of_preset(preset, catalogue)
        table = ActionTable(catalogue, preset.fallback.options_ms, preset.fallback.tier)
        self._fb_compute_mj = ModeCosts(catalogue, EnergyModel(preset)).compute_mj[table.fallback_mode]

    def reset(self, seed: int | None = None) -> None:
        self.twin.reset(seed)

    def act(self, view: VehicleView) -> int:
        risk = None if self._hazard is None else self._hazard(view)
        if risk is None:
            return self.twin.act(view)
        assess = self.twin.assessor
        limit = np.where(risk.safe, self.budget * MAP_RELAX, self.budget)
        if not self._fallback:
            p, energy = assess(view)
            score = (1.0 - (1.0 - p) * (1.0 - risk.p_worse)) / limit
            return cheapest_within(score, energy, view.mask, 1.0)
        p, energy = assess.actions(view)
        table = view.actions
        mode, option = table.mode, table.fallback
        q = risk.p_worse[mode]
        hedged = option > 0
        score = np.where(hedged, p, 1.0 - (1.0 - p) * (1.0 - q)) / limit[mode]
        energy = energy.copy()
        fb_mj = float(self._fb_compute_mj[view.scene])
        for k, t in enumerate(view.fallback_times_ms(), start=1):
            if t is not None:
                sel = option == k
                late = assess.estimator.late(table.n_modes, t)[mode[sel]]
                energy[sel] += (1.0 - late) * q[sel] * fb_mj
        action = cheapest_within(score, energy, view.action_mask, 1.0)
        return _hedge_ties(view, action, energy, view.action_mask & (score <= 1.0))


class Oracle(Policy):
    """The hindsight oracle.

    What it knows: the world's future (capacity over time on both links, every frame's RTT
    and service-time draw, every background request at the server), which the simulator can
    evaluate because the world is deterministic (recorded, or generated from its seed); it
    is the one policy given an :class:`OracleView`.
    What it does: for the frame captured now it simulates every mode that is robust enough
    for the scene from the exact current state (:meth:`OracleView.predict`) and takes the
    least-energy one that meets the deadline; if none does, the one that resolves soonest.
    What it approximates: it is greedy, frame by frame; a frame's choice can still affect
    later frames through the shared server queue (it delays background requests that later
    frames queue behind), which it ignores, so it is a near-lower bound on energy at zero
    avoidable risk, not a proven optimum. With an abandon time longer than the period, frames
    still in flight are only partly accounted (see :meth:`Simulator.predict`).
    """

    name = "oracle"
    sees_future = True

    def __init__(self, catalogue: ModeCatalogue) -> None:
        self._robust = [catalogue.robust_ok[:, s] for s in range(len(catalogue.scenes))]
        energy = np.array([m.vehicle_ms for m in catalogue.modes])
        self._order = np.argsort(energy, kind="stable")  # cheap compute first: a good pruning order

    def act(self, view: VehicleView) -> int:
        if not isinstance(view, OracleView):
            raise TypeError("the oracle needs an OracleView (run it through romanus.vehicle.drive)")
        allowed = self._robust[view.scene] & view.mask
        best, best_energy = -1, np.inf
        fallback, fallback_key = -1, (np.inf, np.inf)
        for m in self._order.tolist():
            if not allowed[m]:
                continue
            p = view.predict(m)
            energy = p.compute_mj + p.radio_mj
            if p.compute_mj >= best_energy:
                continue  # compute alone already costs more than the best so far
            if not p.risky and energy < best_energy:
                best, best_energy = m, energy
            key = (p.latency_ms, energy)
            if key < fallback_key:
                fallback, fallback_key = m, key
        return best if best >= 0 else fallback


# -- the registry ----------------------------------------------------------------------------

#: what a policy factory gets: the world's preset and catalogue, the policy's own generator,
#: and the number after ``@`` (None without one)
Factory = Callable[[Preset, ModeCatalogue, "np.random.Generator | int | None", "float | None"], Policy]


@dataclass(frozen=True)
class Setting:
    """The one number a policy name may carry after ``@``."""

    what: str  # e.g. "pessimism"
    default: float
    valid: Callable[[float], bool]
    expected: str  # the error's second half, e.g. "a number in [0, 1)"


@dataclass(frozen=True)
class PolicyEntry:
    name: str
    description: str
    factory: Factory
    #: in the default comparison set (``romanus compare``, the demo, the study)
    default: bool = True
    setting: Setting | None = None
    #: the ``NAME+fallback`` variant (None: the policy has none, it never offloads or it is the oracle)
    hedged: Factory | None = None


def _armed(factory: Factory) -> Factory:
    """The ``+fallback`` variant that arms the just-in-time fallback on the policy's choice."""
    return lambda p, c, g, x: WithFallback(factory(p, c, g, x), c)


def _budget_entry(
    cls: type[RiskBudgetGreedy] | type[MapAwareGreedy], description: str, default: bool = True
) -> PolicyEntry:
    """The entry of a risk-budget policy: ``NAME@B`` sets its budget, ``+fallback`` lets it
    choose fallback actions."""
    return PolicyEntry(
        cls.name,
        description,
        lambda p, c, g, x: cls(p, c, cls.default_budget if x is None else x),
        setting=Setting("risk budget", cls.default_budget, lambda v: 0.0 < v <= 1.0, "a probability in (0, 1]"),
        hedged=lambda p, c, g, x: cls(p, c, cls.default_budget if x is None else x, fallback=True),
        default=default,
    )


def _entries() -> dict[str, PolicyEntry]:
    entries = [
        PolicyEntry(
            "local-robust",
            "the scene's most robust tier, all on the vehicle (pure local execution)",
            lambda p, c, g, x: LocalRobust(c),
        ),
        PolicyEntry(
            "local-cheapest-robust",
            "the least-compute tier robust enough for the scene, all on the vehicle",
            lambda p, c, g, x: LocalCheapestRobust(c),
            default=False,
        ),
        PolicyEntry(
            "offload-all",
            "the scene's robust tier with every sensor group at the default split point",
            lambda p, c, g, x: OffloadAll(c),
            hedged=_armed(lambda p, c, g, x: OffloadAll(c)),
        ),
        PolicyEntry(
            "robust-agnostic",
            "least expected energy meeting the deadline over every mode, scene ignored (the paper's baseline)",
            lambda p, c, g, x: RobustAgnostic(p, c),
            hedged=_armed(lambda p, c, g, x: RobustAgnostic(p, c)),
        ),
        PolicyEntry(
            "neurosurgeon",
            "the scene's robust tier at the split with the least expected latency",
            lambda p, c, g, x: Neurosurgeon(p, c),
            hedged=_armed(lambda p, c, g, x: Neurosurgeon(p, c)),
        ),
        PolicyEntry(
            "scene-aware-greedy",
            "least expected energy among robust modes meeting the deadline under pessimistic estimates",
            lambda p, c, g, x: SceneAwareGreedy(p, c, SceneAwareGreedy.default_pessimism if x is None else x),
            setting=Setting(
                "pessimism", SceneAwareGreedy.default_pessimism, lambda v: 0.0 <= v < 1.0, "a number in [0, 1)"
            ),
            hedged=lambda p, c, g, x: SceneAwareGreedy(
                p, c, SceneAwareGreedy.default_pessimism if x is None else x, fallback=True
            ),
        ),
        _budget_entry(
            RiskBudgetGreedy,
            "least expected energy among robust modes whose estimated miss probability is within a budget",
        ),
        _budget_entry(
            MapAwareGreedy,
            "risk-budget-greedy with its estimate and budget gated by the coverage map ahead (its twin without one)",
            default=False,
        ),
        PolicyEntry("random", "uniform over the modes that can run", lambda p, c, g, x: RandomPolicy(g)),
        PolicyEntry(
            "oracle",
            "hindsight: per frame the least-energy mode that is not risky, from the world's known future",
            lambda p, c, g, x: Oracle(c),
        ),
    ]
    return {e.name: e for e in entries}


#: every fixed policy by name (``local-<tier>`` is one more family, one per pipeline tier)
POLICIES: dict[str, PolicyEntry] = _entries()
#: the policies whose ``+fallback`` variant optimises over fallback actions (the others arm it)
_CHOOSES_FALLBACK = ("scene-aware-greedy", "risk-budget-greedy", "map-aware-greedy")
#: the fixed policies every comparison runs by default
POLICY_NAMES: tuple[str, ...] = tuple(name for name, e in POLICIES.items() if e.default)
#: where trained agents (``<algo>:RUN_DIR``) are resolved: ``module:callable(spec, preset, catalogue)``
AGENT_ENTRY_POINT = "romanus.train.agent:AgentPolicy"


def policy_names(catalogue: ModeCatalogue) -> list[str]:
    """Every fixed policy name for a catalogue, settings shown as ``@<what>``."""
    names: list[str] = []
    for name, e in POLICIES.items():
        names.append(name)
        if e.setting is not None:
            names.append(f"{name}@<{e.setting.what.replace(' ', '-')}>")
        if e.hedged is not None:
            names.append(f"{name}{FALLBACK_SUFFIX}")
        if name == "local-robust":
            names += [f"local-{t}" for t in catalogue.pipeline.tiers]
    return names


def policy_descriptions(catalogue: ModeCatalogue) -> list[tuple[str, str]]:
    """(name, one-line description) of every policy a catalogue offers (``romanus policies``)."""
    rows: list[tuple[str, str]] = []
    for name, e in POLICIES.items():
        rows.append((name, e.description))
        if e.setting is not None:
            rows.append(
                (f"{name}@X", f"the same with {e.setting.what} X, {e.setting.expected} (default {e.setting.default:g})")
            )
        if e.hedged is not None:
            how = "chooses among actions with a fallback too" if name in _CHOOSES_FALLBACK else "arms it on its choice"
            also = "; also with @X" if e.setting is not None else ""
            rows.append((f"{name}{FALLBACK_SUFFIX}", f"the same with the just-in-time local fallback ({how}{also})"))
        if name == "local-robust":
            rows += [
                (f"local-{t}", f"tier {t} ({'+'.join(b)}), all on the vehicle")
                for t, b in catalogue.pipeline.tiers.items()
            ]
    rows.append(
        ("<algo>:RUN_DIR", "a trained agent (its best model; or <algo>:model.zip; agent:RUN_DIR reads the algorithm)")
    )
    return rows


def _parse(spec: str, catalogue: ModeCatalogue) -> tuple[PolicyEntry | None, float | None, bool]:
    """(registry entry, setting, hedged) of a fixed policy name; (None, None, False) for
    ``local-<tier>``. ``NAME+fallback`` and ``NAME+fallback@X`` name the hedged variant."""
    base, at, rest = spec.partition("@")
    hedged = base.endswith(FALLBACK_SUFFIX)
    if hedged:
        base = base[: -len(FALLBACK_SUFFIX)]
        entry = POLICIES.get(base)
        if entry is None or entry.hedged is None:
            raise ValueError(
                f"unknown policy {spec!r}: only {', '.join(n for n, e in POLICIES.items() if e.hedged)} "
                f"have a {FALLBACK_SUFFIX} variant"
            )
        if not at:
            return entry, None, True
    if not at:
        if spec in POLICIES:
            return POLICIES[spec], None, False
        if spec.startswith("local-") and spec[len("local-") :] in catalogue.pipeline.tiers:
            return None, None, False
        raise ValueError(f"unknown policy {spec!r} (known: {', '.join(policy_names(catalogue))})")
    entry = POLICIES.get(base)
    if entry is None or entry.setting is None:
        raise ValueError(
            f"unknown policy {spec!r}: only {', '.join(n for n, e in POLICIES.items() if e.setting)} take @X"
        )
    try:
        value = float(rest)
    except ValueError:
        value = math.nan
    if not entry.setting.valid(value):
        raise ValueError(f"{spec}: the {entry.setting.what} after @ must be {entry.setting.expected}")
    return entry, value, hedged


def make_policy(
    name: str, catalogue: ModeCatalogue, preset: Preset, seed: int | np.random.Generator | None = None
) -> Policy:
    """The policy called ``name`` for ``preset``: a fixed policy (``NAME`` or ``NAME@X``) or a
    trained agent (``<algo>:RUN_DIR``); ``seed`` seeds a randomising policy."""
    if ":" in name:
        module, _, attr = AGENT_ENTRY_POINT.partition(":")
        factory = getattr(importlib.import_module(module), attr)
        return factory(name, preset, catalogue)  # type: ignore[no-any-return]
    entry, value, hedged = _parse(name, catalogue)
    if entry is None:
        return LocalTier(catalogue, name[len("local-") :])
    if hedged:
        if not preset.fallback.options_ms:
            raise ValueError(f"{name}: preset {preset.name} offers no fallback (its fallback.options_ms is empty)")
        assert entry.hedged is not None
        policy = entry.hedged(preset, catalogue, seed, value)
    else:
        policy = entry.factory(preset, catalogue, seed, value)
    policy.name = name
    return policy


def policy_for(sim: Simulator, name: str) -> Policy:
    """The policy ``name`` for a simulator's world, its randomness from the run's seed root."""
    return make_policy(name, sim.catalogue, sim.preset, sim.seeds.generator("policy"))
