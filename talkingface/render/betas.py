"""The seed fork's ``--save-betas`` / ``--override-betas``: predicted coefficients out, edited ones in.

``save_betas`` writes the [T, 70] driving coefficients (exp 64 | pose 6) as a float32 tensor with
``torch.save``. ``override_betas`` reads a [T, D] tensor (``.pt``/``.pth`` tensor or ``.npy`` array,
1 <= D <= 70) and replaces the first D columns; D = 64 changes the expression and keeps the pose.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from talkingface.coeffs import COEFF_70


def save_betas(coeffs: torch.Tensor, uri: str | Path) -> None:
    """``torch.save`` the [T, 70] coefficients to a local path or storage URI, atomically."""
    from storage import atomic_output

    with atomic_output(str(uri)) as tmp:
        torch.save(coeffs.detach().to("cpu", torch.float32).contiguous(), tmp)


def read_betas(uri: str | Path, num_frames: int) -> torch.Tensor:
    """A [T, D] float32 tensor from a ``.pt``/``.pth`` tensor file or a ``.npy`` array; T must be
    ``num_frames`` (the frames the audio drives)."""
    from storage import download_to_cache

    try:
        local = download_to_cache(str(uri))
    except FileNotFoundError as err:
        raise FileNotFoundError(f"override betas not found: {uri}") from err
    try:
        value = (
            np.load(local)
            if local.suffix == ".npy"
            else torch.load(local, map_location="cpu", weights_only=True)
        )
    except (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError) as err:
        raise ValueError(f"override betas {uri}: unreadable ({err})") from err
    if not isinstance(value, (torch.Tensor, np.ndarray)):
        raise ValueError(f"override betas {uri}: expected a tensor, got {type(value).__name__}")
    betas = torch.as_tensor(value, dtype=torch.float32)
    if betas.ndim == 3 and betas.shape[0] == 1:
        betas = betas[0]
    if betas.ndim != 2 or not 1 <= betas.shape[1] <= COEFF_70.dim:
        raise ValueError(
            f"override betas {uri}: expected [T, D] with 1 <= D <= {COEFF_70.dim}, got {tuple(betas.shape)}"
        )
    if not torch.isfinite(betas).all():
        raise ValueError(f"override betas {uri}: contains NaN or inf")
    if betas.shape[0] != num_frames:
        raise ValueError(
            f"override betas {uri}: {betas.shape[0]} frames, "
            f"but the audio drives {num_frames} frames at 25 fps"
        )
    return betas


def override_betas(coeffs: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """``coeffs`` [T, 70] with columns ``:D`` replaced by ``betas`` [T, D] (a copy)."""
    if betas.shape[0] != coeffs.shape[0] or betas.shape[1] > coeffs.shape[1]:
        raise ValueError(f"betas {tuple(betas.shape)} do not fit coefficients {tuple(coeffs.shape)}")
    out = coeffs.clone()
    out[:, : betas.shape[1]] = betas.to(out.dtype)
    return out
