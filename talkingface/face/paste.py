"""Paste rendered face crops back into the original image (``full`` / ``extfull`` modes).

Each rendered frame is resized to the crop's box in the original image and blended in, either with
Poisson blending (``cv2.seamlessClone``, NORMAL_CLONE, as SadTalker does) or with a faster feathered
alpha blend whose weight ramps from 0 at the box edge to 1 at ``feather_px`` inside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from talkingface.face.crop import CropInfo

METHODS = ("seamless", "feather")


@dataclass(frozen=True)
class PasteConfig:
    """Blend method (``seamless`` or ``feather``) and the feather ramp width in pixels."""

    method: str = "seamless"
    feather_px: int = 12

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown paste method {self.method!r}; expected one of {METHODS}")
        if self.feather_px < 1:
            raise ValueError(f"feather_px must be >= 1, got {self.feather_px}")


def paste_back(
    background: np.ndarray, rendered: np.ndarray, info: CropInfo, config: PasteConfig | None = None
) -> np.ndarray:
    """Return a copy of ``background`` (the original image) with ``rendered`` blended into its crop box."""
    config = config or PasteConfig()
    height, width = background.shape[:2]
    if background.ndim != 3 or (width, height) != info.image_size:
        raise ValueError(
            f"background of shape {background.shape} does not match the crop's image size {info.image_size}"
        )
    if rendered.ndim != 3 or rendered.shape[2] != background.shape[2] or rendered.dtype != background.dtype:
        raise ValueError(
            f"rendered frame {rendered.dtype} {rendered.shape} is not an image like the background "
            f"({background.dtype}, {background.shape[2]} channels)"
        )
    x1, y1, x2, y2 = info.paste_box
    patch = cv2.resize(rendered, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
    if config.method == "feather":
        return _feather(background, patch, (x1, y1), config.feather_px)
    return _seamless(background, patch, (x1, y1))


def paste_frames(
    background: np.ndarray, rendered: Iterable[np.ndarray], info: CropInfo, config: PasteConfig | None = None
) -> Iterator[np.ndarray]:
    """Paste every rendered frame into the same (static) background, one output frame at a time."""
    for frame in rendered:
        yield paste_back(background, frame, info, config)


def _seamless(background: np.ndarray, patch: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
    """Poisson-blend ``patch`` at ``origin``; the mask keeps one pixel off the image border."""
    height, width = background.shape[:2]
    x1, y1 = origin
    x2, y2 = x1 + patch.shape[1], y1 + patch.shape[0]
    source = background.copy()
    source[y1:y2, x1:x2] = patch
    mask = np.zeros((height, width), np.uint8)
    mx1, my1, mx2, my2 = max(x1, 1), max(y1, 1), min(x2, width - 1), min(y2, height - 1)
    if mx2 - mx1 < 2 or my2 - my1 < 2:
        return source
    mask[my1:my2, mx1:mx2] = 255
    # seamlessClone centres the mask's bounding rect on ``centre`` (halves rounded down): maps onto itself.
    centre = (mx1 + (mx2 - mx1) // 2, my1 + (my2 - my1) // 2)
    return cv2.seamlessClone(source, background, mask, centre, cv2.NORMAL_CLONE)


def _feather(
    background: np.ndarray, patch: np.ndarray, origin: tuple[int, int], feather_px: int
) -> np.ndarray:
    """Alpha-blend ``patch`` at ``origin`` with a linear ramp along the box edges."""
    x1, y1 = origin
    h, w = patch.shape[:2]
    ramp_y = np.minimum(np.arange(h) + 0.5, h - np.arange(h) - 0.5) / feather_px
    ramp_x = np.minimum(np.arange(w) + 0.5, w - np.arange(w) - 0.5) / feather_px
    alpha = np.clip(np.minimum(ramp_y[:, None], ramp_x[None, :]), 0.0, 1.0)[..., None].astype(np.float32)
    out = background.copy()
    region = out[y1 : y1 + h, x1 : x1 + w].astype(np.float32)
    blended = alpha * patch.astype(np.float32) + (1.0 - alpha) * region
    out[y1 : y1 + h, x1 : x1 + w] = np.clip(np.rint(blended), 0, 255).astype(background.dtype)
    return out
