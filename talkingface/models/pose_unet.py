"""ResUnet over a pose sequence viewed as a 1-channel [seq, 6] image (PoseVAE's encoder and decoder).

Down/up sampling acts on the time axis only (stride (2, 1)): 32 -> 16 -> 8 -> 4 -> 8 -> 16 -> 32.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualConv(nn.Module):
    """Pre-activation residual unit: BN-ReLU-conv(stride)-BN-ReLU-conv  +  conv(stride)-BN skip."""

    def __init__(self, cin: int, cout: int, stride: int | tuple[int, int]) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.BatchNorm2d(cin),
            nn.ReLU(),
            nn.Conv2d(cin, cout, 3, stride, 1),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1),
        )
        self.conv_skip = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_block(x) + self.conv_skip(x)


class Upsample(nn.Module):
    """Transposed conv doubling the time axis."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.upsample = nn.ConvTranspose2d(channels, channels, (2, 1), (2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsample(x)


class ResUnet(nn.Module):
    """[B, 1, S, 6] -> [B, 1, S, 6] in (0, 1); S must be divisible by 8."""

    def __init__(self, channels: int = 1, filters: tuple[int, int, int, int] = (32, 64, 128, 256)) -> None:
        super().__init__()
        f0, f1, f2, f3 = filters
        down = (2, 1)
        self.input_layer = nn.Sequential(
            nn.Conv2d(channels, f0, 3, padding=1),
            nn.BatchNorm2d(f0),
            nn.ReLU(),
            nn.Conv2d(f0, f0, 3, padding=1),
        )
        self.input_skip = nn.Sequential(nn.Conv2d(channels, f0, 3, padding=1))
        self.residual_conv_1 = ResidualConv(f0, f1, down)
        self.residual_conv_2 = ResidualConv(f1, f2, down)
        self.bridge = ResidualConv(f2, f3, down)
        self.upsample_1 = Upsample(f3)
        self.up_residual_conv1 = ResidualConv(f3 + f2, f2, 1)
        self.upsample_2 = Upsample(f2)
        self.up_residual_conv2 = ResidualConv(f2 + f1, f1, 1)
        self.upsample_3 = Upsample(f1)
        self.up_residual_conv3 = ResidualConv(f1 + f0, f0, 1)
        self.output_layer = nn.Sequential(nn.Conv2d(f0, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[2] % 8:
            raise ValueError(
                f"ResUnet input must be [B, C, S, W] with S divisible by 8, got {tuple(x.shape)}"
            )
        x1 = self.input_layer(x) + self.input_skip(x)  # [B, 32, S, 6]
        x2 = self.residual_conv_1(x1)  # [B, 64, S/2, 6]
        x3 = self.residual_conv_2(x2)  # [B, 128, S/4, 6]
        x4 = self.bridge(x3)  # [B, 256, S/8, 6]
        x5 = self.up_residual_conv1(torch.cat([self.upsample_1(x4), x3], dim=1))  # [B, 128, S/4, 6]
        x6 = self.up_residual_conv2(torch.cat([self.upsample_2(x5), x2], dim=1))  # [B, 64, S/2, 6]
        x7 = self.up_residual_conv3(torch.cat([self.upsample_3(x6), x1], dim=1))  # [B, 32, S, 6]
        return self.output_layer(x7)  # [B, 1, S, 6]
