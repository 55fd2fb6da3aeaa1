"""The operating-mode catalogue, generated from the pipeline config.

An operating mode is a *tier* (a named set of active branches) plus, for every offload group
the tier uses, a placement: ``local`` or one of the configured split points. The catalogue is
the product of tiers and per-group placements; groups a tier does not use are left out, so
no two modes describe the same work.

Only modes that can run are in the catalogue; the others are listed in ``rejected`` with the
reason. A split point is a candidate for a group of a tier only if every path of that group
passes the payload rule (LENS): what it sends must be smaller than the raw sensor data it
stands for (per stem for stem-level points, per branch for tail points). A combination is
structurally impossible when a fused branch consumes stems of groups with incompatible
placements (e.g. one group local and the other offloaded at a stem-level point, or two
different tail layers). What can run depends on the moment too: :meth:`ModeCatalogue.mask`
masks every offloading mode when no edge server is available (masked, never remapped).

Placement semantics. A stem-level point (``raw``, ``bottleneck-*``) offloads the stem: the
vehicle runs the compressor or the bottleneck head, the server the stem or the decoder, and
every branch over offloaded stems runs on the server. A tail point ``layerK`` keeps the
branch's stems, merge and ResNet layers up to K on the vehicle, sends that map, and the server
runs the rest. Within a frame the vehicle runs everything the payload needs first (the
*prefix*), then the purely local work.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from romanus.config import PipelineConfig, SplitPoint, parse_split_point
from romanus.configio import ConfigError
from romanus.pipeline.profile import PipelineProfile

__all__ = ["LOCAL", "Mode", "ModeCatalogue"]

LOCAL = "local"


@dataclass(frozen=True)
class Mode:
    index: int
    name: str
    tier: str
    branches: tuple[str, ...]
    placement: tuple[tuple[str, str], ...]  # (group, "local" | split point) for used groups
    prefix_ms: float  # vehicle ms before the payload is ready (run first)
    local_ms: float  # vehicle ms of the purely local work (run after the prefix)
    uplink_bytes: int
    server_ms: float  # mean server ms of the request
    downlink_bytes: int
    robustness: tuple[float, ...]  # per scene, in catalogue.scenes order: best branch score

    @property
    def offloaded(self) -> bool:
        return self.uplink_bytes > 0

    @property
    def vehicle_ms(self) -> float:
        return self.prefix_ms + self.local_ms

    @property
    def placement_text(self) -> str:
        return ",".join(f"{g}={p}" for g, p in self.placement)


class ModeCatalogue:
    """All operating modes of a pipeline, with costs and robustness."""

    def __init__(self, pipeline: PipelineConfig, profile: PipelineProfile) -> None:
        self.pipeline = pipeline
        self.profile = profile
        self.scenes: tuple[str, ...] = tuple(pipeline.robustness)
        self.branch_names: tuple[str, ...] = tuple(pipeline.branches)
        self._group_of = {stem: g for g, stems in pipeline.groups.items() for stem in stems}
        scores = np.array([pipeline.robustness[s] for s in self.scenes], dtype=np.float64)
        self.scene_best = scores.max(axis=1)
        #: score a frame's branch set needs in each scene to count as robust
        self.required = self.scene_best - pipeline.robustness_margin
        self._scores = scores
        #: (what, why) of candidates that cannot run: split points failing the payload rule,
        #: and placements a fused branch would straddle
        self.rejected: list[tuple[str, str]] = []
        #: per tier, per used group: the placements the catalogue offers
        self.split_choices: dict[str, dict[str, tuple[str, ...]]] = {}
        modes: list[Mode] = []
        for tier, branches in pipeline.tiers.items():
            groups = self._groups_of(branches)
            choices = {g: self._split_choices(tier, g) for g in groups}
            self.split_choices[tier] = choices
            for combo in itertools.product(*(choices[g] for g in groups)):
                placement = tuple(zip(groups, combo, strict=True))
                made = self._make(len(modes), tier, branches, placement)
                if isinstance(made, str):
                    self.rejected.append((tier + "|" + ",".join(f"{g}={p}" for g, p in placement), made))
                else:
                    modes.append(made)
        self._check_split_points()
        self.modes: tuple[Mode, ...] = tuple(modes)
        self.by_name = {m.name: m for m in self.modes}
        self.offload_mask = np.array([m.offloaded for m in self.modes], dtype=bool)
        self.robustness = np.array([m.robustness for m in self.modes], dtype=np.float64)  # (modes, scenes)
        self.robust_ok = self.robustness >= self.required[None, :] - 1e-9  # (modes, scenes)
        self._local_robust = tuple(self._pick_local_robust(s) for s in range(len(self.scenes)))
        self._offload_all = tuple(self._pick_offload(s) for s in range(len(self.scenes)))
        self._cheapest_robust = tuple(self._pick_cheapest_robust(s) for s in range(len(self.scenes)))

    def __len__(self) -> int:
        return len(self.modes)

    # -- construction ----------------------------------------------------------------------

    def _groups_of(self, branches: tuple[str, ...]) -> tuple[str, ...]:
        used = {self._group_of[s] for b in branches for s in self.pipeline.branches[b]}
        return tuple(g for g in self.pipeline.groups if g in used)

    def _sensors_of(self, stems: tuple[str, ...] | list[str]) -> list[str]:
        return list(dict.fromkeys(self.pipeline.stems[s].sensor for s in stems))

    def _passes(self, stems: tuple[str, ...], sp: SplitPoint) -> bool:
        """The payload rule for one path: what it sends is smaller than its raw sensor data."""
        prof, p = self.profile, self.pipeline
        if sp.stem_level:
            return all(self._stem_payload(s, sp) < prof.raw_bytes(p.stems[s].sensor) for s in stems)
        raw = sum(prof.raw_bytes(x) for x in self._sensors_of(stems))
        return prof.layer(sp.layer, sp.bits).output_bytes < raw

    def _split_choices(self, tier: str, group: str) -> tuple[str, ...]:
        """``local`` plus the split points at which every path of ``group`` in the tier
        passes the payload rule (a point failing it is not a candidate, DESIGN.md section 3)."""
        p = self.pipeline
        branches = p.tiers[tier]
        in_group = p.groups[group]
        choices = [LOCAL]
        for name in p.split_points:
            sp = parse_split_point(name)
            if sp.stem_level:
                used = [s for b in branches for s in p.branches[b] if s in in_group]
                ok = self._passes(tuple(dict.fromkeys(used)), sp)
            else:
                ok = all(self._passes(p.branches[b], sp) for b in branches if any(s in in_group for s in p.branches[b]))
            if ok:
                choices.append(name)
            else:
                self.rejected.append((f"{tier}|{group}={name}", "a path sends more than its raw sensor data"))
        return tuple(choices)

    def _check_split_points(self) -> None:
        """A configured split point no path can use (its payload is never below the raw data)
        is a configuration error, not something to drop silently."""
        p = self.pipeline
        for i, name in enumerate(p.split_points):
            sp = parse_split_point(name)
            if sp.stem_level:
                usable = any(self._passes((s,), sp) for s in p.stems)
            else:
                usable = any(self._passes(stems, sp) for stems in p.branches.values())
            if not usable:
                raise ConfigError(
                    "pipeline",
                    f"split_points[{i}]",
                    f"{name} sends more than the raw sensor data on every path (the payload rule); remove it",
                )

    def _stem_payload(self, stem: str, sp: SplitPoint) -> int:
        if sp.kind == "raw":
            return self.profile.compress(self.pipeline.stems[stem].sensor).output_bytes
        return self.profile.head(sp, self.pipeline.stems[stem].input_channels).output_bytes

    def _make(
        self, index: int, tier: str, branches: tuple[str, ...], placement: tuple[tuple[str, str], ...]
    ) -> Mode | str:
        """The mode, or why it cannot run."""
        p, prof = self.pipeline, self.profile
        where = dict(placement)
        name = tier + "|" + ",".join(f"{g}={pl}" for g, pl in placement)
        prefix = local = server = 0.0
        up = down = 0
        problems: list[str] = []
        local_stems: list[str] = []  # stems computed on the vehicle (each once)
        prefix_stems: list[str] = []  # of those, the ones the payload needs
        server_stems: list[str] = []  # stems whose data goes to the server
        for b in branches:
            stems = p.branches[b]
            kinds = {where[self._group_of[s]] for s in stems}
            if kinds == {LOCAL}:
                local_stems += [s for s in stems if s not in local_stems]
                mods = ([prof.merge(len(stems))] if len(stems) > 1 else []) + prof.branch_tail()
                local += sum(m.vehicle_ms for m in mods)
                continue
            points = {k: parse_split_point(k) for k in kinds if k != LOCAL}
            if LOCAL in kinds or (len(kinds) > 1 and not all(sp.stem_level for sp in points.values())):
                text = ", ".join(f"{g}={where[g]}" for g in dict.fromkeys(self._group_of[s] for s in stems))
                problems.append(f"branch {b} mixes placements ({text})")
                continue
            merge = [prof.merge(len(stems))] if len(stems) > 1 else []
            if all(sp.stem_level for sp in points.values()):
                server_stems += [s for s in stems if s not in server_stems]
                server += sum(m.server_ms for m in [*merge, *prof.branch_tail()])
                down += p.result_bytes_per_branch
                continue
            (sp,) = points.values()
            payload = prof.layer(sp.layer, sp.bits).output_bytes
            raw = sum(prof.raw_bytes(x) for x in self._sensors_of(stems))
            if payload >= raw:
                problems.append(f"branch {b}: {sp.name} payload {payload} B is not below its raw data {raw} B")
                continue
            prefix_stems += [s for s in stems if s not in prefix_stems]
            prefix += sum(m.vehicle_ms for m in [*merge, *(prof.layer(k) for k in range(2, sp.layer + 1))])
            server += sum(m.server_ms for m in prof.branch_tail(sp.layer + 1))
            up += payload
            down += p.result_bytes_per_branch
        # Stems: local ones once; offloaded ones per their group's stem-level point.
        for s in local_stems:
            local += prof.stem(p.stems[s].input_channels).vehicle_ms
        for s in prefix_stems:
            if s not in local_stems:
                prefix += prof.stem(p.stems[s].input_channels).vehicle_ms
        sent_raw: set[str] = set()
        for s in server_stems:
            sp = parse_split_point(where[self._group_of[s]])
            sensor = p.stems[s].sensor
            in_ch = p.stems[s].input_channels
            if sp.kind == "raw":
                server += prof.stem(in_ch).server_ms
                if sensor not in sent_raw:
                    sent_raw.add(sensor)
                    comp = prof.compress(sensor)
                    if comp.output_bytes >= prof.raw_bytes(sensor):
                        problems.append(f"stem {s}: compressed {sensor} is not below its raw data")
                    prefix += comp.vehicle_ms
                    up += comp.output_bytes
            else:
                head = prof.head(sp, in_ch)
                if head.output_bytes >= prof.raw_bytes(sensor):
                    problems.append(f"stem {s}: {sp.name} payload is not below its raw data")
                prefix += head.vehicle_ms
                server += prof.decoder(sp).server_ms
                up += head.output_bytes
        if problems:
            return "; ".join(problems)
        idx = [self.branch_names.index(b) for b in branches]
        robustness = tuple(float(self._scores[si, idx].max()) for si in range(len(self.scenes)))
        return Mode(
            index=index,
            name=name,
            tier=tier,
            branches=branches,
            placement=placement,
            prefix_ms=prefix,
            local_ms=local,
            uplink_bytes=up,
            server_ms=server,
            downlink_bytes=down,
            robustness=robustness,
        )

    # -- queries ---------------------------------------------------------------------------

    def index(self, name: str) -> int:
        try:
            return self.by_name[name].index
        except KeyError:
            raise KeyError(f"no operating mode named {name!r}") from None

    def scene_index(self, scene: str) -> int:
        return self.scenes.index(scene)

    def mode_for(self, tier: str, split: str | dict[str, str]) -> Mode:
        """The mode of ``tier`` with every used group at ``split`` (or a group -> split map)."""
        branches = self.pipeline.tiers[tier]
        groups = self._groups_of(branches)
        where = split if isinstance(split, dict) else dict.fromkeys(groups, split)
        name = tier + "|" + ",".join(f"{g}={where[g]}" for g in groups)
        return self.by_name[name]

    def _local_ms(self, tier: str) -> float:
        return self.mode_for(tier, LOCAL).vehicle_ms

    def robust_tier(self, scene_idx: int) -> str:
        """The scene's most robust tier; ties go to the cheapest on the vehicle, then config order."""
        tiers = list(self.pipeline.tiers)
        scores = [self.mode_for(t, LOCAL).robustness[scene_idx] for t in tiers]
        best = max(scores)
        candidates = [t for t, s in zip(tiers, scores, strict=True) if s >= best - 1e-12]
        return min(candidates, key=lambda t: (self._local_ms(t), tiers.index(t)))

    def _pick_local_robust(self, scene_idx: int) -> int:
        return self.mode_for(self.robust_tier(scene_idx), LOCAL).index

    def _pick_cheapest_robust(self, scene_idx: int) -> int:
        local = [m for m in self.modes if not m.offloaded and self.robust_ok[m.index, scene_idx]]
        if not local:
            return self._local_robust[scene_idx]
        return min(local, key=lambda m: (m.vehicle_ms, m.index)).index

    def _pick_offload(self, scene_idx: int) -> int:
        tier = self.robust_tier(scene_idx)
        groups = self._groups_of(self.pipeline.tiers[tier])
        split = self.pipeline.default_split
        choices = self.split_choices[tier]
        where = {g: split if split in choices[g] else choices[g][-1] for g in groups}
        return self.mode_for(tier, where).index

    def cheapest_robust_local(self, scene_idx: int) -> int:
        """Index of the least-compute tier robust enough for the scene, all on the vehicle (the
        scene's robust tier if none is cheaper)."""
        return self._cheapest_robust[scene_idx]

    def local_robust(self, scene_idx: int) -> int:
        """Index of the scene's robust tier, all on the vehicle (the paper's pure local execution)."""
        return self._local_robust[scene_idx]

    def offload_all(self, scene_idx: int) -> int:
        """Index of the scene's robust tier with every group at the default split point."""
        return self._offload_all[scene_idx]

    def mask(self, server_available: bool) -> np.ndarray:
        """Modes that can run now: every mode with a server, only local ones without."""
        if server_available:
            return np.ones(len(self.modes), dtype=bool)
        return ~self.offload_mask
