"""Causal frame windows: frame t sees frames t-L+1..t, the first L-1 frames padded with frame 0."""

from __future__ import annotations

import torch
from torch import Tensor


def sliding_windows(x: Tensor, frame_len: int) -> Tensor:
    """[T, D] -> [T, frame_len, D]; window t ends at frame t (earlier frames repeat frame 0)."""
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"expected a non-empty [T, D] sequence, got shape {tuple(x.shape)}")
    if frame_len < 1:
        raise ValueError(f"frame_len must be >= 1, got {frame_len}")
    padded = torch.cat([x[:1].expand(frame_len - 1, -1), x])  # [T+L-1, D]
    return padded.unfold(0, frame_len, 1).transpose(1, 2)  # [T, L, D]


def strided_windows(x: Tensor, length: int, stride: int) -> Tensor:
    """[T, D] -> [N, length, D] windows every ``stride`` frames, the last one ending at frame T-1.

    A sequence shorter than ``length`` is front-padded with frame 0 to one window.
    """
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"expected a non-empty [T, D] sequence, got shape {tuple(x.shape)}")
    if length < 1 or stride < 1:
        raise ValueError(f"window length and stride must be >= 1, got {length}, {stride}")
    if x.shape[0] < length:
        x = torch.cat([x[:1].expand(length - x.shape[0], -1), x])
    starts = list(range(0, x.shape[0] - length + 1, stride))
    if starts[-1] != x.shape[0] - length:
        starts.append(x.shape[0] - length)
    return torch.stack([x[s : s + length] for s in starts])  # [N, length, D]
