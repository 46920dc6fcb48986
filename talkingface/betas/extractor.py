"""Per-frame 3DMM coefficients of a video, with SadTalker's preprocessing.

For a video SadTalker plans one face crop from the first frame's landmarks, cuts every frame with it
and resizes to 256, detects landmarks again on each crop (reusing the previous frame's when a face is
missing), aligns each crop to 224x224 with the 5-point POS fit, and runs the recon net on [0, 1] RGB.
Here the recon net runs on batches of frames instead of one frame at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from talkingface.face.align import align_face, recon_input
from talkingface.face.crop import apply_crop, plan_crop
from talkingface.face.detect import DetectorConfig, LandmarkDetector, NoFaceError
from talkingface.models.recon_net import ReconNet
from talkingface.weights.load import load_part

log = logging.getLogger(__name__)

CROP_SIZE = 256
STAND_IN_WARNING = (
    "no checkpoint given: the 3DMM recon net runs on seeded stand-in weights, so the coefficients are "
    "NOT real face reconstructions (fetch the official weights with `talkingface models fetch`)"
)


@dataclass(frozen=True)
class FrameBetas:
    """``full`` [T, 257] recon coefficients, ``crop`` [T, 3] alignment (s, tx, ty), ``face_found`` [T]."""

    full: np.ndarray
    crop: np.ndarray
    face_found: np.ndarray


class BetasExtractor:
    """Landmark detector + recon net, built once and applied to many clips."""

    def __init__(
        self,
        detector: LandmarkDetector,
        recon: ReconNet,
        device: str = "cpu",
        batch_size: int = 32,
        landmark_stride: int = 1,
    ):
        if batch_size < 1 or landmark_stride < 1:
            raise ValueError(
                f"batch_size and landmark_stride must be >= 1, got {batch_size}, {landmark_stride}"
            )
        self.detector, self.recon = detector, recon.to(device).eval()
        self.device, self.batch_size, self.landmark_stride = device, batch_size, landmark_stride

    @classmethod
    def create(
        cls,
        weights: str | Path | None = None,
        detector: str = "sfd",
        face_weights: str | Path | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        landmark_stride: int = 1,
        landmarks: str = "fan",
        seed: int = 0,
    ) -> BetasExtractor:
        """Load the recon net from an official checkpoint dir/file/URI, or seeded stand-in weights.

        ``landmark_stride`` > 1 runs the landmark network on every n-th frame (and the last) and
        interpolates linearly in between: n times fewer FAN passes, an approximation of SadTalker's
        per-frame detection for smooth footage. 1 (the default) is exact. ``landmarks="template"``
        (offline smoke runs only) places the mean face in the detector box instead of running FAN.
        """
        recon = ReconNet()
        if weights is None:
            log.warning(STAND_IN_WARNING)
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                recon = ReconNet()
        else:
            load_part(recon, weights, "face_3drecon")
        config = DetectorConfig(
            device=device,
            face_detector=detector,
            landmarks=landmarks,
            weights_dir=Path(face_weights) if face_weights else None,
        )
        return cls(LandmarkDetector(config), recon, device, batch_size, landmark_stride)

    def extract(self, frames: np.ndarray, name: str = "video") -> FrameBetas:
        """Coefficients of every frame of ``frames`` [T, H, W, 3] uint8 RGB."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
            raise ValueError(f"{name}: expected uint8 frames [T, H, W, 3], got {frames.dtype} {frames.shape}")
        first, landmarks = self._first_face(frames, name)
        info = plan_crop(landmarks, (frames.shape[2], frames.shape[1]), "crop")
        crops = [apply_crop(frame, info, CROP_SIZE, f"{name} frame {i}") for i, frame in enumerate(frames)]
        landmarks, face_found = self._crop_landmarks(crops, name)
        face_found[:first] = False
        aligned = [align_face(crop, lm) for crop, lm in zip(crops, landmarks, strict=True)]
        return FrameBetas(
            full=self.reconstruct([a.crop for a in aligned]),
            crop=np.stack([a.trans.crop_params for a in aligned]).astype(np.float32),
            face_found=face_found,
        )

    @torch.inference_mode()
    def reconstruct(self, aligned: list[np.ndarray]) -> np.ndarray:
        """Recon net over aligned 224 crops in batches of ``batch_size`` -> [T, 257] float32."""
        out = []
        for start in range(0, len(aligned), self.batch_size):
            batch = recon_input(aligned[start : start + self.batch_size]).to(self.device)
            out.append(self.recon(batch).float().cpu())
        return torch.cat(out).numpy()

    def _crop_landmarks(self, crops: list[np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks [T, 68, 2] of every crop and whether a face was seen there, keyframes every stride."""
        keys = np.unique(np.r_[np.arange(0, len(crops), self.landmark_stride), len(crops) - 1])
        found = self.detector.landmarks_for_frames([crops[i] for i in keys], name)
        key_found = np.ones(len(keys), bool)
        key_found[list(found.missing)] = False
        t = np.arange(len(crops))
        flat = found.landmarks.reshape(len(keys), -1)
        landmarks = np.stack([np.interp(t, keys, flat[:, j]) for j in range(flat.shape[1])], axis=1)
        after = np.searchsorted(keys, t)  # first keyframe at or after each frame
        before = np.where(keys[after] == t, after, after - 1)
        face_found = key_found[before] & key_found[after]
        return landmarks.reshape(len(crops), 68, 2).astype(np.float32), face_found

    def _first_face(self, frames: np.ndarray, name: str) -> tuple[int, np.ndarray]:
        """Index and landmarks of the first frame with a face (the crop is planned on it)."""
        for i, frame in enumerate(frames):
            try:
                return i, self.detector.detect(frame, f"{name} frame {i}").landmarks
            except NoFaceError:
                continue
        raise NoFaceError(f"no face found in any of the {len(frames)} frames of {name}")
