"""Wav2Lip audio encoder: one 80x16 mel window -> a 512-d embedding (13 conv blocks)."""

from __future__ import annotations

import torch
from torch import nn


class ConvBlock(nn.Module):
    """Conv2d + BatchNorm (``conv_block.0/1``), optional identity residual, then ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int | tuple[int, int], padding: int,
                 residual: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding), nn.BatchNorm2d(cout))
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return torch.relu(out)


# (cin, cout, kernel, stride, padding, residual); spatial size after each stage in the comment.
_BLOCKS = (
    (1, 32, 3, 1, 1, False),  # 80x16
    (32, 32, 3, 1, 1, True),
    (32, 32, 3, 1, 1, True),
    (32, 64, 3, (3, 1), 1, False),  # 27x16
    (64, 64, 3, 1, 1, True),
    (64, 64, 3, 1, 1, True),
    (64, 128, 3, 3, 1, False),  # 9x6
    (128, 128, 3, 1, 1, True),
    (128, 128, 3, 1, 1, True),
    (128, 256, 3, (3, 2), 1, False),  # 3x3
    (256, 256, 3, 1, 1, True),
    (256, 512, 3, 1, 0, False),  # 1x1
    (512, 512, 1, 1, 0, False),
)


class AudioEncoder(nn.Sequential):
    """[N, 1, 80, 16] mel windows -> [N, 512]; state-dict keys ``{0..12}.conv_block.{0,1}.*``."""

    def __init__(self) -> None:
        super().__init__(*(ConvBlock(*spec) for spec in _BLOCKS))

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        if mels.shape[-3:] != (1, 80, 16):
            raise ValueError(f"mel windows must be [N, 1, 80, 16], got {tuple(mels.shape)}")
        return super().forward(mels).flatten(1)  # [N, 512, 1, 1] -> [N, 512]
