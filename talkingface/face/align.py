"""Deep3DFaceRecon / SadTalker alignment: 68 landmarks -> the 224x224 crop ReconNet reads.

Steps, as SadTalker's ``CropAndExtract`` runs them:

1. the detector's landmarks (x right, y down, pixels, float32) get their y axis flipped (``H-1-y``);
2. five points are taken: eye centres (means of the eye corners), nose tip, mouth corners;
3. a least-squares weak-perspective fit (``POS``) against the standard 3D landmarks gives a translation
   ``t`` and scale ``s_fit``; the image scale is ``s = 102 / s_fit``;
4. the image is resized with PIL BICUBIC to ``int(w0*s) x int(h0*s)`` and a 224 square is cut around
   ``t`` (pixels outside the image are black).

The saved crop parameters are ``(s, tx, ty)`` (``TransParams.crop_params``), the last three numbers of
SadTalker's 73-dim row. When the detector found no face, SadTalker fits the *standard* five points
placed on the image instead; that is ``align_face(..., standard_fallback=True)`` with no landmarks.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

LM3D_FILE = Path(__file__).resolve().parents[1] / "assets" / "lm3d_mean.json"
TARGET_SIZE = 224
RESCALE = 102.0
# 0-based 68-point indices: nose tip, left eye corners, right eye corners, mouth corners.
_NOSE, _LEFT_EYE, _RIGHT_EYE, _MOUTH_LEFT, _MOUTH_RIGHT = 30, (36, 39), (42, 45), 48, 54


@dataclass(frozen=True)
class TransParams:
    """Where the crop came from: source size, image scale and the fitted face centre (y up)."""

    w0: int
    h0: int
    s: float
    tx: float
    ty: float

    @property
    def crop_params(self) -> np.ndarray:
        """``(s, tx, ty)`` as float32, the crop part of the 73-dim row."""
        return np.array([self.s, self.tx, self.ty], dtype=np.float32)


@dataclass(frozen=True)
class AlignedFace:
    """The aligned crop (uint8 [224, 224, 3] RGB) and how it was cut."""

    crop: np.ndarray
    trans: TransParams


@functools.cache
def standard_landmarks() -> np.ndarray:
    """The 68 mean 3D face landmarks (float64 [68, 3]) of ``similarity_Lm3D_all.mat``."""
    data = json.loads(LM3D_FILE.read_text())
    return np.asarray(data["lm68_mean_3d"], dtype=np.float64)


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """68 points [68, D] -> [5, D]: left eye centre, right eye centre, nose tip, mouth corners."""
    lm = _check_points(landmarks, 68, "landmarks", dims=(2, 3))
    return np.stack(
        [
            lm[list(_LEFT_EYE)].mean(axis=0),
            lm[list(_RIGHT_EYE)].mean(axis=0),
            lm[_NOSE],
            lm[_MOUTH_LEFT],
            lm[_MOUTH_RIGHT],
        ]
    )


def fit_pos(points_2d: np.ndarray, points_3d: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares weak perspective ``p2 = s * R[:2] @ p3 + t``; returns ``(t [2], s)`` in float64.

    Each point gives two rows of an 8-unknown linear system (two scaled rotation rows plus their
    offsets); ``s`` is the mean norm of the two fitted rotation rows.
    """
    n = len(points_3d)
    if points_2d.shape != (n, 2) or points_3d.shape != (n, 3):
        raise ValueError(f"points_2d [N,2] / points_3d [N,3] mismatch: {points_2d.shape}, {points_3d.shape}")
    a = np.zeros((2 * n, 8))
    a[0::2, 0:3] = points_3d
    a[0::2, 3] = 1
    a[1::2, 4:7] = points_3d
    a[1::2, 7] = 1
    b = points_2d.reshape(2 * n, 1)
    k = np.linalg.lstsq(a, b, rcond=None)[0][:, 0]
    scale = (np.linalg.norm(k[0:3]) + np.linalg.norm(k[4:7])) / 2
    return np.array([k[3], k[7]]), float(scale)


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray | None,
    *,
    standard_fallback: bool = False,
) -> AlignedFace:
    """RGB image (uint8 [H, W, 3]) + detected 68 landmarks (x right, y down) -> aligned 224 crop.

    ``landmarks=None`` (or SadTalker's all ``-1`` "no face" marker) needs ``standard_fallback=True``,
    which fits the standard five points spread over the whole image, as SadTalker does.
    """
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3):
        raise ValueError(f"image: expected uint8 [H, W, 3], got {describe_array(image)}")
    if image.shape[2] != 3:
        raise ValueError(f"image: expected 3 channels (RGB), got shape {image.shape}")
    h0, w0 = image.shape[:2]
    lm5_3d = five_points(standard_landmarks())
    missing = landmarks is None or bool(np.all(np.asarray(landmarks) == -1))
    if missing:
        if not standard_fallback:
            raise ValueError(
                "landmarks: no face landmarks given; pass standard_fallback=True to use the standard pose"
            )
        points = (lm5_3d[:, :2] + 1) / 2 * np.array([w0, h0])  # already y up
    else:
        lm = _check_points(np.asarray(landmarks), 68, "landmarks").astype(np.float32)  # detector precision
        lm[:, 1] = h0 - 1 - lm[:, 1]
        points = five_points(lm)
    t, s_fit = fit_pos(points, lm5_3d)
    s = RESCALE / s_fit
    crop = _resize_and_crop(Image.fromarray(image), t, s)
    return AlignedFace(crop=crop, trans=TransParams(w0=w0, h0=h0, s=s, tx=float(t[0]), ty=float(t[1])))


def _resize_and_crop(image: Image.Image, t: np.ndarray, s: float) -> np.ndarray:
    """Scale by ``s`` (BICUBIC, sizes truncated) and cut a TARGET_SIZE square centred on ``t`` (y up)."""
    w0, h0 = image.size
    w, h = int(w0 * s), int(h0 * s)
    left = int(w / 2 - TARGET_SIZE / 2 + (t[0] - w0 / 2) * s)  # int() truncates toward 0, like astype
    up = int(h / 2 - TARGET_SIZE / 2 + (h0 / 2 - t[1]) * s)
    resized = image.resize((w, h), resample=Image.BICUBIC)
    return np.asarray(resized.crop((left, up, left + TARGET_SIZE, up + TARGET_SIZE)))


def _check_points(points: np.ndarray, n: int, name: str, dims: tuple[int, ...] = (2,)) -> np.ndarray:
    if points.ndim != 2 or points.shape[0] != n or points.shape[1] not in dims:
        raise ValueError(f"{name}: expected [{n}, {' or '.join(map(str, dims))}] points, got {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{name}: contains NaN or inf")
    return points


def describe_array(x: object) -> str:
    """``x``'s dtype and shape for an error message (its type for a non-array)."""
    if isinstance(x, np.ndarray):
        return f"{x.dtype} array of shape {x.shape}"
    return type(x).__name__
