"""ExpNet (SadTalker's SimpleWrapperV2): per-frame 64 expression coefficients from audio."""

from __future__ import annotations

import torch
from torch import nn

from talkingface.models.audio_encoder import AudioEncoder

EXP_DIM = 64
AUDIO_EMB_DIM = 512


class ExpNet(nn.Module):
    """mel window + reference expression + blink ratio -> expression, each frame independently."""

    def __init__(self) -> None:
        super().__init__()
        self.audio_encoder = AudioEncoder()
        self.mapping1 = nn.Linear(AUDIO_EMB_DIM + EXP_DIM + 1, EXP_DIM)

    def forward(self, mels: torch.Tensor, ref_exp: torch.Tensor, blink: torch.Tensor) -> torch.Tensor:
        """mels [N,1,80,16], ref_exp [N,64], blink [N,1] -> exp [N,64]."""
        n = mels.shape[0]
        if ref_exp.shape != (n, EXP_DIM) or blink.shape != (n, 1):
            shapes = f"{tuple(ref_exp.shape)} and {tuple(blink.shape)}"
            raise ValueError(f"ref_exp must be [{n}, {EXP_DIM}] and blink [{n}, 1], got {shapes}")
        emb = self.audio_encoder(mels)  # [N, 512]
        return self.mapping1(torch.cat([emb, ref_exp, blink], dim=1))  # [N, 577] -> [N, 64]
