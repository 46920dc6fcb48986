"""A clip's betas as one row of the betas table (the field names of ``storage.schemas.BETAS_SCHEMA``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkingface.coeffs import FULL_257


@dataclass(frozen=True)
class FrameBetas:
    """``full`` [T, 257] recon coefficients, ``crop`` [T, 3] alignment (s, tx, ty), ``face_found`` [T]."""

    full: np.ndarray
    crop: np.ndarray
    face_found: np.ndarray


def betas_record(
    labels: dict, betas: FrameBetas, windows: np.ndarray, audio_samples: int
) -> dict[str, object]:
    """Row dict: ``labels`` (clip_id, dataset, emotion, intensity) + per-frame coefficients, mel windows."""
    full = np.asarray(betas.full, np.float32)
    n = len(full)
    if len(windows) != n or audio_samples // 640 != n:
        raise ValueError(
            f"{labels.get('clip_id')}: {n} frames but {len(windows)} mel windows / {audio_samples} samples"
        )
    row = {key: labels[key] for key in ("clip_id", "dataset", "emotion", "intensity")}
    row.update(
        n_frames=n, audio_samples=int(audio_samples), full=full, crop=np.asarray(betas.crop, np.float32)
    )
    row.update({name: FULL_257.get(full, name) for name in ("exp", "angle", "trans")})
    row.update(
        mels=np.asarray(windows, np.float32).reshape(n, -1), face_found=np.asarray(betas.face_found, bool)
    )
    return row
