"""A synthetic talking face: scikit-image's astronaut with an audio-driven mouth, blinks and head motion.

Per output frame: the mouth opens with the audio loudness (a vertical stretch away from the mouth line
plus a dark cavity), the eyes close during blinks (skin-coloured lids), and the whole face moves by a
small sinusoidal rotation / translation / scale. Facial feature positions are fractions of the Haar face
box found in the astronaut image.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from talkingface.face.detect import haar_face_boxes

# Feature positions as fractions of the astronaut's Haar face box (x, y).
MOUTH = (0.51, 0.87)
EYES = ((0.28, 0.38), (0.72, 0.38))
LID_SKIN = 0.1  # lid colour is sampled this far (box fraction) below each eye


@dataclass(frozen=True)
class FaceMotion:
    """Head motion amplitudes and the mouth / blink shape, in face-box fractions unless noted."""

    rotation_deg: float = 3.0
    shift_px: float = 3.0
    scale: float = 0.02
    mouth_open: float = 0.14
    mouth_half_width: float = 0.2
    blink_every_s: tuple[float, float] = (1.0, 2.5)


@functools.cache
def _astronaut() -> tuple[np.ndarray, tuple[float, float, float, float]]:
    import skimage.data

    image = np.ascontiguousarray(skimage.data.astronaut())
    boxes = haar_face_boxes(image)
    if len(boxes) == 0:
        raise RuntimeError("OpenCV Haar found no face in skimage.data.astronaut()")
    return image, tuple(float(v) for v in boxes[0])


def loudness(audio: np.ndarray, n_frames: int, sample_rate: int, fps: float) -> np.ndarray:
    """Mouth opening in [0, 1] per video frame: the frame's audio RMS over the clip's 95th percentile."""
    edges = np.round(np.arange(n_frames + 1) * sample_rate / fps).astype(int)
    rms = np.array(
        [
            math.sqrt(float(np.mean(np.square(audio[a:b])))) if b > a else 0.0
            for a, b in itertools.pairwise(edges)
        ]
    )
    rms = np.nan_to_num(rms)
    top = float(np.percentile(rms, 95)) if n_frames else 0.0
    return np.clip(rms / top, 0.0, 1.0) if top > 1e-6 else np.zeros(n_frames)


def blink_track(
    n_frames: int, fps: float, every_s: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """Eye closure in [0, 1] per frame: ~0.1 s blinks after random gaps."""
    closure = np.zeros(n_frames)
    shape = np.array([0.6, 1.0, 0.6])
    start = int(rng.uniform(0.3, every_s[0]) * fps)
    while start < n_frames:
        stop = min(start + len(shape), n_frames)
        closure[start:stop] = shape[: stop - start]
        start += int(rng.uniform(*every_s) * fps)
    return closure


class TalkingFace:
    """Renders frames of a given size with the astronaut's face centred and about 0.45 frame heights tall."""

    def __init__(
        self,
        width: int,
        height: int,
        motion: FaceMotion | None = None,
        tint: tuple[float, float, float] = (1, 1, 1),
    ) -> None:
        if width < 32 or height < 32:
            raise ValueError(f"frame size {width}x{height} is too small for a face")
        self.width, self.height = width, height
        self.motion = motion or FaceMotion()
        image, box = _astronaut()
        self._image = np.clip(image.astype(np.float32) * np.asarray(tint, np.float32), 0, 255).astype(
            np.uint8
        )
        x1, y1, x2, y2 = box
        self._box = box
        self._size = max(x2 - x1, y2 - y1)
        self._centre = ((x1 + x2) / 2, (y1 + y2) / 2)
        self._base_scale = 0.45 * height / self._size
        self._lids = [self._lid_colour(ex, ey) for ex, ey in EYES]

    def _at(self, fx: float, fy: float) -> tuple[float, float]:
        x1, y1, x2, y2 = self._box
        return x1 + fx * (x2 - x1), y1 + fy * (y2 - y1)

    def _lid_colour(self, fx: float, fy: float) -> np.ndarray:
        x, y = self._at(fx, fy + LID_SKIN)
        r = max(2, int(0.03 * self._size))
        patch = self._image[int(y) - r : int(y) + r, int(x) - r : int(x) + r]
        return patch.reshape(-1, 3).mean(axis=0)

    def render(self, opening: float, closure: float, t: float, phases: np.ndarray) -> np.ndarray:
        """One RGB uint8 frame: mouth ``opening`` and eye ``closure`` in [0, 1], head pose at time ``t`` s."""
        face = self._image.copy()
        self._open_mouth(face, float(np.clip(opening, 0, 1)))
        for (fx, fy), lid in zip(EYES, self._lids, strict=True):
            self._close_eye(face, fx, fy, lid, float(np.clip(closure, 0, 1)))
        return self._place(face, t, phases)

    def _open_mouth(self, face: np.ndarray, opening: float) -> None:
        if opening <= 0.02:
            return
        m = self.motion
        mx, my = self._at(*MOUTH)
        half_gap = 0.5 * opening * m.mouth_open * self._size
        half_w = m.mouth_half_width * self._size
        reach = 0.22 * self._size  # how far above / below the mouth line the stretch fades out
        x0, x1 = int(mx - 1.6 * half_w), int(mx + 1.6 * half_w) + 1
        y0, y1 = int(my - reach), int(my + reach) + 1
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        across = np.exp(-(((xs - mx) / half_w) ** 2))
        fade = np.clip(1.0 - np.abs(ys - my) / reach, 0.0, 1.0)
        shift = half_gap * across * fade
        map_y = np.where(ys < my, ys + shift, ys - shift).astype(np.float32)
        region = cv2.remap(face, xs, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        # Dark mouth cavity between the parted lips.
        cavity = (
            1.0 - ((xs - mx) / (0.8 * half_w)) ** 2 - ((ys - my) / np.maximum(half_gap * across, 0.5)) ** 2
        )
        alpha = np.clip(cavity * 3.0, 0.0, 1.0)[..., None]
        dark = np.array([60, 20, 25], np.float32)
        face[y0:y1, x0:x1] = (alpha * dark + (1 - alpha) * region.astype(np.float32)).astype(np.uint8)

    def _close_eye(self, face: np.ndarray, fx: float, fy: float, lid: np.ndarray, closure: float) -> None:
        if closure <= 0.02:
            return
        ex, ey = self._at(fx, fy)
        rx, ry = 0.11 * self._size, 0.06 * self._size
        x0, x1, y0, y1 = int(ex - rx), int(ex + rx) + 1, int(ey - ry), int(ey + ry) + 1
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        inside = 1.0 - ((xs - ex) / rx) ** 2 - ((ys - ey) / ry) ** 2
        alpha = (closure * np.clip(inside * 4.0, 0.0, 1.0))[..., None]
        region = face[y0:y1, x0:x1].astype(np.float32)
        face[y0:y1, x0:x1] = (alpha * lid + (1 - alpha) * region).astype(np.uint8)

    def _place(self, face: np.ndarray, t: float, phases: np.ndarray) -> np.ndarray:
        m = self.motion
        waves = np.sin(2 * np.pi * np.array([0.45, 0.3, 0.55, 0.25]) * t + phases[:4])
        angle = m.rotation_deg * waves[0]
        scale = self._base_scale * (1 + m.scale * waves[3])
        matrix = cv2.getRotationMatrix2D(self._centre, angle, scale)
        matrix[0, 2] += self.width / 2 - self._centre[0] + m.shift_px * waves[1]
        matrix[1, 2] += self.height / 2 - self._centre[1] + m.shift_px * waves[2]
        return cv2.warpAffine(
            face, matrix, (self.width, self.height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )

    def frames(
        self, audio: np.ndarray, sample_rate: int, fps: float, rng: np.random.Generator
    ) -> Iterator[np.ndarray]:
        """Stream the frames of a clip driven by ``audio``: floor(len(audio) / sample_rate * fps) of them."""
        n_frames = int(len(audio) * fps // sample_rate)
        openings = loudness(audio, n_frames, sample_rate, fps)
        closures = blink_track(n_frames, fps, self.motion.blink_every_s, rng)
        phases = rng.uniform(0, 2 * np.pi, 4)
        for i in range(n_frames):
            yield self.render(openings[i], closures[i], i / fps, phases)
