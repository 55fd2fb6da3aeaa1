"""Analytic architecture of the HydraFusion-shaped detector: shapes and MACs per module.

Each module is a list of layer specs (convolutions, transposed convolutions, linear layers,
pools); MACs and output shapes follow from the layer arithmetic, so nothing here is a typed-in
cost. Batch 1, multiply-accumulates of convolutions and linear layers only (batch norm, ReLU,
RoIAlign and NMS are not counted: they are a few percent and are what
``torch.utils.flop_counter`` leaves out too).

Modules (ResNet-18 for the backbone, Faster R-CNN heads, torchvision layouts):

- ``stem``: ``conv1`` 7x7/2 + max-pool 3x3/2 + ``layer1`` (two BasicBlocks, 64 channels);
- ``encoder(c)``: 3x3/2 convolution from the 64-channel stem output to ``c`` channels;
- ``decoder(c)``: 3x3 conv ``c -> 64``, 2x2/2 transposed conv, 3x3 conv (back to stem shape);
- ``merge(n)``: 3x3 conv from ``n`` concatenated stem outputs to 64 channels;
- ``layer2``..``layer4``: ResNet-18 stages (two BasicBlocks, the first strided with a 1x1
  downsample);
- ``rpn``: 3x3 conv 512 -> 512 + 1x1 objectness and box-delta convs on the layer4 map;
- ``box_head(p)``: two-layer MLP over 7x7 RoIAlign of the layer4 map, then class and box
  predictors, for ``p`` proposals.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Conv",
    "Linear",
    "ModuleCost",
    "Pool",
    "TransposedConv",
    "box_head",
    "decoder",
    "encoder",
    "merge",
    "rpn",
    "stem",
    "tail_layer",
]

Shape = tuple[int, int, int]  # (channels, height, width)


@dataclass(frozen=True)
class Conv:
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0

    def apply(self, shape: Shape) -> tuple[Shape, int]:
        c, h, w = shape
        oh = (h + 2 * self.padding - self.kernel) // self.stride + 1
        ow = (w + 2 * self.padding - self.kernel) // self.stride + 1
        if oh <= 0 or ow <= 0:
            raise ValueError(f"input {shape} too small for {self}")
        return (self.out_channels, oh, ow), oh * ow * self.out_channels * c * self.kernel * self.kernel


@dataclass(frozen=True)
class TransposedConv:
    out_channels: int
    kernel: int
    stride: int

    def apply(self, shape: Shape) -> tuple[Shape, int]:
        c, h, w = shape
        oh = (h - 1) * self.stride + self.kernel
        ow = (w - 1) * self.stride + self.kernel
        # Every input pixel is multiplied into a kernel x kernel x out patch.
        return (self.out_channels, oh, ow), h * w * c * self.out_channels * self.kernel * self.kernel


@dataclass(frozen=True)
class Pool:
    kernel: int
    stride: int
    padding: int = 0

    def apply(self, shape: Shape) -> tuple[Shape, int]:
        c, h, w = shape
        oh = (h + 2 * self.padding - self.kernel) // self.stride + 1
        ow = (w + 2 * self.padding - self.kernel) // self.stride + 1
        return (c, oh, ow), 0


@dataclass(frozen=True)
class Linear:
    out_features: int

    def apply(self, shape: Shape) -> tuple[Shape, int]:
        n_in = shape[0] * shape[1] * shape[2]
        return (self.out_features, 1, 1), n_in * self.out_features


@dataclass(frozen=True)
class ModuleCost:
    """Output shape and multiply-accumulates of one module for one input."""

    name: str
    input_shape: Shape
    output_shape: Shape
    macs: int

    def output_bytes(self, bits: int) -> int:
        c, h, w = self.output_shape
        return c * h * w * bits // 8


def _run(name: str, shape: Shape, layers: list[Conv | TransposedConv | Pool | Linear]) -> ModuleCost:
    macs = 0
    out = shape
    for layer in layers:
        out, m = layer.apply(out)
        macs += m
    return ModuleCost(name, shape, out, macs)


def _basic_block(shape: Shape, out_channels: int, stride: int) -> tuple[Shape, int]:
    main, m1 = Conv(out_channels, 3, stride, 1).apply(shape)
    main, m2 = Conv(out_channels, 3, 1, 1).apply(main)
    macs = m1 + m2
    if stride != 1 or shape[0] != out_channels:
        _, md = Conv(out_channels, 1, stride, 0).apply(shape)
        macs += md
    return main, macs


def stem(height: int, width: int, in_channels: int = 3) -> ModuleCost:
    """ResNet-18 ``conv1 .. layer1`` on an ``in_channels x height x width`` image."""
    shape: Shape = (in_channels, height, width)
    out, macs = Conv(64, 7, 2, 3).apply(shape)
    out, _ = Pool(3, 2, 1).apply(out)
    for _ in range(2):
        out, m = _basic_block(out, 64, 1)
        macs += m
    return ModuleCost("stem", shape, out, macs)


def tail_layer(layer: int, input_shape: Shape) -> ModuleCost:
    """ResNet-18 ``layer2``/``layer3``/``layer4`` (channels 128/256/512, first block stride 2)."""
    if layer not in (2, 3, 4):
        raise ValueError(f"ResNet-18 tail layers are 2, 3 and 4, got {layer}")
    channels = 64 * 2 ** (layer - 1)
    out, macs = _basic_block(input_shape, channels, 2)
    out, m = _basic_block(out, channels, 1)
    return ModuleCost(f"layer{layer}", input_shape, out, macs + m)


def encoder(stem_shape: Shape, channels: int) -> ModuleCost:
    """Bottleneck encoder: 3x3 stride-2 conv from the stem output to ``channels``."""
    return _run(f"encoder-c{channels}", stem_shape, [Conv(channels, 3, 2, 1)])


def decoder(code_shape: Shape, stem_shape: Shape) -> ModuleCost:
    """Server-side decoder back to the stem output shape."""
    cost = _run(
        f"decoder-c{code_shape[0]}",
        code_shape,
        [Conv(64, 3, 1, 1), TransposedConv(64, 2, 2), Conv(stem_shape[0], 3, 1, 1)],
    )
    # For an odd stem side the transposed conv overshoots by one pixel, which is cropped.
    return ModuleCost(cost.name, code_shape, stem_shape, cost.macs)


def merge(stem_shape: Shape, n_inputs: int) -> ModuleCost:
    """Fusion ``merge_conv``: 3x3 conv over ``n_inputs`` concatenated stem outputs."""
    c, h, w = stem_shape
    return _run(f"merge-{n_inputs}", (c * n_inputs, h, w), [Conv(c, 3, 1, 1)])


def rpn(feature_shape: Shape, anchors: int) -> ModuleCost:
    """Region proposal head on the layer4 map: 3x3 conv, then objectness and box deltas."""
    c = feature_shape[0]
    trunk, m = Conv(c, 3, 1, 1).apply(feature_shape)
    _, m_cls = Conv(anchors, 1).apply(trunk)
    _, m_box = Conv(4 * anchors, 1).apply(trunk)
    return ModuleCost("rpn", feature_shape, (5 * anchors, trunk[1], trunk[2]), m + m_cls + m_box)


def box_head(feature_shape: Shape, proposals: int, num_classes: int, dim: int, roi_size: int) -> ModuleCost:
    """Two-layer MLP box head plus class/box predictors, for ``proposals`` RoIs."""
    pooled: Shape = (feature_shape[0], roi_size, roi_size)
    per_roi = _run("box_head", pooled, [Linear(dim), Linear(dim)])
    _, m_cls = Linear(num_classes).apply((dim, 1, 1))
    _, m_box = Linear(4 * num_classes).apply((dim, 1, 1))
    macs = proposals * (per_roi.macs + m_cls + m_box)
    return ModuleCost(f"box_head-{proposals}", feature_shape, (proposals, 5 * num_classes, 1), macs)
