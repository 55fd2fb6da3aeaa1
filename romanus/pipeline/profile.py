"""Per-module costs (vehicle ms, server ms, output bytes), from a profile file or derived.

Without a profile file, costs derive from MACs (:mod:`romanus.pipeline.arch`) and one
calibration point (DESIGN.md section 4, DRIVE PX2 at 672x376 with TensorRT, from
EnergyShield): the ResNet-18 detector backbone (stem + ``layer2..layer4``) takes
``detector_ms``. Every module, bottleneck heads included, scales by its MACs from it. (A head
is the stem plus an encoder, 2.94 GMAC; EnergyShield's 3.54 ms belongs to its distilled
head, a smaller network than the stem it replaces, and timing our stem-sized head at that rate
would make it faster than the bare stem: ``calibration.head_ms`` is no longer used, see
docs/physics.md.) Server module time is vehicle time divided by the server speed-up.

With ``pipeline.profile`` (a file written by ``romanus profile``; the default preset uses the
shipped ``builtin:px2``) the vehicle latency of every module is the file's ``latency_ms``; with
``server.profile`` the server's is too (e.g. a profile measured on a GPU server). A file's
modules must match the pipeline's architecture (same MACs), or loading stops with an error.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from romanus.config import PipelineConfig, SensorConfig, SplitPoint, parse_split_point
from romanus.configio import ConfigError
from romanus.pipeline import arch

__all__ = [
    "PROFILE_FORMAT",
    "PROFILE_FORMAT_VERSION",
    "ModuleProfile",
    "PipelineProfile",
    "load_profile_file",
    "resolve_profile_path",
    "sensor_compressed_bytes",
    "sensor_raw_bytes",
]

PROFILE_FORMAT = "romanus-profile"
PROFILE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModuleProfile:
    name: str
    macs: int
    vehicle_ms: float
    server_ms: float
    output_bytes: int
    provenance: str


def sensor_raw_bytes(sensor: SensorConfig, height: int, width: int) -> int:
    """Bytes of one uncompressed sensor frame: the reference of the payload rule."""
    if sensor.kind == "image":
        return height * width * sensor.channels
    return sensor.points * sensor.bytes_per_point


def sensor_compressed_bytes(sensor: SensorConfig, height: int, width: int) -> int:
    """Bytes of one compressed sensor frame (the ``raw`` split point's payload)."""
    elements = height * width if sensor.kind == "image" else sensor.points
    return round(elements * sensor.compressed_bits_per_element / 8)


def resolve_profile_path(ref: str) -> Path:
    """A profile path, or ``builtin:NAME`` for one shipped in ``romanus.data.profiles``."""
    if ref.startswith("builtin:"):
        return Path(str(importlib.resources.files("romanus.data") / "profiles" / f"{ref[len('builtin:') :]}.json"))
    return Path(ref)


@functools.lru_cache(maxsize=16)
def load_profile_file(ref: str) -> dict[str, Any]:
    """Read and check a profile file (``romanus profile`` writes them)."""
    path = resolve_profile_path(ref)
    source = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(ref, "", f"cannot read the profile: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(source, f"line {exc.lineno}", f"not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
        raise ConfigError(source, "format", f"not a {PROFILE_FORMAT} file")
    version = data.get("format_version")
    if not isinstance(version, int) or version > PROFILE_FORMAT_VERSION:
        raise ConfigError(
            source, "format_version", f"unsupported version {version!r} (this romanus reads {PROFILE_FORMAT_VERSION})"
        )
    modules = data.get("modules")
    if not isinstance(modules, dict) or not modules:
        raise ConfigError(source, "modules", "expected a mapping of module name to costs")
    for name, m in modules.items():
        for key in ("macs", "latency_ms", "output_shape"):
            if not isinstance(m, dict) or key not in m:
                raise ConfigError(source, f"modules.{name}.{key}", "missing")
        lat = m["latency_ms"]
        if isinstance(lat, bool) or not isinstance(lat, int | float) or not lat >= 0:
            raise ConfigError(source, f"modules.{name}.latency_ms", f"must be a number >= 0, got {lat!r}")
    return data


class PipelineProfile:
    """Costs of every module the operating modes use, for one pipeline and server."""

    def __init__(
        self,
        pipeline: PipelineConfig,
        server_speedup: float = 1.0,
        *,
        server_profile: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.server_speedup = server_speedup
        h, w = pipeline.input_height, pipeline.input_width
        self._stem3 = arch.stem(h, w, 3)
        self.stem_shape = self._stem3.output_shape
        self._layers: dict[int, arch.ModuleCost] = {}
        shape = self.stem_shape
        for layer in (2, 3, 4):
            cost = arch.tail_layer(layer, shape)
            self._layers[layer] = cost
            shape = cost.output_shape
        self.feature_shape = shape
        cal = pipeline.calibration
        backbone_macs = self._stem3.macs + sum(c.macs for c in self._layers.values())
        self.vehicle_ms_per_gmac = cal.detector_ms / (backbone_macs / 1e9)
        self._backbone_note = (
            f"scaled by MACs from detector_ms={cal.detector_ms} ms for stem+layer2..4 "
            f"({backbone_macs / 1e9:.3f} GMAC) {cal.note}".strip()
        )
        self._vehicle_file = None if pipeline.profile is None else load_profile_file(pipeline.profile)
        self._server_file = None if server_profile is None else load_profile_file(server_profile)
        self._vehicle_ref, self._server_ref = pipeline.profile, server_profile
        self._analytic: dict[str, tuple[int, float]] = {}

    # -- names -----------------------------------------------------------------------------

    @staticmethod
    def stem_name(in_channels: int) -> str:
        return "stem" if in_channels == 3 else f"stem-in{in_channels}"

    @staticmethod
    def head_name(split: SplitPoint, in_channels: int) -> str:
        return f"head-{split.name}" + ("" if in_channels == 3 else f"-in{in_channels}")

    # -- helpers ---------------------------------------------------------------------------

    def _from_file(self, data: dict[str, Any], ref: str, name: str, macs: int) -> tuple[float, str]:
        entry = data["modules"].get(name)
        if entry is None:
            raise ConfigError(
                ref, f"modules.{name}", "the profile has no such module (regenerate it with romanus profile)"
            )
        if int(entry["macs"]) != macs:
            raise ConfigError(
                ref,
                f"modules.{name}.macs",
                f"{entry['macs']} MACs in the profile, {macs} in this pipeline (another input size or architecture?)",
            )
        prov = data.get("provenance", {})
        note = f"{ref}: {data.get('calibration', {}).get('method', '?')} on {prov.get('device_name', '?')}"
        return float(entry["latency_ms"]), note

    def _module(self, cost: arch.ModuleCost, bits: int = 32, *, name: str | None = None) -> ModuleProfile:
        name = name or cost.name
        analytic_ms = cost.macs / 1e9 * self.vehicle_ms_per_gmac
        self._analytic[name] = (cost.macs, analytic_ms)
        note = self._backbone_note
        vehicle_ms = analytic_ms
        if self._vehicle_file is not None:
            assert self._vehicle_ref is not None
            vehicle_ms, note = self._from_file(self._vehicle_file, self._vehicle_ref, name, cost.macs)
        server_ms = vehicle_ms / self.server_speedup
        if self._server_file is not None:
            assert self._server_ref is not None
            server_ms, server_note = self._from_file(self._server_file, self._server_ref, name, cost.macs)
            note = f"{note}; server: {server_note}"
        return ModuleProfile(
            name=name,
            macs=cost.macs,
            vehicle_ms=vehicle_ms,
            server_ms=server_ms,
            output_bytes=cost.output_bytes(bits),
            provenance=note,
        )

    def analytic_ms(self, name: str) -> float:
        """The MAC-calibrated PX2 latency of a module already looked up by name."""
        return self._analytic[name][1]

    # -- modules ---------------------------------------------------------------------------

    @property
    def _hw(self) -> tuple[int, int]:
        return self.pipeline.input_height, self.pipeline.input_width

    def stem(self, in_channels: int = 3) -> ModuleProfile:
        cost = self._stem3 if in_channels == 3 else arch.stem(*self._hw, in_channels)
        return self._module(cost, name=self.stem_name(in_channels))

    def head(self, split: SplitPoint, in_channels: int = 3) -> ModuleProfile:
        """Bottleneck head on the vehicle: stem + encoder, output quantised to ``split.bits``,
        timed by its MACs at the PX2 rate like every other module."""
        stem = self._stem3 if in_channels == 3 else arch.stem(*self._hw, in_channels)
        enc = arch.encoder(self.stem_shape, split.channels)
        name = self.head_name(split, in_channels)
        cost = arch.ModuleCost(name, stem.input_shape, enc.output_shape, stem.macs + enc.macs)
        return self._module(cost, split.bits, name=name)

    def decoder(self, split: SplitPoint) -> ModuleProfile:
        code_shape = arch.encoder(self.stem_shape, split.channels).output_shape
        return self._module(arch.decoder(code_shape, self.stem_shape))

    def merge(self, n_inputs: int) -> ModuleProfile:
        return self._module(arch.merge(self.stem_shape, n_inputs))

    def layer(self, layer: int, bits: int = 32) -> ModuleProfile:
        return self._module(self._layers[layer], bits)

    @cached_property
    def rpn(self) -> ModuleProfile:
        return self._module(arch.rpn(self.feature_shape, self.pipeline.rpn_anchors))

    @cached_property
    def box_head(self) -> ModuleProfile:
        p = self.pipeline
        cost = arch.box_head(self.feature_shape, p.rpn_proposals, p.num_classes, p.box_head_dim, p.roi_output_size)
        return self._module(cost)

    def compress(self, sensor_name: str) -> ModuleProfile:
        sensor = self.pipeline.sensors[sensor_name]
        return ModuleProfile(
            name=f"compress-{sensor_name}",
            macs=0,
            vehicle_ms=sensor.compress_ms,
            server_ms=0.0,
            output_bytes=sensor_compressed_bytes(sensor, *self._hw),
            provenance=f"configured: {sensor.compressed_bits_per_element} bits/element; {sensor.note}".strip(),
        )

    def raw_bytes(self, sensor_name: str) -> int:
        return sensor_raw_bytes(self.pipeline.sensors[sensor_name], *self._hw)

    def branch_tail(self, first_layer: int = 2) -> list[ModuleProfile]:
        """Modules of a branch after its stems (and merge), from ``layer<first_layer>`` on."""
        return [self.layer(k) for k in range(first_layer, 5)] + [self.rpn, self.box_head]

    def table(self) -> list[ModuleProfile]:
        """Every distinct module of the pipeline, for display and export."""
        channels = sorted({s.input_channels for s in self.pipeline.stems.values()})
        rows = [self.stem(c) for c in channels]
        for name in self.pipeline.split_points:
            sp = parse_split_point(name)
            if sp.kind == "bottleneck":
                rows += [self.head(sp, c) for c in channels]
                rows.append(self.decoder(sp))
        fan_in = sorted({len(s) for s in self.pipeline.branches.values() if len(s) > 1})
        rows += [self.merge(n) for n in fan_in]
        rows += self.branch_tail()
        rows += [self.compress(s) for s in self.pipeline.sensors]
        return rows
