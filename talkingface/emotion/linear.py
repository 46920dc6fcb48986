"""Linear emotion head: for a fixed (emotion, intensity) the output is an affine map of the window.

One model for all emotions: the map's coefficients are themselves linear in the conditioning vector
c = [1, E(e), intensity * E(e)], i.e. delta = W (vec([window, 1]) outer c).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from talkingface.coeffs import EXP_DIM
from talkingface.emotion.condition import EmotionCondition, HeadConfig


@dataclass(frozen=True)
class LinearConfig(HeadConfig):
    """The linear head has no extra hyper-parameters."""


class LinearHead(nn.Module):
    def __init__(self, config: LinearConfig):
        super().__init__()
        self.config = config
        self.condition = EmotionCondition(config.emotions, config.emb_dim)
        n_in = (config.frame_len * EXP_DIM + 1) * (1 + self.condition.out_dim)
        self.proj = nn.Linear(n_in, EXP_DIM, bias=False)
        nn.init.zeros_(self.proj.weight)  # starts as the identity map (f = last frame)

    def forward(self, x: Tensor, emotion: Tensor, intensity: Tensor) -> Tensor:
        """x [B, L, 64], emotion [B] long, intensity [B] -> predicted beta of the last frame [B, 64]."""
        ones = x.new_ones(x.shape[0], 1)
        w = torch.cat([x.flatten(1), ones], dim=1)  # [B, L*64+1]
        c = torch.cat([ones, self.condition(emotion, intensity)], dim=1)  # [B, 1+2*emb]
        features = (w[:, :, None] * c[:, None, :]).flatten(1)  # [B, (L*64+1)*(1+2*emb)]
        return x[:, -1] + self.proj(features)  # [B, 64]
