"""SadTalker's preprocess crop modes: an FFHQ-style face quad from eyes and mouth, then a crop box around it.

Modes (sadtalker-facts 1.3):

- ``crop``: the quad's bounding box (tight face crop);
- ``extcrop``: the larger crop box (quad box plus a border);
- ``resize``: the whole image, no crop;
- ``full`` / ``extfull``: like ``crop`` / ``extcrop``, and the rendered face is pasted back into the original
  image afterwards (:mod:`talkingface.face.paste`).

The cut region is resized (non-uniformly) to ``size`` x ``size``. :class:`CropInfo` keeps what paste-back
needs, and :meth:`CropInfo.as_sadtalker` gives SadTalker's ``crop_info = ((w, h), crop, quad)`` triple.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

MODES = ("crop", "extcrop", "resize", "full", "extfull")
XSIZE = 512  # images whose quad is much larger than this are shrunk first
MIN_HALF_SIZE = 8.0  # smallest quad half-size in pixels (degenerate landmarks still give a usable crop)
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class CropInfo:
    """Where a crop came from.

    ``resized_size`` is the (W, H) the image is shrunk to before cutting (equal to ``image_size`` unless the
    face is very large); ``crop_box`` is (x1, y1, x2, y2) in the shrunk image; ``quad_box`` is the quad's
    bounding box relative to ``crop_box``. Both are None in ``resize`` mode.
    """

    mode: str
    image_size: tuple[int, int]
    resized_size: tuple[int, int]
    crop_box: Box | None
    quad_box: Box | None

    @property
    def region(self) -> Box:
        """The cut region (x1, y1, x2, y2) in the shrunk image."""
        if self.crop_box is None or self.quad_box is None:
            return (0, 0, *self.resized_size)
        if self.mode.startswith("ext"):
            return self.crop_box
        cx1, cy1 = self.crop_box[:2]
        qx1, qy1, qx2, qy2 = self.quad_box
        return (cx1 + qx1, cy1 + qy1, cx1 + qx2, cy1 + qy2)

    @property
    def paste_box(self) -> Box:
        """The cut region (x1, y1, x2, y2) in original image pixels: where a rendered frame goes back."""
        sx = self.image_size[0] / self.resized_size[0]
        sy = self.image_size[1] / self.resized_size[1]
        x1, y1, x2, y2 = self.region
        box = (round(x1 * sx), round(y1 * sy), round(x2 * sx), round(y2 * sy))
        return _fit_box(box, self.image_size)

    @property
    def pastes_back(self) -> bool:
        return self.mode in ("full", "extfull")

    def as_sadtalker(self) -> tuple[tuple[int, int], Box | None, Box | None]:
        """SadTalker's ``((w, h) of the cut region, crop box, quad box)``."""
        x1, y1, x2, y2 = self.region
        return ((x2 - x1, y2 - y1), self.crop_box, self.quad_box)


def check_landmarks(landmarks: np.ndarray, name: str = "landmarks") -> np.ndarray:
    """Validate (68, 2) finite landmarks; returns them as float64."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise ValueError(f"{name}: expected finite (68, 2) landmarks, got shape {lm.shape}")
    return lm


def face_quad(landmarks: np.ndarray) -> np.ndarray:
    """The oriented FFHQ face quad (4, 2): corners top-left, bottom-left, bottom-right, top-right."""
    lm = check_landmarks(landmarks)
    eye_left, eye_right = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    eye_mid = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (lm[48] + lm[54]) / 2 - eye_mid
    # x axis: between the eye line and the perpendicular of the eye-to-mouth line.
    axis = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    norm = float(np.hypot(*axis))
    axis = axis / norm if norm > 1e-6 else np.array([1.0, 0.0])
    half = max(2.0 * float(np.hypot(*eye_to_eye)), 1.8 * float(np.hypot(*eye_to_mouth)), MIN_HALF_SIZE)
    x = axis * half
    y = np.array([-x[1], x[0]])
    centre = eye_mid + 0.1 * eye_to_mouth
    return np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y])


def _fit_box(box: Box, size: tuple[int, int], min_size: int = 2) -> Box:
    """Clip a box to an image of (W, H) and widen it to at least ``min_size`` pixels."""
    width, height = size
    x1, x2 = _fit_span(box[0], box[2], width, min_size)
    y1, y2 = _fit_span(box[1], box[3], height, min_size)
    return (x1, y1, x2, y2)


def _fit_span(lo: int, hi: int, limit: int, min_size: int) -> tuple[int, int]:
    lo, hi = max(0, min(lo, limit)), max(0, min(hi, limit))
    if hi - lo < min_size:
        mid = (lo + hi) // 2
        lo = max(0, min(mid - min_size // 2, limit - min_size))
        hi = lo + min_size
    return lo, hi


def plan_crop(
    landmarks: np.ndarray, image_size: tuple[int, int], mode: str = "crop", xsize: int = XSIZE
) -> CropInfo:
    """Compute the crop for an image of ``image_size`` (W, H) from its face landmarks."""
    if mode not in MODES:
        raise ValueError(f"unknown preprocess mode {mode!r}; expected one of {MODES}")
    width, height = image_size
    if mode == "resize":
        return CropInfo(mode, (width, height), (width, height), None, None)
    quad = face_quad(landmarks)
    qsize = float(np.hypot(*(quad[3] - quad[0])))
    shrink = math.floor(qsize / xsize * 0.5)
    resized = (width, height)
    if shrink > 1:
        resized = (max(1, round(width / shrink)), max(1, round(height / shrink)))
        quad = quad / shrink
        qsize /= shrink
    border = max(round(qsize * 0.1), 3)
    lo, hi = np.floor(quad.min(axis=0)).astype(int), np.ceil(quad.max(axis=0)).astype(int)
    crop = _fit_box((lo[0] - border, lo[1] - border, hi[0] + border, hi[1] + border), resized)
    quad_box = (lo[0] - crop[0], lo[1] - crop[1], hi[0] - crop[0], hi[1] - crop[1])
    quad_box = _fit_box(quad_box, (crop[2] - crop[0], crop[3] - crop[1]))
    return CropInfo(mode, (width, height), resized, crop, quad_box)


def apply_crop(image: np.ndarray, info: CropInfo, size: int = 256, name: str = "image") -> np.ndarray:
    """Cut ``info``'s region out of ``image`` and resize it to ``size`` x ``size``."""
    height, width = image.shape[:2]
    if (width, height) != info.image_size:
        raise ValueError(f"{name}: size {(width, height)} differs from the planned crop's {info.image_size}")
    if size < 8:
        raise ValueError(f"crop size must be at least 8 pixels, got {size}")
    if info.resized_size != info.image_size:
        image = cv2.resize(image, info.resized_size, interpolation=cv2.INTER_AREA)
    x1, y1, x2, y2 = info.region
    region = image[y1:y2, x1:x2]
    shrinking = region.shape[0] > size or region.shape[1] > size
    return cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def crop_face(
    image: np.ndarray, landmarks: np.ndarray, mode: str = "crop", size: int = 256, name: str = "image"
) -> tuple[np.ndarray, CropInfo]:
    """Crop ``image`` (H, W, 3) around the face given by its landmarks; returns (size x size crop, info)."""
    if not isinstance(image, np.ndarray) or image.ndim != 3:
        raise ValueError(f"{name}: expected an (H, W, C) image array")
    info = plan_crop(check_landmarks(landmarks, f"{name} landmarks"), (image.shape[1], image.shape[0]), mode)
    return apply_crop(image, info, size, name), info
