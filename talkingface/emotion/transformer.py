"""Causal temporal transformer head: a small decoder-only transformer over the window's frames.

Token i sees frames 0..i of the window only (a real causal mask), so ``tokens`` gives a prediction
for every window position and ``forward`` keeps the last one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from talkingface.coeffs import EXP_DIM
from talkingface.emotion.condition import EmotionCondition, HeadConfig


@dataclass(frozen=True)
class TransformerConfig(HeadConfig):
    d_model: int = 128
    n_head: int = 4
    n_layer: int = 2
    dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")


class CausalSelfAttention(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)

    def forward(self, x: Tensor) -> Tensor:
        B, L, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # each [B, L, C]
        q, k, v = (
            t.view(B, L, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)
        )  # [B, h, L, c]
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)  # [B, h, L, c]
        return self.proj(y.transpose(1, 2).reshape(B, L, C))  # [B, L, C]


class Block(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, 4 * config.d_model),
            nn.GELU(),
            nn.Linear(4 * config.d_model, config.d_model),
            nn.Dropout(config.dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TransformerHead(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.condition = EmotionCondition(config.emotions, config.emb_dim)
        self.in_proj = nn.Linear(EXP_DIM, config.d_model)
        self.cond_proj = nn.Linear(self.condition.out_dim, config.d_model)
        self.pos = nn.Embedding(config.frame_len, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.out = nn.Linear(config.d_model, EXP_DIM)
        nn.init.zeros_(self.out.weight)  # starts as the identity map (f = last frame)
        nn.init.zeros_(self.out.bias)

    def tokens(self, x: Tensor, emotion: Tensor, intensity: Tensor) -> Tensor:
        """x [B, L, 64] -> per-position predictions [B, L, 64]; position i depends on frames <= i only."""
        n = x.shape[1]
        if n > self.config.frame_len:
            raise ValueError(f"window of {n} frames exceeds frame_len {self.config.frame_len}")
        c = self.cond_proj(self.condition(emotion, intensity))  # [B, d]
        h = self.in_proj(x) + self.pos.weight[:n] + c[:, None, :]  # [B, L, d]
        h = self.drop(h)
        for block in self.blocks:
            h = block(h)
        return x + self.out(self.ln_f(h))  # [B, L, 64]

    def forward(self, x: Tensor, emotion: Tensor, intensity: Tensor) -> Tensor:
        """x [B, L, 64], emotion [B] long, intensity [B] -> predicted beta of the last frame [B, 64]."""
        return self.tokens(x, emotion, intensity)[:, -1]
