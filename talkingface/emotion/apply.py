"""Inference: run a head over a whole beta sequence and blend its output into the original betas."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from talkingface.emotion.data import check_betas
from talkingface.emotion.heads import Head
from talkingface.emotion.windows import sliding_windows

BATCH = 4096


@torch.no_grad()
def predict(head: Head, exp: Tensor, emotion: str, intensity: float) -> Tensor:
    """The head's output f for every frame: exp [T, 64] -> [T, 64] (first frames padded with frame 0)."""
    check_betas(exp, "exp")
    check_intensity(intensity)
    param = next(head.parameters())
    x = exp.to(param.device, param.dtype)
    windows = sliding_windows(x, head.config.frame_len)  # [T, L, 64]
    emotion_id = head.condition.index([emotion]).to(param.device)
    was_training = head.training
    head.eval()
    out = []
    for w in windows.split(BATCH):
        n = w.shape[0]
        level = torch.full((n,), float(intensity), device=param.device, dtype=param.dtype)
        out.append(head(w, emotion_id.expand(n), level))  # [n, 64]
    head.train(was_training)
    return torch.cat(out).to(exp.device, exp.dtype)  # [T, 64]


def blend(x: Tensor, f: Tensor, alpha: float, ortho: bool = False) -> Tensor:
    """Per frame y = x + alpha * d with d = f - x; ``ortho`` keeps only d's component along x.

    The projection is (d.x / x.x) x on each frame's own 64-d beta x; a frame with x = 0 is left unchanged.
    """
    if x.shape != f.shape:
        raise ValueError(f"x {tuple(x.shape)} and f {tuple(f.shape)} differ in shape")
    if not math.isfinite(alpha):
        raise ValueError(f"alpha must be finite, got {alpha}")
    d = f - x  # [T, 64]
    if ortho:
        xx = (x * x).sum(-1, keepdim=True)  # [T, 1]
        dx = (d * x).sum(-1, keepdim=True)  # [T, 1]
        scale = torch.where(xx > 0, dx / xx.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(xx))
        d = scale * x
    return x + alpha * d


def apply_head(
    head: Head, exp: Tensor, emotion: str, intensity: float, alpha: float = 1.0, ortho: bool = False
) -> Tensor:
    """Emotional betas for the renderer: ExpNet betas exp [T, 64] -> blended betas [T, 64]."""
    return blend(exp, predict(head, exp, emotion, intensity), alpha, ortho)


def check_intensity(intensity: float) -> None:
    """Raise unless ``intensity`` is a number on the shared [0, 1] scale."""
    if not isinstance(intensity, (int, float)) or not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity must be a number in [0, 1], got {intensity!r}")
