"""SadTalker's clip crop, cut while a video decodes: planned on the first frame with a face and applied to
every frame as it streams, so a clip is held as 256 px crops, never as source frames."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from talkingface.face.crop import CropInfo, apply_crop, plan_crop
from talkingface.face.detect import LandmarkDetector, NoFaceError

CROP_SIZE = 256


@dataclass(frozen=True)
class ClipCrops:
    """``crops`` [T, size, size, 3] uint8; ``first``: the frame the crop was planned on (the first with
    a face; earlier frames are cut with the same crop); ``info``: the crop in source pixels."""

    crops: np.ndarray
    first: int
    info: CropInfo


def crop_info_json(info: CropInfo) -> str:
    """``info`` as JSON (it travels beside the crops between pipeline stages)."""
    return json.dumps(dataclasses.asdict(info), default=int)  # numpy integers in the boxes


def crop_info_from_json(text: str) -> CropInfo:
    """The CropInfo of :func:`crop_info_json`."""
    values = {k: None if v is None else tuple(v) for k, v in json.loads(text).items() if k != "mode"}
    return CropInfo(mode=json.loads(text)["mode"], **values)


def crop_clip(
    frames: Iterable[np.ndarray], detector: LandmarkDetector, name: str = "video", size: int = CROP_SIZE
) -> ClipCrops:
    """Cut ``frames`` (RGB uint8 [H, W, 3], streamed) with the crop planned on the first face frame.

    Only frames before the first face are kept whole (until the face shows); NoFaceError naming
    ``name`` when no frame has one.
    """
    waiting: list[np.ndarray] = []
    crops: list[np.ndarray] = []
    info: CropInfo | None = None
    first = 0
    for i, frame in enumerate(frames):
        if info is not None:
            crops.append(apply_crop(frame, info, size, f"{name} frame {i}"))
            continue
        waiting.append(frame)
        try:
            landmarks = detector.detect(frame, f"{name} frame {i}").landmarks
        except NoFaceError:
            continue
        info, first = plan_crop(landmarks, (frame.shape[1], frame.shape[0]), "crop"), i
        crops = [apply_crop(f, info, size, f"{name} frame {j}") for j, f in enumerate(waiting)]
        waiting = []
    if info is None:
        raise NoFaceError(f"no face found in any of the {len(waiting)} frames of {name}")
    return ClipCrops(np.stack(crops), first, info)
