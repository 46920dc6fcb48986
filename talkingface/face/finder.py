"""Robust face finding with dlib's detectors: image variants tried in stages, results mapped back.

A plain detector pass misses what corpora bring: small faces, stretched 16:9 frames of 4:3 pictures,
tilted heads, dark or washed-out exposure. :class:`FaceFinder` runs the detector on affine variants of the
image in stages and stops at the first stage that finds a face:

1. the grayscale image, then its CLAHE-equalised copy (dark, bright, low-contrast pictures);
2. the equalised copy upscaled 2x (faces down to about 40 px; skipped for very large images);
3. aspect-corrected copies (x or y squeezed by 3/4: stretched or squashed frames);
4. rotated copies (+-15 and +-30 degrees, in-plane head roll), also upscaled when the image is small.

The search ends after the first stage that gives a confident face (``sure_score``); weaker hits are
kept and compared, after non-maximum suppression, with what later stages find.

Every detection carries the affine map from image to the variant it came from, so landmarks are
predicted in the variant (where the face is upright and unstretched) and mapped back. Several faces are
ranked by detector score and size together (:func:`main_face`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

DETECTORS = ("dlib", "dlib-cnn")
MAX_UPSCALED_PIXELS = 9_000_000  # 2x variants of larger images (> 2000x1125) are skipped
SMALL_IMAGE_PX = 700  # below this long side, rotated variants are also tried at 2x


@dataclass(frozen=True)
class Detection:
    """One face: ``box`` (x1, y1, x2, y2) in image pixels, detector ``score``, and the variant's map.

    ``affine`` (2 x 3) takes image pixels to the variant's pixels; ``variant_box`` is the detector's box
    there, the box the landmark model expects.
    """

    box: np.ndarray
    score: float
    affine: np.ndarray
    variant_box: tuple[int, int, int, int]
    tone: str = "raw"

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])


@dataclass(frozen=True)
class FinderConfig:
    """``detector``: ``dlib`` (HOG, fast) or ``dlib-cnn`` (MMOD CNN, slower, more pose-tolerant)."""

    detector: str = "dlib"
    min_score: float = 0.1  # HOG SVM margin / CNN confidence a box needs
    sure_score: float = 0.6  # a stage finding a face this confident ends the search
    min_face_px: int = 20  # smallest box side in image pixels
    rotations: tuple[float, ...] = (15.0, -15.0, 30.0, -30.0)

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"face finder detector must be one of {DETECTORS}, got {self.detector!r}")


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale of an RGB (or already gray) image."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def equalise(gray: np.ndarray) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (tile size follows the image size)."""
    tiles = max(2, min(8, min(gray.shape) // 64))
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(tiles, tiles)).apply(gray)


TONES = ("raw", "eq", "gamma")


def tone_map(gray: np.ndarray, tone: str) -> np.ndarray:
    """``raw`` as is, ``eq`` CLAHE-equalised, ``gamma`` darkened (gamma 2.2) then equalised (washed-out)."""
    if tone == "raw":
        return gray
    if tone == "gamma":
        gray = cv2.LUT(gray, (255 * (np.arange(256) / 255) ** 2.2).astype(np.uint8))
    return equalise(gray)


def warp(gray: np.ndarray, affine: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``gray`` under ``affine`` into a (W, H) ``size`` canvas (borders replicated)."""
    if np.allclose(affine, np.eye(2, 3)) and size == (gray.shape[1], gray.shape[0]):
        return gray
    return cv2.warpAffine(gray, affine, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def scaling(sx: float, sy: float, shape: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, int]]:
    """Affine of an axis scaling and the scaled canvas size (W, H)."""
    h, w = shape[:2]
    return np.array([[sx, 0, 0], [0, sy, 0]], np.float64), (max(1, round(w * sx)), max(1, round(h * sy)))


def rotation(angle: float, scale: float, shape: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, int]]:
    """Affine rotating by ``angle`` degrees (counter-clockwise) about the centre, on a canvas holding all."""
    h, w = shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(w * cos + h * sin)), int(np.ceil(w * sin + h * cos))
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return m, (nw, nh)


def invert(affine: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(affine)


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) points under a 2 x 3 affine."""
    return points @ affine[:, :2].T + affine[:, 2]


def box_in_image(rect: tuple[int, int, int, int], affine: np.ndarray) -> np.ndarray:
    """A variant's box mapped back to an axis-aligned box in image pixels (same centre and side lengths)."""
    x1, y1, x2, y2 = rect
    back = invert(affine)
    tl, tr, bl = apply_affine(back, np.array([[x1, y1], [x2, y1], [x1, y2]], np.float64))
    br = tr + bl - tl
    centre = (tl + br) / 2
    half = np.array([np.linalg.norm(tr - tl), np.linalg.norm(bl - tl)]) / 2
    return np.r_[centre - half, centre + half].astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def suppress(found: list[Detection], overlap: float = 0.3) -> list[Detection]:
    """Non-maximum suppression: of overlapping boxes keep the highest score."""
    kept: list[Detection] = []
    for det in sorted(found, key=lambda d: -d.score):
        if all(iou(det.box, k.box) <= overlap for k in kept):
            kept.append(det)
    return kept


def main_face(scores: np.ndarray, widths: np.ndarray) -> int:
    """Index of the main face: detector confidence times relative size (square root), not size alone.

    A face half as wide as the largest needs about 1.4x its score to win, so a large low-confidence
    box (a poster, a badge) does not beat a clear face.
    """
    scores, widths = np.asarray(scores, np.float64), np.asarray(widths, np.float64)
    weight = np.clip(scores, 1e-3, None) * np.sqrt(widths / max(widths.max(), 1e-6))
    return int(np.argmax(weight))


class FaceFinder:
    """Staged detection over image variants (see the module docstring)."""

    def __init__(self, config: FinderConfig | None = None) -> None:
        from talkingface.face import dlib_models

        self.config = config or FinderConfig()
        dlib_models.require_dlib()
        self._cnn = dlib_models.cnn_detector() if self.config.detector == "dlib-cnn" else None
        self._hog = None if self._cnn is not None else dlib_models.hog_detector()

    def find(self, image: np.ndarray) -> list[Detection]:
        """All faces in an RGB or gray uint8 image, best first (by :func:`main_face` weight)."""
        gray = to_gray(image)
        toned: dict[str, np.ndarray] = {}
        found: list[Detection] = []
        for stage in self._stages(gray.shape):
            for tone, affine, size in stage:
                if tone not in toned:
                    toned[tone] = tone_map(gray, tone)
                found += self._detect(warp(toned[tone], affine, size), affine, tone)
            if any(d.score >= self.config.sure_score for d in found):
                break
        kept, order = suppress(found), []
        while kept:
            i = main_face(np.array([d.score for d in kept]), np.array([d.width for d in kept]))
            order.append(kept.pop(i))
        return order

    def _stages(self, shape: tuple[int, ...]) -> Iterator[list[tuple[str, np.ndarray, tuple[int, int]]]]:
        h, w = shape[:2]
        ident = scaling(1, 1, shape)
        yield [("raw", *ident)]
        yield [("eq", *ident), ("gamma", *ident)]
        if h * w * 4 <= MAX_UPSCALED_PIXELS:
            yield [("eq", *scaling(2, 2, shape))]
        yield [("eq", *scaling(0.75, 1, shape)), ("eq", *scaling(1, 0.75, shape))]
        yield [("eq", *rotation(a, 1.0, shape)) for a in self.config.rotations]
        if max(h, w) <= SMALL_IMAGE_PX:
            yield [("eq", *rotation(a, 2.0, shape)) for a in self.config.rotations]

    def _detect(self, variant: np.ndarray, affine: np.ndarray, tone: str) -> list[Detection]:
        cfg = self.config
        if self._cnn is not None:
            hits = self._cnn(np.dstack([variant] * 3), 0)
            raw = [
                ((r.rect.left(), r.rect.top(), r.rect.right(), r.rect.bottom()), r.confidence) for r in hits
            ]
        else:
            rects, scores, _ = self._hog.run(variant, 0, 0.0)
            raw = [
                ((r.left(), r.top(), r.right(), r.bottom()), s) for r, s in zip(rects, scores, strict=True)
            ]
        found = []
        for rect, score in raw:
            box = box_in_image(rect, affine)
            if score >= cfg.min_score and min(box[2] - box[0], box[3] - box[1]) >= cfg.min_face_px:
                found.append(Detection(box, float(score), affine, rect, tone))
        return found


def local_view(
    gray: np.ndarray, affine: np.ndarray, rect: tuple[int, int, int, int], pad: float = 0.5
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """The variant's neighbourhood of ``rect`` only: (patch, image->patch affine, rect in the patch).

    Warping just the face's surroundings keeps landmark prediction cheap on large frames.
    """
    x1, y1, x2, y2 = rect
    margin = pad * max(x2 - x1, y2 - y1)
    ox, oy = x1 - margin, y1 - margin
    local = affine.copy()
    local[:, 2] -= (ox, oy)
    size = (int(np.ceil(x2 - x1 + 2 * margin)), int(np.ceil(y2 - y1 + 2 * margin)))
    patch = cv2.warpAffine(gray, local, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return patch, local, (round(x1 - ox), round(y1 - oy), round(x2 - ox), round(y2 - oy))


def dlib_landmarks(image: np.ndarray, det: Detection, max_roll: float = 5.0) -> np.ndarray:
    """dlib's 68 points (float32 image pixels) for a detection, predicted in its (upright) variant.

    When the points show the head still rolled by more than ``max_roll`` degrees in the variant, they are
    predicted once more in a copy rotated to level the eyes.
    """
    gray = tone_map(to_gray(image), det.tone)
    points = _predict(gray, det.affine, det.variant_box)
    in_variant = apply_affine(det.affine, points)
    eye_l, eye_r = in_variant[36:42].mean(axis=0), in_variant[42:48].mean(axis=0)
    roll = float(np.degrees(np.arctan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0])))
    if abs(roll) > max_roll:
        x1, y1, x2, y2 = det.variant_box
        level = cv2.getRotationMatrix2D(((x1 + x2) / 2, (y1 + y2) / 2), roll, 1.0)
        affine = np.vstack([level, [0, 0, 1]])[:2] @ np.vstack([det.affine, [0, 0, 1]])
        points = _predict(gray, affine, det.variant_box)
    return points.astype(np.float32)


def _predict(gray: np.ndarray, affine: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    import dlib

    from talkingface.face import dlib_models

    patch, local, (x1, y1, x2, y2) = local_view(gray, affine, rect)
    shape = dlib_models.shape_predictor_68()(patch, dlib.rectangle(x1, y1, x2, y2))
    return apply_affine(invert(local), np.array([(p.x, p.y) for p in shape.parts()], np.float64))


def _spread(points: np.ndarray) -> tuple[np.ndarray, float]:
    centre = points.mean(axis=0)
    return centre, float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean()))


def track(key: Detection, key_landmarks: np.ndarray, previous: np.ndarray) -> Detection:
    """The box for a frame between detections: the keyframe's box moved and scaled with the landmarks.

    The keyframe's variant (rotation, aspect correction, tone) is kept, so the shape predictor sees the
    face as it did at detection.
    """
    key_centre, key_size = _spread(apply_affine(key.affine, key_landmarks))
    centre, size = _spread(apply_affine(key.affine, previous))
    x1, y1, x2, y2 = key.variant_box
    box_centre = (np.array([x1 + x2, y1 + y2]) / 2 - key_centre) / key_size * size + centre
    half = np.array([x2 - x1, y2 - y1]) / 2 / key_size * size
    lo, hi = box_centre - half, box_centre + half
    rect = (round(lo[0]), round(lo[1]), round(hi[0]), round(hi[1]))
    return Detection(box_in_image(rect, key.affine), key.score, key.affine, rect, key.tone)


def smooth_runs(landmarks: np.ndarray, found: np.ndarray) -> np.ndarray:
    """[1, 2, 1] / 4 temporal filter over runs of consecutive frames with a face (run ends kept)."""
    out = landmarks.astype(np.float64).copy()
    inner = np.zeros(len(found), bool)
    inner[1:-1] = found[1:-1] & found[:-2] & found[2:]
    idx = np.flatnonzero(inner)
    out[idx] = (landmarks[idx - 1] + 2.0 * landmarks[idx] + landmarks[idx + 1]) / 4
    return out.astype(np.float32)
