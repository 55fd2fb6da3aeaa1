"""The fleet as a PettingZoo ``ParallelEnv``: N vehicles, one cell, one edge server.

Build one with :func:`romanus.parallel_env` (``parallel_env("fleet8")`` or
``parallel_env("default", vehicles=8, scheduler="round-robin")``). :class:`FleetLearnerEnv`
is the single-vehicle Gymnasium view of a fleet: one learner among N-1 vehicles running
given policies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from romanus.config import Preset
from romanus.env.core import credit, resolve_preset
from romanus.policies import Policy, make_policy
from romanus.sim.actions import ActionTable
from romanus.sim.fleet import CellConfig, FleetSimulator, fleet_kpis
from romanus.sim.records import KpiAccumulator
from romanus.sim.simulator import build_catalogue
from romanus.sim.world import World
from romanus.vehicle.decision import DecisionStack
from romanus.vehicle.view import OracleView, VehicleView

__all__ = [
    "FLEET_PRESETS",
    "FleetLearnerEnv",
    "FleetParallelEnv",
    "credit",
    "fleet_preset",
    "parallel_env",
]

#: named fleet presets: name -> (the world's preset, number of vehicles)
FLEET_PRESETS: dict[str, tuple[str, int]] = {
    "fleet1": ("default", 1),
    "fleet4": ("default", 4),
    "fleet8": ("default", 8),
    "fleet16": ("default", 16),
    "fleet64": ("default", 64),
    "highway5g-fleet16": ("highway_5g", 16),
    "rurallte-fleet8": ("rural_lte", 8),
}

#: per-vehicle episode KPIs on the last step (as :class:`romanus.env.core.RomanusEnv`'s)
_EPISODE_KEYS = {
    "episode_energy_per_frame_mj": "energy_per_frame_mj",
    "episode_risky_rate": "risky_rate",
    "episode_miss_rate": "deadline_miss_rate",
    "episode_latency_p95_ms": "latency_p95_ms",
    "episode_longest_miss_streak": "longest_miss_streak",
    "episode_offload_fraction": "offload_fraction",
    "episode_fallback_rate": "fallback_rate",
}


def fleet_preset(name: str, vehicles: int | None = None) -> tuple[str, int]:
    """(world preset, vehicles) of a fleet preset name, or of a plain preset with ``vehicles``."""
    if name in FLEET_PRESETS:
        base, n = FLEET_PRESETS[name]
        return base, n if vehicles is None else vehicles
    if vehicles is None:
        raise ValueError(
            f"{name!r} is not a fleet preset ({', '.join(FLEET_PRESETS)}): name a world preset with vehicles=N"
        )
    return name, vehicles


class FleetParallelEnv(ParallelEnv[str, np.ndarray, np.int64]):
    """Operating-mode selection for a fleet of vehicles sharing one cell and one edge server.

    Description
        ``vehicles`` vehicles of one preset's world capture a frame every ``period_ms``, all at
        the same instants, and each picks an operating mode for its frame (the single
        vehicle's problem, :class:`romanus.env.core.RomanusEnv`). The fleet simulator
        (:class:`romanus.sim.fleet.FleetSimulator`) plays the frames out: every vehicle has
        its own accelerator, channel, radio and scene; the cell's uplink is shared by a
        scheduler (proportional-fair by default, or round-robin) and every request joins the
        one edge server's FCFS queue with the background tenants. Offloading is a game: one
        vehicle's payload slows the others' and queues ahead of theirs.

    Agents
        ``vehicle_0`` ... ``vehicle_<N-1>``, all live for the whole episode.

    Action Space
        Per agent the single vehicle's ``Discrete(n_modes + K x n_offloading)``: the modes,
        then every offloading mode with each of the K local-fallback options
        (:mod:`romanus.sim.actions`). The actions an agent may pick now are
        ``infos[agent]["action_mask"]`` (int8, 1 = allowed; the PettingZoo convention) and
        :meth:`action_mask`; as in the single env, a shield (``env.shield.risk_budget``)
        replaces an action outside its budget (``shielded`` = 1) and, without one, a fallback
        that cannot finish is dropped (``fallback_dropped`` = 1). A mode that cannot run (no
        server) raises ``ValueError`` naming the agent.

    Observation Space
        Per agent the single vehicle's (``Box(0, 1, (n,), float32)``, the preset's or the
        ``observation`` argument's, :mod:`romanus.vehicle.observations`), built from that
        vehicle's own view: its channel measurements (its capacity alone in the cell), queues,
        radio, RTTs, the shared server's delayed telemetry and its own last frame. The cell's
        load is not observed directly (it shows in the vehicle's latencies, misses and RTTs).

    Rewards
        Per agent the single vehicle's reward of its own frames (:func:`credit`). Each
        agent's info carries the terms, ``active_users`` (vehicles on the cell's air at the
        decision) and, on the last step, its ``episode_*`` KPIs and the fleet KPIs
        (:data:`romanus.sim.fleet.FLEET_KPIS`: fleet energy, worst vehicle's risk, Jain's
        fairness index of energy and of risk).

    Starting State / Episode End
        As the single vehicle's: a new world from a root seed drawn from the env's generator
        (``reset(seed=...)``); every agent is truncated after ``env.episode_s`` (never
        terminated), and ``agents`` is then empty.

    Arguments
        ``preset`` (a world preset name, path or :class:`~romanus.config.Preset`), ``vehicles``,
        ``overrides``, ``observation``, ``episode_s``, ``reward`` (as the single vehicle's),
        ``scheduler`` (``proportional-fair`` or ``round-robin``), ``pf_fading``
        (:class:`romanus.sim.fleet.CellConfig`), ``worlds`` (one recorded world per vehicle,
        replayed every episode: ``FleetScenario.vehicles``, :mod:`romanus.fleetscenario`; the
        episode must fit in the recording).

    Version History
        v0: initial version.
    """

    metadata = {"name": "romanus_fleet_v0", "render_modes": [], "is_parallelizable": True}  # noqa: RUF012

    def __init__(
        self,
        preset: str | Preset = "default",
        vehicles: int = 4,
        *,
        overrides: Mapping[str, Any] | None = None,
        observation: str | None = None,
        episode_s: float | None = None,
        reward: Mapping[str, Any] | None = None,
        scheduler: str = "proportional-fair",
        pf_fading: str = "rayleigh",
        worlds: Sequence[Any] | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r}: the fleet environment does not render")
        self.render_mode = render_mode
        if isinstance(vehicles, bool) or not isinstance(vehicles, int) or vehicles < 1:
            raise ValueError(f"vehicles must be a positive integer, got {vehicles!r}")
        self.preset = resolve_preset(preset, overrides, observation, episode_s, reward)
        self.cell = CellConfig(scheduler=scheduler, pf_fading=pf_fading)
        self.vehicles = vehicles
        self._worlds = None if worlds is None else list(worlds)
        if self._worlds is not None:
            if len(self._worlds) != vehicles:
                raise ValueError(f"worlds: {len(self._worlds)} recorded worlds for {vehicles} vehicles")
            if not all(callable(getattr(w, "world", None)) for w in self._worlds):
                raise ValueError("worlds: give recorded scenarios (FleetScenario.vehicles), whose world() replays them")
        p = self.preset
        self.catalogue = build_catalogue(p)
        self.possible_agents = [f"vehicle_{i}" for i in range(vehicles)]
        self.agents: list[str] = []
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        self.stacks = [DecisionStack.of_preset(p, self.catalogue) for _ in range(vehicles)]
        stack = self.stacks[0]
        self._oracle = stack.sees_future
        self.energy_scale_mj = stack.energy_scale_mj
        rc = p.env.reward
        self._w_energy = rc.energy_weight / self.energy_scale_mj
        self._risk = rc.risk_penalty
        self._miss = rc.miss_penalty
        self._credit_gamma = rc.credit_gamma
        self._obs_space = stack.observation.space
        #: the actions: modes, then offloading modes with a fallback option (romanus.sim.actions)
        self.actions = ActionTable(self.catalogue, p.fallback.options_ms, p.fallback.tier)
        self._act_space = spaces.Discrete(len(self.actions))
        self.observation_spaces = dict.fromkeys(self.possible_agents, self._obs_space)
        self.action_spaces = dict.fromkeys(self.possible_agents, self._act_space)
        self.frames_per_episode = max(1, round(p.env.episode_s * 1000.0 / p.period_ms))
        self._offloads = self.actions.extend(self.catalogue.offload_mask).tolist()
        self._can_run = self.actions.extend(self.catalogue.mask(p.server.enabled))
        self._rng = np.random.default_rng()
        self.sim: FleetSimulator | None = None
        self._views: list[VehicleView] = []
        self._kpi: list[KpiAccumulator] = []

    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    # -- PettingZoo API ------------------------------------------------------------------------

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        episode_seed = int(self._rng.integers(0, 2**63 - 1))
        worlds: list[World] | None = None
        if self._worlds is not None:
            worlds = [w.world() for w in self._worlds]  # fresh replays each episode
        self.sim = FleetSimulator(
            self.preset,
            self.vehicles,
            episode_seed,
            cell=self.cell,
            catalogue=self.catalogue,
            keep_records=False,
            worlds=worlds,
        )
        self.agents = list(self.possible_agents)
        self._kpi = [KpiAccumulator() for _ in range(self.vehicles)]
        for stack in self.stacks:
            stack.reset()
        obs = self._next_views()
        infos = {
            a: {"frame": 0, "scene": v.scene, "action_mask": self._mask(i)}
            for i, (a, v) in enumerate(zip(self.agents, self._views, strict=True))
        }
        return obs, infos

    def _next_views(self) -> dict[str, np.ndarray]:
        assert self.sim is not None
        view_cls = OracleView if self._oracle else VehicleView
        self._views = [view_cls(v, d) for v, d in zip(self.sim.vehicles, self.sim.decisions(), strict=True)]
        return {
            a: stack.observe(view)
            for a, stack, view in zip(self.possible_agents, self.stacks, self._views, strict=True)
        }

    def _mask(self, i: int) -> np.ndarray:
        return self.stacks[i].mask(self._views[i]).astype(np.int8)

    def action_mask(self, agent: str) -> np.ndarray:
        """The actions ``agent`` may pick now (bool)."""
        i = self._index[agent]
        if not self._views:
            return self._can_run.copy()
        return self.stacks[i].mask(self._views[i])

    def step(
        self, actions: Mapping[str, int | np.integer]
    ) -> tuple[
        dict[str, np.ndarray],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        if self.sim is None or not self.agents:
            raise RuntimeError("call reset() before step() (and again after the episode ended)")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"actions: no action for {', '.join(missing)}")
        sim = self.sim
        n_actions = len(self.actions)
        applied_actions: list[int] = []
        replaced: list[int | None] = []
        for i, agent in enumerate(self.possible_agents):
            requested = int(actions[agent])
            if not 0 <= requested < n_actions:
                raise ValueError(f"actions[{agent!r}]: {requested} is outside Discrete({n_actions})")
            if not self._can_run[requested]:
                name = self.actions.name(requested)
                raise ValueError(
                    f"actions[{agent!r}]: {requested} ({name}) is masked: it offloads and there is no server"
                )
            applied, was = self.stacks[i].apply(self._views[i], requested)
            applied_actions.append(applied)
            replaced.append(requested if was else None)
        frame = self._views[0].frame
        scenes = [v.scene for v in self._views]
        deadlines = [v.deadline_ms for v in self._views]
        active = sim.active_users
        resolved = sim.step(applied_actions)
        truncated = sim.frames_started >= self.frames_per_episode
        if truncated:
            for out, more in zip(resolved, sim.drain(), strict=True):
                out.extend(more)
        obs = self._next_views()
        rewards: dict[str, float] = {}
        infos: dict[str, dict[str, Any]] = {}
        for i, agent in enumerate(self.possible_agents):
            self._kpi[i].add(resolved[i])
            reward, info = credit(
                resolved[i], self._w_energy, self._risk, self._miss, frame=frame, credit_gamma=self._credit_gamma
            )
            action = applied_actions[i]
            info.update(
                frame=frame,
                scene=scenes[i],
                deadline_ms=deadlines[i],
                action=action,
                mode=self.actions.mode_list[action],
                fallback=self.actions.fallback_list[action],
                offloaded=int(self._offloads[action]),
                shielded=0,
                active_users=active,
                action_mask=self._mask(i),
            )
            asked = replaced[i]
            if asked is not None:  # as RomanusEnv: the shield's replacement, or a dropped fallback
                if self.stacks[i].shield is not None:
                    info.update(shielded=1, requested_mode=asked)
                else:
                    info.update(fallback_dropped=1, requested_mode=asked)
            rewards[agent] = reward
            infos[agent] = info
        if truncated:
            for v, acc in zip(sim.vehicles, self._kpi, strict=True):
                acc.add_state_mj(v.unattributed_state_mj)  # the final tail of a frame already credited
            per_vehicle = self.episode_kpis()
            fleet = fleet_kpis(per_vehicle)
            for i, agent in enumerate(self.possible_agents):
                infos[agent].update({key: per_vehicle[i][src] for key, src in _EPISODE_KEYS.items()})
                infos[agent].update(fleet)
        terminations = dict.fromkeys(self.possible_agents, False)
        truncations = dict.fromkeys(self.possible_agents, truncated)
        if truncated:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def episode_kpis(self) -> list[dict[str, float]]:
        """Each vehicle's KPIs (:func:`romanus.sim.records.kpis`) of the episode so far."""
        assert self.sim is not None
        out = []
        for v, acc in zip(self.sim.vehicles, self._kpi, strict=True):
            duration = max(v.env.now, v.capture_s(v.frames_started))
            out.append(acc.result(v.energy.idle_mj(max(0.0, duration - v.busy_s)), duration))
        return out

    @property
    def views(self) -> list[VehicleView]:
        """Every vehicle's view of the current decision (for policies driving some vehicles)."""
        return self._views

    def render(self) -> None:
        return None

    def close(self) -> None:
        return None

    def state(self) -> np.ndarray:
        """The concatenation of every vehicle's observation (a global state for centralised critics)."""
        return np.concatenate([s.observation.observe(v) for s, v in zip(self.stacks, self._views, strict=True)])


def parallel_env(preset: str | Preset = "fleet4", vehicles: int | None = None, **options: Any) -> FleetParallelEnv:
    """A :class:`FleetParallelEnv`: ``preset`` is a fleet preset (:data:`FLEET_PRESETS`, its
    vehicle count overridable) or a world preset with ``vehicles``; ``options`` are
    :class:`FleetParallelEnv`'s keyword arguments."""
    if isinstance(preset, Preset):
        if vehicles is None:
            raise ValueError("vehicles: a Preset object needs vehicles=N")
        return FleetParallelEnv(preset, vehicles, **options)
    base, n = fleet_preset(preset, vehicles)
    return FleetParallelEnv(base, n, **options)


class FleetLearnerEnv(gym.Env[np.ndarray, np.int64]):
    """The single-vehicle Gymnasium view of a fleet: vehicle 0 learns, vehicles 1..N-1 run
    the given policies (``others``: one policy name for all, or one per vehicle). Spaces,
    reward and info are the single vehicle's (:class:`romanus.env.core.RomanusEnv`), plus the
    fleet KPIs on the last step."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        preset: str | Preset = "default",
        vehicles: int = 4,
        others: str | Sequence[str] = "local-robust",
        **options: Any,
    ) -> None:
        self.fleet = parallel_env(preset, vehicles, **options)
        names = [others] * (vehicles - 1) if isinstance(others, str) else list(others)
        if len(names) != vehicles - 1:
            raise ValueError(f"others: {len(names)} policies for {vehicles - 1} other vehicles")
        self._names = names
        self._others: list[Policy] = []
        self.observation_space = self.fleet.observation_space("vehicle_0")
        self.action_space = self.fleet.action_space("vehicle_0")

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs, infos = self.fleet.reset(seed=int(self.np_random.integers(0, 2**63 - 1)))
        cat, p = self.fleet.catalogue, self.fleet.preset
        self._others = [
            make_policy(n, cat, p, np.random.default_rng(self.np_random.integers(0, 2**63 - 1))) for n in self._names
        ]
        for pol in self._others:
            if pol.sees_future:
                raise ValueError(f"policy {pol.name}: the hindsight oracle cannot run in a fleet")
        return obs["vehicle_0"], infos["vehicle_0"]

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        views = self.fleet.views
        actions = {"vehicle_0": int(action)}
        for i, pol in enumerate(self._others, start=1):
            actions[f"vehicle_{i}"] = pol.act(views[i])
        obs, rewards, _, truncs, infos = self.fleet.step(actions)
        return obs["vehicle_0"], rewards["vehicle_0"], False, truncs["vehicle_0"], infos["vehicle_0"]

    def action_masks(self) -> np.ndarray:
        return self.fleet.action_mask("vehicle_0")
