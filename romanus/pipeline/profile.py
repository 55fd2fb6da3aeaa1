"""Per-module costs (vehicle ms, server ms, output bytes) derived from MACs and calibration.

Two calibration points (DESIGN.md section 4, DRIVE PX2 at 672x376 with TensorRT, from
EnergyShield): the ResNet-18 detector backbone (stem + ``layer2..layer4``) takes
``detector_ms`` and the bottleneck head takes ``head_ms``. Every backbone and head module
scales by its MACs from the first point; bottleneck heads of other widths scale by MACs from
the second (a distilled, separately measured network runs at its own rate). Server module time
is vehicle time divided by the server speed-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from romanus.config import PipelineConfig, SensorConfig, SplitPoint, parse_split_point
from romanus.pipeline import arch

__all__ = ["ModuleProfile", "PipelineProfile", "sensor_compressed_bytes", "sensor_raw_bytes"]


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


class PipelineProfile:
    """Costs of every module the operating modes use, for one pipeline and server."""

    def __init__(self, pipeline: PipelineConfig, server_speedup: float) -> None:
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
        ref = parse_split_point(cal.head_reference)
        ref_macs = self._stem3.macs + arch.encoder(self.stem_shape, ref.channels).macs
        self.head_ms_per_gmac = cal.head_ms / (ref_macs / 1e9)
        self._backbone_note = (
            f"scaled by MACs from detector_ms={cal.detector_ms} ms for stem+layer2..4 "
            f"({backbone_macs / 1e9:.3f} GMAC) {cal.note}".strip()
        )
        self._head_note = (
            f"scaled by MACs from head_ms={cal.head_ms} ms for {cal.head_reference} "
            f"({ref_macs / 1e9:.3f} GMAC) {cal.note}".strip()
        )

    # -- helpers ---------------------------------------------------------------------------

    def _module(self, cost: arch.ModuleCost, bits: int = 32, *, head: bool = False) -> ModuleProfile:
        rate = self.head_ms_per_gmac if head else self.vehicle_ms_per_gmac
        vehicle_ms = cost.macs / 1e9 * rate
        return ModuleProfile(
            name=cost.name,
            macs=cost.macs,
            vehicle_ms=vehicle_ms,
            server_ms=vehicle_ms / self.server_speedup,
            output_bytes=cost.output_bytes(bits),
            provenance=self._head_note if head else self._backbone_note,
        )

    # -- modules ---------------------------------------------------------------------------

    def stem(self, in_channels: int = 3) -> ModuleProfile:
        cost = self._stem3 if in_channels == 3 else arch.stem(*self._hw, in_channels)
        return self._module(cost)

    @property
    def _hw(self) -> tuple[int, int]:
        return self.pipeline.input_height, self.pipeline.input_width

    def head(self, split: SplitPoint, in_channels: int = 3) -> ModuleProfile:
        """Bottleneck head on the vehicle: stem + encoder, output quantised to ``split.bits``."""
        stem = self._stem3 if in_channels == 3 else arch.stem(*self._hw, in_channels)
        enc = arch.encoder(self.stem_shape, split.channels)
        cost = arch.ModuleCost(f"head-{split.name}", stem.input_shape, enc.output_shape, stem.macs + enc.macs)
        return self._module(cost, split.bits, head=True)

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
        rows = [self.stem()]
        for name in self.pipeline.split_points:
            sp = parse_split_point(name)
            if sp.kind == "bottleneck":
                rows += [self.head(sp), self.decoder(sp)]
        fan_in = sorted({len(s) for s in self.pipeline.branches.values() if len(s) > 1})
        rows += [self.merge(n) for n in fan_in]
        rows += self.branch_tail()
        rows += [self.compress(s) for s in self.pipeline.sensors]
        return rows
