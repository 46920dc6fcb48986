"""Temporal-conv head: a causal dilated TCN (left-padded convolutions) over the window's frames.

Output position i depends on frames max(0, i-R+1)..i of the window, R the receptive field, so
``tokens`` is causal like the transformer's and ``forward`` keeps the last position.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from talkingface.coeffs import EXP_DIM
from talkingface.emotion.condition import EmotionCondition, HeadConfig


@dataclass(frozen=True)
class TCNConfig(HeadConfig):
    channels: int = 128
    kernel_size: int = 3
    dilations: tuple[int, ...] = (1, 2)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kernel_size < 2 or not self.dilations or min(self.dilations) < 1:
            raise ValueError(
                f"need kernel_size >= 2 and dilations >= 1, got {self.kernel_size}, {self.dilations}"
            )
        if self.receptive_field < self.frame_len:
            raise ValueError(
                f"TCN receptive field {self.receptive_field} is shorter than frame_len {self.frame_len}: "
                "raise kernel_size or add dilations"
            )

    @property
    def receptive_field(self) -> int:
        return 1 + (self.kernel_size - 1) * sum(self.dilations)


class CausalConvBlock(nn.Module):
    """Residual block: dilated causal conv -> GELU -> 1x1 conv."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.pad = (kernel_size - 1) * dilation  # on the left only: no look-ahead
        self.conv = nn.Conv1d(channels, channels, kernel_size, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: Tensor) -> Tensor:
        y = self.conv(F.pad(h, (self.pad, 0)))  # [B, C, L]
        return h + self.drop(self.mix(F.gelu(y)))


class TCNHead(nn.Module):
    def __init__(self, config: TCNConfig):
        super().__init__()
        self.config = config
        self.condition = EmotionCondition(config.emotions, config.emb_dim)
        self.in_proj = nn.Conv1d(EXP_DIM, config.channels, 1)
        self.cond_proj = nn.Linear(self.condition.out_dim, config.channels)
        self.blocks = nn.ModuleList(
            CausalConvBlock(config.channels, config.kernel_size, d, config.dropout) for d in config.dilations
        )
        self.out = nn.Conv1d(config.channels, EXP_DIM, 1)
        nn.init.zeros_(self.out.weight)  # starts as the identity map (f = last frame)
        nn.init.zeros_(self.out.bias)

    def tokens(self, x: Tensor, emotion: Tensor, intensity: Tensor) -> Tensor:
        """x [B, L, 64] -> per-position predictions [B, L, 64]; position i depends on frames <= i only."""
        c = self.cond_proj(self.condition(emotion, intensity))  # [B, C]
        h = self.in_proj(x.transpose(1, 2)) + c[:, :, None]  # [B, C, L]
        for block in self.blocks:
            h = block(h)
        return x + self.out(F.gelu(h)).transpose(1, 2)  # [B, L, 64]

    def forward(self, x: Tensor, emotion: Tensor, intensity: Tensor) -> Tensor:
        """x [B, L, 64], emotion [B] long, intensity [B] -> predicted beta of the last frame [B, 64]."""
        return self.tokens(x, emotion, intensity)[:, -1]
