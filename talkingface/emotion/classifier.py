"""Expression-space emotion classifier: a GRU over a window of 64-d betas -> emotion logits.

Trained on real (target) betas and used to score generated betas (Acc_emo@3DMM, metrics.md 5.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from talkingface.coeffs import EXP_DIM
from talkingface.corpus.labels import EMOTIONS


@dataclass(frozen=True)
class ClassifierConfig:
    window: int = 25  # frames per example (1 s at 25 fps)
    stride: int = 5  # frames between consecutive windows of a clip
    hidden: int = 64
    n_layer: int = 1
    dropout: float = 0.0
    emotions: tuple[str, ...] = EMOTIONS

    def __post_init__(self) -> None:
        if min(self.window, self.stride, self.hidden, self.n_layer) < 1:
            raise ValueError(f"window, stride, hidden and n_layer must be >= 1: {self}")
        if not self.emotions or len(set(self.emotions)) != len(self.emotions):
            raise ValueError(f"emotions must be a non-empty list of unique names, got {self.emotions}")


class ExpressionClassifier(nn.Module):
    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.in_proj = nn.Linear(EXP_DIM, config.hidden)
        dropout = config.dropout if config.n_layer > 1 else 0.0
        self.gru = nn.GRU(config.hidden, config.hidden, config.n_layer, batch_first=True, dropout=dropout)
        self.out = nn.Linear(config.hidden, len(config.emotions))

    def forward(self, x: Tensor) -> Tensor:
        """x [B, W, 64] -> emotion logits [B, n_emotions]."""
        h, _ = self.gru(torch.tanh(self.in_proj(x)))  # [B, W, hidden]
        return self.out(h.mean(dim=1))  # [B, n_emotions]
