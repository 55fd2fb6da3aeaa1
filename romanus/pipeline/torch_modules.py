"""The HydraFusion-shaped detector's modules in pure PyTorch (no torchvision).

They mirror :mod:`romanus.pipeline.arch` layer for layer: ResNet-18 stem (``conv1`` + max-pool +
``layer1``), the bottleneck encoder and decoder of the split point, the fusion
``merge_conv``, ResNet ``layer2..layer4``, the Faster R-CNN RPN head and the two-layer box
head. Weights are random: cost does not depend on their values. RoIAlign and NMS are not
modelled (the box head takes pooled RoI features), like their FLOPs in ``arch``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "BasicBlock",
    "BottleneckHead",
    "BoxHead",
    "Decoder",
    "Encoder",
    "Merge",
    "RPNHead",
    "Stem",
    "TailLayer",
]


def _conv3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = _conv3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Stem(nn.Module):
    """ResNet-18 ``conv1 .. layer1``: 64 channels at a quarter of the input resolution."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x)))))


class TailLayer(nn.Module):
    """ResNet-18 ``layer2``, ``layer3`` or ``layer4``."""

    def __init__(self, layer: int) -> None:
        super().__init__()
        cout = 64 * 2 ** (layer - 1)
        self.blocks = nn.Sequential(BasicBlock(cout // 2, cout, 2), BasicBlock(cout, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class Encoder(nn.Module):
    """Bottleneck encoder: 3x3 stride-2 conv to ``channels``, then quantisation to ``bits``.

    Quantisation (scale, round, clamp) is elementwise and costs no multiply-accumulates."""

    def __init__(self, channels: int, bits: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(64, channels, 3, 2, 1, bias=False)
        self.bits = bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.sigmoid(self.conv(x))
        if self.bits >= 32:
            return z
        levels = 2**self.bits - 1
        return torch.round(z * levels) / levels


class BottleneckHead(nn.Module):
    """What runs on the vehicle at a bottleneck split: stem then encoder."""

    def __init__(self, channels: int, bits: int = 8, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = Stem(in_channels)
        self.encoder = Encoder(channels, bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.stem(x))


class Decoder(nn.Module):
    """Server side of a bottleneck split: back to the 64-channel stem output."""

    def __init__(self, channels: int, out_hw: tuple[int, int]) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(channels, 64, 3, 1, 1)
        self.up = nn.ConvTranspose2d(64, 64, 2, 2)
        self.conv_out = nn.Conv2d(64, 64, 3, 1, 1)
        self.out_hw = out_hw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_out(torch.relu(self.up(torch.relu(self.conv_in(x)))))
        return y[..., : self.out_hw[0], : self.out_hw[1]]  # an odd stem side: crop the extra pixel


class Merge(nn.Module):
    """HydraFusion ``merge_conv``: 3x3 conv over ``n`` concatenated stem outputs."""

    def __init__(self, n_inputs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(64 * n_inputs, 64, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


class RPNHead(nn.Module):
    def __init__(self, channels: int = 512, anchors: int = 15) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.cls_logits = nn.Conv2d(channels, anchors, 1)
        self.bbox_pred = nn.Conv2d(channels, 4 * anchors, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.relu(self.conv(x))
        return torch.cat([self.cls_logits(t), self.bbox_pred(t)], dim=1)


class BoxHead(nn.Module):
    """Two-layer MLP over pooled RoI features (``proposals x 512 x 7 x 7``), then predictors."""

    def __init__(self, num_classes: int = 9, dim: int = 1024, channels: int = 512, roi_size: int = 7) -> None:
        super().__init__()
        self.fc6 = nn.Linear(channels * roi_size * roi_size, dim)
        self.fc7 = nn.Linear(dim, dim)
        self.cls_score = nn.Linear(dim, num_classes)
        self.bbox_pred = nn.Linear(dim, 4 * num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc7(torch.relu(self.fc6(x.flatten(1)))))
        return torch.cat([self.cls_score(h), self.bbox_pred(h)], dim=1)
