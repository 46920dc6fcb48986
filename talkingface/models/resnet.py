"""Bottleneck ResNet trunk (ResNet-50 layout) ending at global average pooling, without the fc layer.

Module names follow the torchvision convention that Deep3DFaceRecon's checkpoint uses
(``conv1``, ``bn1``, ``layer{1..4}.{i}.conv{1,2,3}``, ``bn{1,2,3}``, ``downsample.{0,1}``), so the
official ``face_3drecon.backbone.*`` keys load unchanged. The stride of a stage sits on the 3x3 conv
of its first block ("ResNet v1.5").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ResNetConfig:
    """Blocks per stage and the stem width; ResNet-50 is (3, 4, 6, 3) with 64."""

    blocks: tuple[int, ...] = (3, 4, 6, 3)
    width: int = 64
    expansion: int = 4

    @property
    def out_channels(self) -> int:
        return self.width * 2 ** (len(self.blocks) - 1) * self.expansion


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (strided) -> 1x1 expand, plus a (projected) identity shortcut."""

    def __init__(self, in_ch: int, width: int, stride: int, expansion: int) -> None:
        super().__init__()
        out_ch = width * expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, in_ch, H, W] -> [B, width*expansion, H/stride, W/stride]
        shortcut = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + shortcut)


class ResNetTrunk(nn.Module):
    """Stem (7x7/2 conv, 3x3/2 max pool) + four bottleneck stages + global average pool."""

    def __init__(self, config: ResNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ResNetConfig()
        self.conv1 = nn.Conv2d(3, config.width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(config.width)
        in_ch = config.width
        for stage, n_blocks in enumerate(config.blocks):
            width = config.width * 2**stage
            blocks = []
            for i in range(n_blocks):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(Bottleneck(in_ch, width, stride, config.expansion))
                in_ch = width * config.expansion
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, 3, H, W] -> [B, out_channels, 1, 1]
        x = F.relu(self.bn1(self.conv1(x)))  # [B, 64, H/2, W/2]
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)  # [B, 64, H/4, W/4]
        for stage in range(len(self.config.blocks)):
            x = getattr(self, f"layer{stage + 1}")(x)  # ... -> [B, 2048, H/32, W/32]
        return F.adaptive_avg_pool2d(x, 1)
