"""Per-frame 3DMM coefficients of a video, with SadTalker's preprocessing (``talkingface.face.reconstruct``).

For a video SadTalker plans one face crop from the first frame's landmarks, cuts every frame with it
and resizes to 256, detects landmarks again on each crop (reusing the previous frame's when a face is
missing), aligns each crop to 224x224 with the 5-point POS fit, and runs the recon net on [0, 1] RGB.
Here the recon net runs on batches of frames instead of one frame at a time.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import torch

from talkingface.betas.crops import ClipCrops, crop_clip
from talkingface.betas.record import FrameBetas
from talkingface.face.detect import DetectorConfig, LandmarkDetector
from talkingface.face.reconstruct import FaceReconstructor
from talkingface.models.recon_net import ReconNet
from talkingface.weights.load import load_part

log = logging.getLogger(__name__)

STAND_IN_WARNING = (
    "no checkpoint given: the 3DMM recon net runs on seeded stand-in weights, so the coefficients are "
    "NOT real face reconstructions (fetch the official weights with `talkingface models fetch`)"
)


class BetasExtractor:
    """Landmark detector + recon net, built once and applied to many clips."""

    def __init__(self, faces: FaceReconstructor) -> None:
        self.faces = faces

    @classmethod
    def create(
        cls,
        weights: str | Path | None = None,
        detector: str = "auto",
        face_weights: str | Path | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        landmark_stride: int = 1,
        landmarks: str = "auto",
        seed: int = 0,
        precision: str = "fp32",
        detect_every: int = 5,
    ) -> BetasExtractor:
        """Load the recon net from an official checkpoint dir/file/URI, or seeded stand-in weights.

        ``landmark_stride`` > 1 runs the landmark network on every n-th frame and interpolates (see
        ``talkingface.face.reconstruct``); ``landmarks="template"`` (offline smoke runs only) places the
        mean face in the detector box instead of running FAN. ``precision``: the recon net's arithmetic
        (``talkingface.precision``).
        """
        if weights is None:
            log.warning(STAND_IN_WARNING)
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                recon = ReconNet()
        else:
            recon = ReconNet()
            load_part(recon, weights, "face_3drecon")
        config = detector_config(detector, landmarks, face_weights, detect_every, device)
        detector_once = functools.cache(lambda: LandmarkDetector(config))
        recon = recon.to(device).eval()
        return cls(FaceReconstructor(recon, detector_once, batch_size, landmark_stride, precision))

    def extract(self, frames: np.ndarray, name: str = "video") -> FrameBetas:
        """Coefficients of every frame of ``frames`` [T, H, W, 3] uint8 RGB."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
            raise ValueError(f"{name}: expected uint8 frames [T, H, W, 3], got {frames.dtype} {frames.shape}")
        return self.extract_crops(crop_clip(frames, self.faces.detector(), name), name)

    def extract_crops(self, clip: ClipCrops, name: str = "video") -> FrameBetas:
        """Coefficients of every frame of a clip already cut by :func:`crop_clip` (the decode stage)."""
        found = self.faces.from_crops(list(clip.crops), clip.first, clip.info, "landmarks", name)
        return FrameBetas(full=found.full.numpy(), crop=found.crop_params, face_found=found.face_found)


def detector_config(
    detector: str = "auto",
    landmarks: str = "auto",
    face_weights: str | Path | None = None,
    detect_every: int = 5,
    device: str = "cpu",
) -> DetectorConfig:
    """The face detector + landmark backend of an extraction (``BetasExtractor.create``'s face flags)."""
    weights_dir = Path(face_weights) if face_weights else None
    return DetectorConfig(device=device, face_detector=detector, landmarks=landmarks, weights_dir=weights_dir,
                          detect_every=detect_every)  # fmt: skip
