"""A face image (or every frame of a reference video) -> renderer crop and SadTalker's 73-dim 3DMM rows.

As SadTalker's ``CropAndExtract``: landmarks of the (first) picture plan the crop for the preprocess mode
(``resize`` needs none), every picture is cut and resized to ``size`` x ``size``, landmarks are detected
again on each crop, the crop is aligned to 224 x 224 with the 5-point fit, and the recon net's 257
coefficients become rows ``exp | angle | trans | (s, tx, ty)``.

Alignment modes (``align``):

* ``landmarks``: the crop's detected landmarks; a crop without a face is an error (a reference video's
  frame without a face reuses the previous frame's landmarks, as SadTalker does);
* ``standard``: SadTalker's fallback of the standard five points, for every crop; meant for detectors
  whose landmarks cannot be trusted (random FAN weights in tests);
* ``auto``: landmarks, and the standard points (with a warning) where the crop shows no face, as
  SadTalker does silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from talkingface.face.align import align_face, coeff_row, recon_input
from talkingface.face.crop import CropInfo, apply_crop, plan_crop
from talkingface.face.detect import LandmarkDetector, NoFaceError
from talkingface.models.recon_net import ReconNet

ALIGN_MODES = ("landmarks", "standard", "auto")
RECON_BATCH = 16


@dataclass(frozen=True)
class FaceRows:
    """``rows`` [N, 73] float32, the renderer crop of the first picture, its CropInfo, and warnings."""

    rows: torch.Tensor
    crop: np.ndarray
    info: CropInfo
    warnings: tuple[str, ...]


def check_align(align: str) -> str:
    """``align`` if it is a known alignment mode, else ValueError."""
    if align not in ALIGN_MODES:
        raise ValueError(f"unknown align mode {align!r}; expected one of {ALIGN_MODES}")
    return align


def plan_for(first: np.ndarray, mode: str, detector: Callable[[], LandmarkDetector], name: str) -> CropInfo:
    """The crop of every picture, planned on ``first`` (the whole picture in ``resize`` mode)."""
    size = (first.shape[1], first.shape[0])
    if mode == "resize":
        return CropInfo("resize", size, size, None, None)
    return plan_crop(detector().detect(first, name).landmarks, size, mode)


def crop_landmarks(
    crops: list[np.ndarray], align: str, detector: Callable[[], LandmarkDetector], name: str
) -> tuple[list[np.ndarray | None], tuple[str, ...]]:
    """Landmarks per crop (None: align on the standard points) and warnings about how they were found."""
    if align == "standard":
        note = (
            f"{name}: aligned on SadTalker's standard 5 points, not on detected landmarks (--align standard)"
        )
        return [None] * len(crops), (note,)
    try:
        if len(crops) == 1:
            return [detector().detect(crops[0], f"{name} crop").landmarks], ()
        found = detector().landmarks_for_frames(crops, f"{name} crops")
    except NoFaceError:
        if align == "landmarks":
            raise
        note = f"{name}: no face on the crop; aligned on SadTalker's standard 5 points instead"
        return [None] * len(crops), (note,)
    notes = (f"{name}: no face on {found.n_missing} of {len(crops)} crops; they reuse earlier landmarks",)
    return list(found.landmarks), notes if found.missing else ()


@torch.inference_mode()
def face_rows(
    pictures: list[np.ndarray],
    mode: str,
    size: int,
    recon: ReconNet,
    detector: Callable[[], LandmarkDetector],
    align: str = "landmarks",
    name: str = "image",
) -> FaceRows:
    """73-dim rows of RGB uint8 ``pictures`` (one image, or a video's frames) cropped in ``mode``.

    ``detector`` builds (or returns the cached) landmark detector; it is not called when no landmarks
    are needed (``resize`` mode with ``standard`` alignment).
    """
    if not pictures:
        raise ValueError(f"{name}: no pictures")
    info = plan_for(pictures[0], mode, detector, name)
    crops = [apply_crop(p, info, size, f"{name} frame {i}") for i, p in enumerate(pictures)]
    landmarks, warnings = crop_landmarks(crops, check_align(align), detector, name)
    aligned = [
        align_face(c, lm, standard_fallback=lm is None) for c, lm in zip(crops, landmarks, strict=True)
    ]
    device = next(recon.parameters()).device
    full = torch.cat(
        [
            recon(recon_input([a.crop for a in aligned[i : i + RECON_BATCH]]).to(device)).float().cpu()
            for i in range(0, len(aligned), RECON_BATCH)
        ]
    )
    rows = coeff_row(full, [a.trans for a in aligned])
    return FaceRows(rows=rows, crop=crops[0], info=info, warnings=warnings)
