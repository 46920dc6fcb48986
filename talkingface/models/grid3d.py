"""Normalised 3-D coordinate grids and keypoint Gaussians (the renderer's keypoint geometry).

Coordinates follow ``F.grid_sample``: the last axis is (x along W, y along H, z along D), each running
from -1 at the first voxel centre to +1 at the last one.
"""

from __future__ import annotations

import torch


def coordinate_grid(
    depth: int,
    height: int,
    width: int,
    dtype: torch.dtype = torch.float32,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Grid [D, H, W, 3] of (x, y, z) in [-1, 1]."""
    if min(depth, height, width) < 2:
        raise ValueError(f"coordinate grid needs every size >= 2, got (D, H, W)=({depth}, {height}, {width})")
    x = 2 * (torch.arange(width, dtype=dtype, device=device) / (width - 1)) - 1
    y = 2 * (torch.arange(height, dtype=dtype, device=device) / (height - 1)) - 1
    z = 2 * (torch.arange(depth, dtype=dtype, device=device) / (depth - 1)) - 1
    xx = x.view(1, 1, width).expand(depth, height, width)
    yy = y.view(1, height, 1).expand(depth, height, width)
    zz = z.view(depth, 1, 1).expand(depth, height, width)
    return torch.stack([xx, yy, zz], dim=3)


def keypoint_gaussians(kp: torch.Tensor, size: tuple[int, int, int], variance: float) -> torch.Tensor:
    """Unnormalised Gaussians exp(-|g - kp|^2 / 2 variance) around keypoints [B, K, 3] -> [B, K, D, H, W]."""
    grid = coordinate_grid(*size, dtype=kp.dtype, device=kp.device)  # [D, H, W, 3]
    diff = grid[None, None] - kp[:, :, None, None, None, :]  # [B, K, D, H, W, 3]
    return torch.exp(-0.5 * (diff**2).sum(-1) / variance)
