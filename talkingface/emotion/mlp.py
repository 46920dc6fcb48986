"""MLP emotion head: the flattened window and the conditioning vector through a GELU MLP."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from talkingface.coeffs import EXP_DIM
from talkingface.emotion.condition import EmotionCondition, HeadConfig


@dataclass(frozen=True)
class MLPConfig(HeadConfig):
    hidden: int = 256
    n_layer: int = 2  # hidden layers
    dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden < 1 or self.n_layer < 1:
            raise ValueError(f"hidden and n_layer must be >= 1, got {self.hidden}, {self.n_layer}")


class MLPHead(nn.Module):
    def __init__(self, config: MLPConfig):
        super().__init__()
        self.config = config
        self.condition = EmotionCondition(config.emotions, config.emb_dim)
        layers: list[nn.Module] = []
        n_in = config.frame_len * EXP_DIM + self.condition.out_dim
        for _ in range(config.n_layer):
            layers += [nn.Linear(n_in, config.hidden), nn.GELU(), nn.Dropout(config.dropout)]
            n_in = config.hidden
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(config.hidden, EXP_DIM)
        nn.init.zeros_(self.out.weight)  # starts as the identity map (f = last frame)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, emotion: Tensor, intensity: Tensor) -> Tensor:
        """x [B, L, 64], emotion [B] long, intensity [B] -> predicted beta of the last frame [B, 64]."""
        h = torch.cat([x.flatten(1), self.condition(emotion, intensity)], dim=1)  # [B, L*64+2*emb]
        return x[:, -1] + self.out(self.body(h))  # [B, 64]
