"""Conv + BatchNorm building blocks shared by the face renderer (face-vid2vid style).

Every block keeps the checkpoint's child names ``conv`` / ``norm`` (``conv1``/``conv2``/``norm1``/``norm2``
for the residual block) so the official keys load unchanged. BatchNorm runs with its running statistics
at inference (SadTalker's SynchronizedBatchNorm behaves as plain BatchNorm there).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SameBlock2d(nn.Module):
    """3x3 conv -> BN -> ReLU (or LeakyReLU 0.01); keeps H, W."""

    def __init__(self, in_features: int, out_features: int, lrelu: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_features)
        self.lrelu = lrelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, Cin, H, W] -> [B, Cout, H, W]
        x = self.norm(self.conv(x))
        return F.leaky_relu(x) if self.lrelu else F.relu(x)


class DownBlock2d(nn.Module):
    """3x3 conv -> BN -> ReLU -> 2x2 average pool; halves H, W."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, Cin, H, W] -> [B, Cout, H/2, W/2]
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), kernel_size=2)


class DownBlock3d(nn.Module):
    """3x3x3 conv -> BN -> ReLU -> (1, 2, 2) average pool; halves H, W, keeps depth."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, Cin, D, H, W] -> [B, Cout, D, H/2, W/2]
        return F.avg_pool3d(F.relu(self.norm(self.conv(x))), kernel_size=(1, 2, 2))


class UpBlock3d(nn.Module):
    """Nearest (1, 2, 2) upsample -> 3x3x3 conv -> BN -> ReLU; doubles H, W, keeps depth."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, Cin, D, H, W] -> [B, Cout, D, 2H, 2W]
        x = F.interpolate(x, scale_factor=(1, 2, 2))
        return F.relu(self.norm(self.conv(x)))


class ResBlock3d(nn.Module):
    """Pre-activation residual block: x + conv2(relu(bn2(conv1(relu(bn1(x))))))."""

    def __init__(self, features: int) -> None:
        super().__init__()
        # Registration order = the checkpoint's state_dict order (conv1, conv2, norm1, norm2).
        self.conv1 = nn.Conv3d(features, features, kernel_size=3, padding=1)
        self.conv2 = nn.Conv3d(features, features, kernel_size=3, padding=1)
        self.norm1 = nn.BatchNorm3d(features)
        self.norm2 = nn.BatchNorm3d(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, D, H, W] -> same
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x
