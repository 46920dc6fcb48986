"""What every emotion head shares: the base config and the (emotion, intensity) conditioning module."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from talkingface.corpus.labels import EMOTIONS


@dataclass(frozen=True)
class HeadConfig:
    """Fields common to all heads: the window length and the conditioning vocabulary."""

    frame_len: int = 5  # frames t-frame_len+1 .. t predict frame t
    emb_dim: int = 16  # emotion embedding size
    emotions: tuple[str, ...] = EMOTIONS

    def __post_init__(self) -> None:
        if self.frame_len < 1:
            raise ValueError(f"frame_len must be >= 1, got {self.frame_len}")
        if self.emb_dim < 1:
            raise ValueError(f"emb_dim must be >= 1, got {self.emb_dim}")
        if not self.emotions or len(set(self.emotions)) != len(self.emotions):
            raise ValueError(f"emotions must be a non-empty list of unique names, got {self.emotions}")


class EmotionCondition(nn.Module):
    """(emotion id [B], intensity [B]) -> [B, 2*emb_dim]: the emotion embedding and it scaled by intensity."""

    def __init__(self, emotions: Sequence[str], emb_dim: int):
        super().__init__()
        self.emotions = tuple(emotions)
        self.embedding = nn.Embedding(len(self.emotions), emb_dim)
        self.out_dim = 2 * emb_dim

    def index(self, names: Sequence[str]) -> Tensor:
        """Emotion names -> ids [B] (long), with a clear error for a name outside the vocabulary."""
        unknown = sorted({n for n in names if n not in self.emotions})
        if unknown:
            raise ValueError(f"unknown emotion(s) {unknown}; this head knows {self.emotions}")
        return torch.tensor([self.emotions.index(n) for n in names], dtype=torch.long)

    def forward(self, emotion: Tensor, intensity: Tensor) -> Tensor:
        e = self.embedding(emotion)  # [B, emb]
        return torch.cat([e, intensity[:, None].to(e.dtype) * e], dim=-1)  # [B, 2*emb]
