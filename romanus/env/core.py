"""The Gymnasium environment: one step is one perception-cycle decision."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from romanus.config import CapacityConfig, EnvConfig, Preset, load_preset
from romanus.configio import build, deep_merge
from romanus.env.render import DecisionRow, OutcomeRow, RenderHistory  # numpy only: matplotlib loads on render()
from romanus.scenario import Scenario, check_map_for_scenario, load_suite
from romanus.sim.actions import ActionTable
from romanus.sim.records import FrameRecord, kpis
from romanus.sim.simulator import Simulator, build_catalogue
from romanus.vehicle.decision import DecisionStack
from romanus.vehicle.view import VehicleView, next_view

if TYPE_CHECKING:
    from romanus.env.render import EpisodeRenderer, HumanWindow

__all__ = ["RENDER_WINDOW_S", "RomanusEnv", "check_same_world", "credit"]

RENDER_WINDOW_S = 20.0  # seconds of history a rendered frame shows

ScenarioArg = str | Path | Scenario


def _suite_entries(scenario: ScenarioArg | Sequence[ScenarioArg] | None) -> list[ScenarioArg]:
    if scenario is None:
        return []
    if isinstance(scenario, Scenario):
        return [scenario]
    if isinstance(scenario, str | Path):
        return list(load_suite(scenario))
    return list(scenario)


def resolve_preset(
    preset: str | Preset,
    overrides: Mapping[str, Any] | None,
    observation: str | None,
    episode_s: float | None,
    reward: Mapping[str, Any] | None,
) -> Preset:
    """The preset an env poses (a name, path or object), with world ``overrides`` (not for an
    object) and its env section's observation, episode length and reward overridden."""
    env_over: dict[str, Any] = {}
    if observation is not None:
        env_over["observation"] = observation
    if episode_s is not None:
        env_over["episode_s"] = episode_s
    if reward is not None:
        env_over["reward"] = dict(reward)
    merged = dict(overrides or {})
    if env_over:
        merged["env"] = {**dict(merged.get("env", {})), **env_over}
    if not isinstance(preset, Preset):
        return load_preset(preset, merged or None)
    if set(merged) - {"env"}:
        raise ValueError("pass world overrides with a preset name or path, not with a Preset object")
    if not merged:
        return preset
    data, origins = deep_merge(
        json.loads(json.dumps(dataclasses.asdict(preset.env))), merged["env"], {}, "overrides", EnvConfig
    )
    return dataclasses.replace(preset, env=build(EnvConfig, data, source="overrides", origins=origins, path="env"))


def credit(
    resolved: Sequence[FrameRecord],
    w_energy: float,
    risk_penalty: float,
    miss_penalty: float,
    *,
    frame: int = 0,
    credit_gamma: float | None = None,
) -> tuple[float, dict[str, Any]]:
    """The reward of the frames that resolved in a step (a :class:`RomanusEnv` step, or one
    vehicle's in a fleet), with its terms: ``-w_energy * energy - risk_penalty * risky -
    miss_penalty * missed``. With ``credit_gamma`` (``reward.credit_gamma``) each frame's terms
    are divided by ``credit_gamma ** (frame - its frame)``, ``frame`` being the step's decided
    frame: a frame resolved k steps after its decision then counts in full in that decision's
    discounted return. The info's energy and counts stay the frames' own."""
    compute = radio = latency = wasted = 0.0
    risky = missed = fell_back = 0
    for r in resolved:
        compute += r.compute_mj
        radio += r.radio_mj
        risky += r.risky
        missed += not r.deadline_met
        fell_back += r.fell_back
        wasted += r.wasted_mj
        latency = max(latency, r.latency_ms)
    energy = compute + radio
    r_energy = -w_energy * energy
    r_risk = -risk_penalty * risky
    r_miss = -miss_penalty * missed
    if credit_gamma is not None:  # each frame's terms, divided by gamma ** (its delay in steps)
        r_energy = r_risk = r_miss = 0.0
        for r in resolved:
            w = credit_gamma ** (r.frame - frame)
            r_energy -= w * w_energy * (r.compute_mj + r.radio_mj)
            r_risk -= w * risk_penalty * r.risky
            r_miss -= w * miss_penalty * (not r.deadline_met)
    info = {
        "frames_resolved": len(resolved),
        "energy_mj": energy,
        "compute_mj": compute,
        "radio_mj": radio,
        "risky": risky,
        "missed": missed,
        "latency_ms": latency,
        "fell_back": fell_back,
        "wasted_mj": wasted,
        "reward_energy": r_energy,
        "reward_risk": r_risk,
        "reward_miss": r_miss,
    }
    return r_energy + r_risk + r_miss, info


def _world_signature(preset: Preset) -> str:
    """Everything that shapes a replayed world, in order (dict order matters: scenes,
    branches). Left out: the env section (how the learner is posed) and the links' capacity
    processes (model, trace file, offset, ...), which a recording carries in full, so a suite
    whose scenarios were driven by different traces, or by traces instead of the preset's
    fading, replays in one env. The drive section (a recording carries the drive's links and
    place), the coverage map (the vehicle's knowledge, read by the ``place`` observation
    from the env's own preset) and the capacity library (the risk estimate's prior, also the
    vehicle's knowledge) are left out too, so one env replays a suite of drives."""
    world = dataclasses.replace(
        preset,
        env=EnvConfig(),
        name="X",
        description="",
        version=0,
        uplink=CapacityConfig(),
        downlink=CapacityConfig(),
        drive=None,
        coverage_map=None,
        capacity_library=None,
    )
    return json.dumps(dataclasses.asdict(world))


def check_same_world(preset: Preset, scenarios: Sequence[ScenarioArg]) -> list[Scenario]:
    """The scenarios, loaded; ``ValueError`` naming the first that was recorded from another
    world than ``preset`` (see :class:`RomanusEnv`'s ``scenario`` argument)."""
    signature = _world_signature(preset)
    loaded = []
    for which in scenarios:
        sc = which if isinstance(which, Scenario) else Scenario.load(which)
        if _world_signature(sc.preset) != signature:
            raise ValueError(
                f"scenario {sc.path or ''} was recorded from a different world than preset {preset.name} "
                "(everything but the env section and the links' capacity processes must match)"
            )
        loaded.append(sc)
    return loaded


EPISODE_KPIS = (
    "episode_energy_per_frame_mj",
    "episode_risky_rate",
    "episode_miss_rate",
    "episode_latency_p95_ms",
    "episode_longest_miss_streak",
    "episode_offload_fraction",
)


class RomanusEnv(gym.Env[np.ndarray, np.int64]):
    """Operating-mode selection for multi-sensor perception with edge offloading.

    Description
        A vehicle captures a multi-sensor frame every ``period_ms`` (100 ms by default) and
        picks an operating mode for it: which detection branches run, and for each sensor
        group whether its execution path stays on the vehicle or is split at a compressed
        raw point, a bottleneck head or a ResNet tail layer and sent to a shared edge server.
        The discrete-event simulator (:class:`romanus.sim.simulator.Simulator`) plays the
        frame out: accelerator queue, uplink capacity over time, RTT, the server's FCFS queue
        with other tenants, the downlink. The goal is to spend little energy without risky
        frames (a missed deadline, or a branch set not robust enough for the scene).

    Action Space
        ``Discrete(n_modes + K x n_offloading)`` (:mod:`romanus.sim.actions`): actions ``0 ..
        n_modes - 1`` are the preset's operating modes (``romanus modes --env NAME`` lists them),
        then, for each of the K fallback options (``fallback.options_ms``; the shipped presets offer
        just in time and 20 ms earlier), every offloading mode with that local fallback: if its
        result is not back by the fallback time, the vehicle runs the cheapest tier robust enough
        for the scene itself (``fallback.tier``) and discards the late result (EnergyShield). The
        default preset has 47 modes, 42 of them offloading: 131 actions. ``action_masks()`` returns
        the actions that can run now (every mode when the preset has an edge server, only local ones
        otherwise; a fallback option only when its fallback can finish by this frame's deadline); a
        mode that cannot run raises ``ValueError``, it is never remapped, and a fallback that cannot
        finish is dropped (the mode runs unhedged, ``info["fallback_dropped"]`` = 1) unless a shield
        replaces the action. With a shield (``env.shield.risk_budget``;
        :mod:`romanus.vehicle.estimates`) the mask also leaves out, per frame, the actions whose
        estimated probability of a risky frame exceeds the budget (those not robust enough for the
        scene, and those likely to miss the deadline; an action with a feasible fallback is not
        risky); an action it leaves out is replaced by the least expected energy allowed action
        (``info["shielded"]`` = 1, ``info["requested_mode"]``), so learners that ignore masks stay
        within the budget too. ``info`` names the action, its ``mode`` and ``fallback`` option and
        the frame's ``deadline_ms``. The default preset's catalogue (47 modes) is, by index:

        0-7 camera_right | camera = local, raw, bottleneck-c3-b8, bottleneck-c6-b8,
        bottleneck-c12-b8, layer2, layer3, layer4;
        8-15 camera_both | camera = the same eight placements;
        16-21 radar_fusion | range = local, raw, bottleneck-c3-b8, bottleneck-c6-b8,
        bottleneck-c12-b8, layer4;
        22-28 lidar_fusion | range = local, raw, bottleneck-c3-b8, bottleneck-c6-b8,
        bottleneck-c12-b8, layer3, layer4;
        29 full | camera=local, range=local;
        30-45 full | camera in {raw, bottleneck-c3-b8, bottleneck-c6-b8, bottleneck-c12-b8} x
        range in the same four;
        46 full | camera=layer4, range=layer4.

    Observation Space
        ``Box(0, 1, (n,), float32)``, chosen by name (``observation=``); every feature is
        normalised and clipped to [0, 1]. ``vehicle`` (default; n = 33 on the default preset):

        ========================  =======  ==============================================  ===========================
        feature                   unit     source                                          staleness
        ========================  =======  ==============================================  ===========================
        scene_<scene> (8)         0/1      the vehicle's scene classifier                  current frame
        gate_<branch> (7)         score    HydraFusion gate scores for the scene           current frame
        uplink_mbps_100ms         Mbit/s   modem: mean uplink capacity, last 0.1 s (log)   past 0.1 s
        uplink_mbps_500ms         Mbit/s   the same over the last 0.5 s                    past 0.5 s
        uplink_mbps_2000ms        Mbit/s   the same over the last 2 s                      past 2 s
        uplink_backlog            ms       own uplink queue still to send (/ 4 deadlines)  current
        accelerator_backlog       ms       own compute already queued (/ deadline)         current
        frames_in_flight          frames   own frames not yet resolved (/ 4)               current
        rtt_last                  ms       RTT of the newest response (/ 250 ms)           see rtt_age
        rtt_age                   s        time since that response (/ 10 s)               current
        server_wait               ms       telemetry: queueing delay (/ 100 ms)            delay + period
        server_workload           ms       telemetry: unfinished work per worker           delay + period
        server_utilisation        share    telemetry: busy share over the report period    delay + period
        server_arrivals           1/s      telemetry: request rate (/ 2000 /s)             delay + period
        server_report_age         s        age of the newest report (/ 10 s; 1 if none)    current
        last_latency              ms       newest resolved frame (/ abandon time)          previous frame
        last_energy               mJ       newest resolved frame (/ 2 x energy scale)      previous frame
        last_met, last_risky,     0/1      newest resolved frame's outcome                 previous frame
        last_offloaded
        ========================  =======  ==============================================  ===========================

        ``oracle`` adds the true uplink capacity now, its mean over the coming deadline (the
        future) and the server's true queueing delay now (no telemetry delay). ``risk`` adds
        the vehicle's own risk assessment (:mod:`romanus.vehicle.estimates`), per tier: the lowest
        estimated deadline-miss probability of its offloading modes, and the expected energy
        and miss probability of its least-energy offloading mode.

    Rewards
        Per resolved frame: ``-energy_weight * (compute_mj + radio_mj) / energy_scale_mj
        - risk_penalty * risky - miss_penalty * missed`` (``env.reward`` in the preset; the
        energy scale defaults to the costliest scene's local-robust frame energy). A step's
        reward sums the frames that resolved during it. With ``abandon_after_ms`` equal to the
        period (the default: deadline = period = 100 ms) every frame resolves before the next
        decision, so step n's reward is exactly frame n's. With a longer abandon time a frame
        is credited in the step during which it resolves, and the last step drains every frame
        still in flight, so an episode's rewards cover all its frames. Each term is in
        ``info`` (``reward_energy``, ``reward_risk``, ``reward_miss``).

    Starting State
        A new world from a root seed drawn from the env's ``np_random`` (seeded by
        ``reset(seed=...)``): scene, link, RTT and server-load processes start from their own
        generators; the vehicle's queues are empty.

    Episode End
        Never terminated. Truncated after ``env.episode_s`` of simulated time (600 decisions
        by default). The last step's ``info`` holds the episode KPIs (``episode_*`` keys) for
        ``Monitor(info_keywords=...)``.

    Arguments
        ``preset``: a shipped preset name, a YAML path or a :class:`~romanus.config.Preset`
        (default: ``default``, or the scenario's preset); ``overrides``: a nested mapping
        merged into the preset; ``observation``, ``episode_s`` and ``reward`` (a mapping of
        ``RewardConfig`` fields) override the preset's ``env`` section; ``scenario``: a
        recorded scenario file, a suite folder, a :class:`~romanus.scenario.Scenario` or a
        list of them. With scenarios each episode replays one (in turn; or the one named by
        ``reset(options={"scenario": path_or_index})``) from start to end, so every policy
        faces the same inputs; the episode then lasts the scenario's frames. Scenarios must come
        from the preset's world, except for the env section and the links' capacity
        processes, which the recording carries (a suite driven by measured traces replays in
        the env of the preset it was recorded from). ``render_mode``: ``None``
        (default), ``"rgb_array"`` (``render()`` returns an ``(H, W, 3)`` uint8 frame of the last
        20 s: scene, measured uplink capacity, each frame's tier and placement, latencies against
        the deadline with misses marked, the vehicle's queues and the server's telemetry wait;
        :mod:`romanus.env.render`) or ``"human"`` (the same frame in a matplotlib window at every
        reset and step, without blocking). Rendering changes no dynamics.

    Version History
        v2: actions include offloading modes with a just-in-time local fallback (preempting
        the accelerator); per-frame deadlines (``deadlines``; fixed 100 ms in the shipped
        presets); the ``vehicle`` observation gains the last frame's fallback, the frame's
        deadline and each fallback option's time.
        v1: the modem's RRC states (promotion, tail) and measured power on the air, per-frame
        radio transfer and state energy, bottleneck heads timed by their MACs; the ``vehicle``
        observation gains the radio state and the time since the last transfer.
        v0: initial version (the ``risk`` observation, the shield and rendering came later as
        options).
    """

    # render_fps: one frame per perception cycle of the shipped presets (100 ms) plays in real time
    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 10}  # noqa: RUF012 - the Gymnasium convention

    def __init__(
        self,
        preset: str | Preset | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
        observation: str | None = None,
        episode_s: float | None = None,
        reward: Mapping[str, Any] | None = None,
        scenario: ScenarioArg | Sequence[ScenarioArg] | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r}: expected None or one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self._suite: list[ScenarioArg] = _suite_entries(scenario)
        self._loaded: dict[str, Scenario] = {}
        given = preset
        if preset is None:
            preset = self._scenario(0).preset if self._suite else "default"
        self.preset = resolve_preset(preset, overrides, observation, episode_s, reward)
        p = self.preset
        self._init_args = (
            given,
            dict(overrides or {}),
            observation,
            episode_s,
            None if reward is None else dict(reward),
            scenario if scenario is None or isinstance(scenario, str | Path | Scenario) else list(scenario),
            render_mode,
        )
        self.catalogue = build_catalogue(p)
        rc = p.env.reward
        #: observation + risk assessor + shield, shared with trained agents evaluated as policies
        self.stack = DecisionStack.of_preset(p, self.catalogue)
        self.energy_scale_mj = self.stack.energy_scale_mj
        self._w_energy = rc.energy_weight / self.energy_scale_mj
        self._risk = rc.risk_penalty
        self._miss = rc.miss_penalty
        self._credit_gamma = rc.credit_gamma
        self.observation_space = self.stack.observation.space
        #: the actions: the catalogue's modes, then offloading modes with a fallback option
        self.actions = ActionTable(self.catalogue, p.fallback.options_ms, p.fallback.tier)
        self.action_space = spaces.Discrete(len(self.actions))
        self.frames_per_episode = max(1, round(p.env.episode_s * 1000.0 / p.period_ms))
        self._period_s = p.period_ms / 1000.0
        if p.period_ms != 100.0:  # videos play in simulated real time whatever the period
            self.metadata = {**self.metadata, "render_fps": 1000.0 / p.period_ms}
        self._mask = self.actions.extend(self.catalogue.mask(p.server.enabled))
        self._offloads = self.actions.extend(self.catalogue.offload_mask).tolist()
        self.sim: Simulator | None = None
        self._view: VehicleView | None = None
        self._episode_seed = 0
        self._episode_frames = self.frames_per_episode
        self._actions: list[int] = []
        self._episode_scenario: Scenario | None = None
        self._next_in_suite = 0
        self._world_signature = _world_signature(self.preset)
        if self._suite:
            self._scenario(0)  # fail now, not at the first reset, if the suite is of another world
        self._history: RenderHistory | None = None
        self._renderer: EpisodeRenderer | None = None
        self._window: HumanWindow | None = None
        if render_mode is not None:
            self._history = RenderHistory(RENDER_WINDOW_S, p.period_ms)

    # -- Gymnasium API -----------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self._next_in_suite = 0
        self._episode_seed = int(self.np_random.integers(0, 2**63 - 1))
        chosen = (options or {}).get("scenario")
        if chosen is not None:
            self._episode_scenario = self._scenario(chosen)
        elif self._suite:
            self._episode_scenario = self._scenario(self._next_in_suite % len(self._suite))
            self._next_in_suite += 1
        else:
            self._episode_scenario = None
        obs = self._start_episode()
        assert self._view is not None
        if self.render_mode == "human":
            self.render()
        return obs, {"frame": 0, "scene": self._view.scene}

    @property
    def view(self) -> VehicleView:
        """What the vehicle knows of the frame about to be decided: the view a fixed policy acts
        on (``policy.act(env.view)``, e.g. a teacher in :mod:`romanus.train.kickstart`).
        ``RuntimeError`` before :meth:`reset`."""
        if self._view is None:
            raise RuntimeError("call reset() before reading view")
        return self._view

    def _scenario(self, which: ScenarioArg | int) -> Scenario:
        """A scenario by suite index, path or object, loaded once and checked against the preset."""
        if isinstance(which, int) and not isinstance(which, bool):
            if not 0 <= which < len(self._suite):
                raise ValueError(f"scenario index {which} is outside the suite (0..{len(self._suite) - 1})")
            which = self._suite[which]
        if isinstance(which, Scenario):
            sc = which
        else:
            key = str(which)
            if key not in self._loaded:
                self._loaded[key] = Scenario.load(key)
            sc = self._loaded[key]
        if hasattr(self, "_world_signature") and _world_signature(sc.preset) != self._world_signature:
            check_same_world(self.preset, [sc])  # raises, naming the scenario
        preset = getattr(self, "preset", None)  # not yet while the preset is taken from the suite
        if preset is not None and preset.coverage_map is not None:
            check_map_for_scenario(preset.coverage_map, sc)  # a map that saw a test drive leaks
        return sc

    def _start_episode(self) -> np.ndarray:
        sc = self._episode_scenario
        if sc is None:
            self.sim = Simulator(self.preset, self._episode_seed, catalogue=self.catalogue)
            self._episode_frames = self.frames_per_episode
        else:
            self.sim = Simulator(self.preset, sc.seed, catalogue=self.catalogue, world=sc.world())
            self._episode_frames = sc.frames
        self._actions = []
        self.stack.reset()  # the vehicle's risk estimate starts from no history each episode
        self._view = next_view(self.sim, oracle=self.stack.sees_future)
        if self._history is not None:
            self._history.clear()
            self._history.now_s = self._view.time_s
        return self.stack.observe(self._view)

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        if self.sim is None or self._view is None:
            raise RuntimeError("call reset() before step()")
        requested = int(action)
        if not 0 <= requested < len(self._mask):
            raise ValueError(f"action {action!r} is outside Discrete({len(self._mask)})")
        if not self._mask[requested]:
            name = self.actions.name(requested)
            raise ValueError(f"action {requested} ({name}) is masked: it offloads and this preset has no edge server")
        applied, replaced = self.stack.apply(self._view, requested)
        obs, reward, terminated, truncated, info = self._advance(applied)
        if replaced:
            if self.stack.shield is not None:
                info.update(shielded=1, requested_mode=requested)
            else:
                info.update(fallback_dropped=1, requested_mode=requested)
        if self.render_mode == "human":
            self.render()
        return obs, reward, terminated, truncated, info

    def _advance(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        sim = self.sim
        assert sim is not None and self._view is not None
        frame, scene, deadline = self._view.frame, self._view.scene, self._view.deadline_ms
        mode, option = self.actions.mode_list[action], self.actions.fallback_list[action]
        if self._history is not None:
            self._remember_decision(self._view, mode)
        resolved = sim.step(action)
        self._actions.append(action)
        truncated = sim.frames_started >= self._episode_frames
        if truncated:
            resolved += sim.drain()
        self._view = next_view(sim, oracle=self.stack.sees_future)
        if self._history is not None:
            self._remember_outcomes(resolved, self._view.time_s)
        obs = self.stack.observe(self._view)
        reward, info = self._credit(resolved, frame)
        info.update(
            frame=frame,
            scene=scene,
            deadline_ms=deadline,
            action=action,
            mode=mode,
            fallback=option,
            offloaded=int(self._offloads[action]),
            shielded=0,
        )
        if truncated:
            k = kpis(sim.log())
            info.update(
                episode_energy_per_frame_mj=k["energy_per_frame_mj"],
                episode_risky_rate=k["risky_rate"],
                episode_miss_rate=k["deadline_miss_rate"],
                episode_latency_p95_ms=k["latency_p95_ms"],
                episode_longest_miss_streak=k["longest_miss_streak"],
                episode_offload_fraction=k["offload_fraction"],
                episode_fallback_rate=k["fallback_rate"],
            )
        return obs, reward, False, truncated, info

    def _credit(self, resolved: list[FrameRecord], frame: int) -> tuple[float, dict[str, Any]]:
        return credit(resolved, self._w_energy, self._risk, self._miss, frame=frame, credit_gamma=self._credit_gamma)

    # -- rendering (romanus.env.render draws; the env only keeps the last seconds) -------------

    def render(self) -> np.ndarray | None:
        """The last ``RENDER_WINDOW_S`` seconds as an ``(H, W, 3)`` uint8 array
        (``render_mode="rgb_array"``), or shown in a matplotlib window (``"human"``, which
        renders at every reset and step by itself and returns None)."""
        if self.render_mode is None:
            gym.logger.warn(
                "render() was called without a render mode: make the env with render_mode='rgb_array' or 'human', "
                f'e.g. gym.make("{self.preset.gym_id}", render_mode="rgb_array")'
            )
            return None
        frame = self._draw()
        if self.render_mode == "rgb_array":
            return frame
        if self._window is None:
            from romanus.env.render import HumanWindow

            self._window = HumanWindow(self.metadata["render_fps"])
        self._window.show(frame)
        return None

    def _draw(self) -> np.ndarray:
        from romanus.env.render import EpisodeRenderer

        assert self._history is not None
        if self._renderer is None:
            cat = self.catalogue
            self._renderer = EpisodeRenderer(
                title=self.preset.gym_id,
                scenes=tuple(cat.scenes),
                tiers=tuple(self.preset.pipeline.tiers),
                mode_tiers=tuple(m.tier for m in cat.modes),
                deadline_ms=self.preset.deadline_ms,
                latency_cap_ms=self.preset.abandon_after_ms or self.preset.deadline_ms,
                window_s=RENDER_WINDOW_S,
            )
        if self._view is None:
            status = "(before reset)"
        else:
            last = self._history.decisions[-1] if self._history.decisions else None
            mode = "" if last is None else f"   last mode {self.catalogue.modes[last.mode].name}"
            status = f"frame {self._view.frame}   scene {self.catalogue.scenes[self._view.scene]}{mode}"
        return self._renderer.draw(self._history, status)

    def _remember_decision(self, view: VehicleView, mode: int) -> None:
        assert self._history is not None
        report = view.server_report
        self._history.decisions.append(
            DecisionRow(  # positional: this runs every step of a rendering env
                view.time_s,
                view.scene,
                view.uplink_mbps(self._period_s),
                mode,
                self._offloads[mode],
                view.accelerator_backlog_ms,
                view.uplink_backlog_ms,
                float("nan") if report is None else report.wait_ms,
            )
        )

    def _remember_outcomes(self, resolved: list[FrameRecord], now_s: float) -> None:
        assert self._history is not None
        self._history.now_s = now_s
        for r in resolved:
            self._history.outcomes.append(OutcomeRow(r.capture_s, r.latency_ms, r.deadline_met, r.risky))

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        super().close()

    def action_masks(self) -> np.ndarray:
        """Actions that can run now (a fallback only where it can finish by the frame's
        deadline), within the shield's risk budget if there is one (for sb3-contrib's
        MaskablePPO)."""
        if self._view is not None:
            return self.stack.mask(self._view)
        return self._mask.copy()

    # -- pickling: the DES holds live generators, so an env pickles as its inputs ---------------

    def __getstate__(self) -> dict[str, Any]:
        return {
            "init": self._init_args,
            "np_random": self.np_random if self._np_random is not None else None,
            "episode_seed": self._episode_seed,
            "episode_scenario": self._episode_scenario,
            "next_in_suite": self._next_in_suite,
            "actions": list(self._actions),
            "started": self.sim is not None,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        preset, overrides, observation, episode_s, reward, scenario, render_mode = state["init"]
        self.__init__(  # type: ignore[misc]
            preset,
            overrides=overrides or None,
            observation=observation,
            episode_s=episode_s,
            reward=reward,
            scenario=scenario,
            render_mode=render_mode,
        )
        if state["np_random"] is not None:
            self._np_random = state["np_random"]
        self._episode_seed = state["episode_seed"]
        self._episode_scenario = state["episode_scenario"]
        self._next_in_suite = state["next_in_suite"]
        if state["started"]:
            self._start_episode()  # the simulator is deterministic: replay the episode so far
            for mode in state["actions"]:
                self._advance(mode)
