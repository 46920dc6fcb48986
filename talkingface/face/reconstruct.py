"""Pictures (one image, or a video's frames) -> SadTalker's face crops and per-picture 3DMM coefficients.

As SadTalker's ``CropAndExtract``: landmarks of the first picture with a face plan the crop for the
preprocess mode (``resize`` needs none), every picture is cut and resized to ``size`` x ``size``,
landmarks are detected again on each crop (a crop without a face reuses the previous landmarks), the crop
is aligned to 224 x 224 with the 5-point fit, and the recon net runs on batches of aligned crops.

Alignment modes (``align``):

* ``landmarks``: the crops' detected landmarks; no face on any crop is an error;
* ``standard``: SadTalker's fallback of the standard five points, for every crop; meant for detectors
  whose landmarks cannot be trusted (random FAN weights in tests);
* ``auto``: landmarks, and the standard points (with a warning) when no crop shows a face, as
  SadTalker does silently.

``landmark_stride`` > 1 detects landmarks on every n-th crop (and the last) and interpolates linearly in
between: n times fewer landmark-network passes, an approximation for smooth footage (1 is exact).
``precision`` bf16 / fp16 runs the recon net under autocast (``talkingface.precision``), its
``RECON_FP32_ISLANDS`` in float32.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from talkingface.coeffs import full_to_73
from talkingface.face.align import TARGET_SIZE, TransParams, align_face, describe_array
from talkingface.face.crop import CropInfo, apply_crop, plan_crop
from talkingface.face.detect import LandmarkDetector, NoFaceError
from talkingface.models.recon_net import ReconNet
from talkingface.precision import autocast, check_precision, set_fp32_islands

ALIGN_MODES = ("landmarks", "standard", "auto")
# kept in float32 under bf16/fp16: the 1x1 coefficient heads (cheap; angles and translations feed
# the renderer's keypoints directly). benchmarks/recon_batch.py prints the difference from fp32.
RECON_FP32_ISLANDS = ("final_layers",)


def recon_input(crops: np.ndarray | list[np.ndarray]) -> torch.Tensor:
    """Aligned crops (uint8 [224, 224, 3], or a batch/list of them) -> ReconNet input [B, 3, 224, 224]."""
    batch = np.stack(crops) if isinstance(crops, list) else np.asarray(crops)
    if batch.ndim == 3:
        batch = batch[None]
    if batch.dtype != np.uint8 or batch.shape[1:] != (TARGET_SIZE, TARGET_SIZE, 3):
        raise ValueError(
            f"crops: expected uint8 [B, {TARGET_SIZE}, {TARGET_SIZE}, 3], got {describe_array(batch)}"
        )
    scaled = batch / 255.0  # float64 then float32, as SadTalker does
    return torch.from_numpy(scaled).to(torch.float32).permute(0, 3, 1, 2).contiguous()


def coeff_row(full: torch.Tensor, trans: TransParams | list[TransParams]) -> torch.Tensor:
    """ReconNet rows [B, 257] + their crops' TransParams -> SadTalker's saved rows [B, 73]."""
    params = [trans] if isinstance(trans, TransParams) else list(trans)
    if full.ndim != 2 or len(params) != full.shape[0]:
        raise ValueError(
            f"full: expected [B, 257] with B = {len(params)} trans params, got {tuple(full.shape)}"
        )
    crop = torch.from_numpy(np.stack([p.crop_params for p in params])).to(full.device)  # [B, 3]
    return full_to_73(full, crop)


@dataclass(frozen=True)
class Reconstruction:
    """``full`` [N, 257] recon coefficients with each crop's alignment, the first renderer crop and its
    CropInfo, which pictures showed a face (``face_found`` [N]) and warnings on how landmarks were found."""

    full: torch.Tensor
    trans: tuple[TransParams, ...]
    crop: np.ndarray
    info: CropInfo
    face_found: np.ndarray
    warnings: tuple[str, ...]

    @property
    def rows(self) -> torch.Tensor:
        """SadTalker's saved rows [N, 73]: exp | angle | trans | (s, tx, ty)."""
        return coeff_row(self.full, list(self.trans))

    @property
    def crop_params(self) -> np.ndarray:
        """[N, 3] float32 (s, tx, ty) of each crop's alignment."""
        return np.stack([t.crop_params for t in self.trans]).astype(np.float32)


def check_align(align: str) -> str:
    """``align`` if it is a known alignment mode, else ValueError."""
    if align not in ALIGN_MODES:
        raise ValueError(f"unknown align mode {align!r}; expected one of {ALIGN_MODES}")
    return align


class FaceReconstructor:
    """A landmark detector (built on first use) and a recon net, applied to many pictures."""

    def __init__(
        self,
        recon: ReconNet,
        detector: Callable[[], LandmarkDetector],
        batch_size: int = 16,
        landmark_stride: int = 1,
        precision: str = "fp32",
    ) -> None:
        if batch_size < 1 or landmark_stride < 1:
            raise ValueError(
                f"batch_size and landmark_stride must be >= 1, got {batch_size}, {landmark_stride}"
            )
        self.recon, self.detector = recon, detector
        self.batch_size, self.landmark_stride = batch_size, landmark_stride
        self.precision = check_precision(precision)
        if precision != "fp32":
            set_fp32_islands(recon, RECON_FP32_ISLANDS, next(recon.parameters()).device.type)

    def reconstruct(
        self,
        pictures: list[np.ndarray] | np.ndarray,
        mode: str = "crop",
        size: int = 256,
        align: str = "landmarks",
        name: str = "image",
    ) -> Reconstruction:
        """Crops and coefficients of RGB uint8 ``pictures`` cropped in ``mode`` to ``size``."""
        if len(pictures) == 0:
            raise ValueError(f"{name}: no pictures")
        first, info = self._plan(pictures, mode, check_align(align), name)
        crops = [apply_crop(p, info, size, f"{name} frame {i}") for i, p in enumerate(pictures)]
        return self.from_crops(crops, first, info, align, name)

    def from_crops(
        self,
        crops: list[np.ndarray],
        first: int,
        info: CropInfo,
        align: str = "landmarks",
        name: str = "image",
    ) -> Reconstruction:
        """Coefficients of pictures already cut with ``info``, the crop planned on picture ``first``."""
        landmarks, face_found, warnings = self._landmarks(list(crops), check_align(align), name)
        face_found[:first] = False
        aligned = [
            align_face(c, lm, standard_fallback=lm is None) for c, lm in zip(crops, landmarks, strict=True)
        ]
        return Reconstruction(
            full=self.coefficients([a.crop for a in aligned]),
            trans=tuple(a.trans for a in aligned),
            crop=crops[0],
            info=info,
            face_found=face_found,
            warnings=warnings,
        )

    @torch.inference_mode()
    def coefficients(self, aligned: list[np.ndarray]) -> torch.Tensor:
        """Recon net over aligned 224 crops in batches of ``batch_size`` -> [N, 257] float32 on CPU."""
        device = next(self.recon.parameters()).device
        with autocast(self.precision, device):
            return torch.cat(
                [
                    self.recon(recon_input(aligned[i : i + self.batch_size]).to(device)).float().cpu()
                    for i in range(0, len(aligned), self.batch_size)
                ]
            )

    def _plan(self, pictures, mode: str, align: str, name: str) -> tuple[int, CropInfo]:
        """Index of the picture the crop is planned on (the first with a face) and the crop."""
        size = (pictures[0].shape[1], pictures[0].shape[0])
        if mode == "resize":
            return 0, CropInfo("resize", size, size, None, None)
        for i, picture in enumerate(pictures):
            try:
                return i, plan_crop(
                    self.detector().detect(picture, f"{name} frame {i}").landmarks, size, mode
                )
            except NoFaceError:
                if len(pictures) == 1:
                    raise NoFaceError(f"no face found in {name}") from None
        raise NoFaceError(f"no face found in any of the {len(pictures)} frames of {name}")

    def _landmarks(
        self, crops: list[np.ndarray], align: str, name: str
    ) -> tuple[list[np.ndarray | None], np.ndarray, tuple[str, ...]]:
        """Landmarks per crop (None: align on the standard points), face seen per crop, and warnings."""
        if align == "standard":
            note = (
                f"{name}: aligned on SadTalker's standard 5 points, not detected landmarks (--align standard)"
            )
            return [None] * len(crops), np.ones(len(crops), bool), (note,)
        keys = np.unique(np.r_[np.arange(0, len(crops), self.landmark_stride), len(crops) - 1])
        try:
            found = self.detector().landmarks_for_frames([crops[i] for i in keys], f"{name} crops")
        except NoFaceError:
            if align == "landmarks":
                raise
            note = f"{name}: no face on the crop; aligned on SadTalker's standard 5 points instead"
            return [None] * len(crops), np.zeros(len(crops), bool), (note,)
        key_found = np.ones(len(keys), bool)
        key_found[list(found.missing)] = False
        frames = np.arange(len(crops))
        flat = found.landmarks.reshape(len(keys), -1)
        landmarks = np.stack([np.interp(frames, keys, flat[:, j]) for j in range(flat.shape[1])], axis=1)
        after = np.searchsorted(keys, frames)  # first keyframe at or after each crop
        before = np.where(keys[after] == frames, after, after - 1)
        face_found = key_found[before] & key_found[after]
        notes = (f"{name}: no face on {found.n_missing} of {len(keys)} crops; they reuse earlier landmarks",)
        return (
            list(landmarks.reshape(len(crops), 68, 2).astype(np.float32)),
            face_found,
            notes if found.missing else (),
        )
