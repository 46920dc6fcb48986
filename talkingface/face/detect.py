"""68-point face landmarks with face-alignment's 2D-FAN, boxes from its detectors or OpenCV Haar.

Weights: face-alignment loads ``2DFAN4-*.pth.tar`` (and ``s3fd-*.pth`` for the ``sfd`` detector) from the
torch hub cache (``$TORCH_HOME/hub/checkpoints``), downloading them when absent. A local weights folder
(``DetectorConfig.weights_dir`` or ``$TALKINGFACE_FACE_WEIGHTS``) holding those files is used instead, and
then nothing is downloaded. The ``haar`` detector needs no weights: OpenCV's frontal-face cascade supplies
the boxes and face-alignment only runs FAN.

Landmarks are (68, 2) float32 pixels in the iBUG-68 order, x to the right, y down.

``landmarks="template"`` skips the landmark network: the mean 68-point face (the same 3D template
SadTalker aligns to) is placed in each detected box. It needs no weights and runs in milliseconds, but
it only follows the face box, not the expression: use it for offline smoke runs and tests, never for
training data.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from talkingface.face.align import standard_landmarks

log = logging.getLogger(__name__)

WEIGHTS_ENV = "TALKINGFACE_FACE_WEIGHTS"
HAAR = "haar"
# face-alignment's download names (its URLs' basenames) and the patterns a local weights folder may use.
_FAN_FILE = "2DFAN4-11f355bf06.pth.tar"
_S3FD_FILE = "s3fd-619a316812.pth"
_ALIASES = {"2DFAN4-*.pth.tar": _FAN_FILE, "s3fd-*.pth": _S3FD_FILE}


class NoFaceError(ValueError):
    """No face was found in an image (or in any frame of a video)."""


@dataclass(frozen=True)
class DetectorConfig:
    """How to build a :class:`LandmarkDetector`.

    ``face_detector`` is ``"haar"`` (OpenCV cascade, offline) or a face-alignment detector module name
    (``"sfd"``, ``"dlib"``, ``"blazeface"``, ...). ``weights_dir`` defaults to ``$TALKINGFACE_FACE_WEIGHTS``.
    """

    device: str = "cpu"
    face_detector: str = "sfd"
    landmarks: str = "fan"  # "fan" (face-alignment's 2D-FAN) or "template" (mean face in the box)
    weights_dir: Path | None = None
    haar_scale_factor: float = 1.1
    haar_min_neighbors: int = 5
    min_face_px: int = 40


@dataclass(frozen=True)
class FaceLandmarks:
    """Landmarks of the face picked in one image.

    ``box`` is (x1, y1, x2, y2) of the picked face; ``n_faces`` counts all detected faces, and
    ``multiple_faces`` is True when the largest of several was picked.
    """

    landmarks: np.ndarray
    box: tuple[float, float, float, float]
    n_faces: int

    @property
    def multiple_faces(self) -> bool:
        return self.n_faces > 1


@dataclass(frozen=True)
class FrameLandmarks:
    """Landmarks for every frame of a sequence, shape (T, 68, 2).

    ``missing`` lists the frames without a face; they carry the nearest earlier frame's landmarks (the first
    face found, for frames before it). The caller decides how many missing frames are too many.
    """

    landmarks: np.ndarray
    missing: tuple[int, ...]
    multiple_faces: tuple[int, ...]

    @property
    def n_missing(self) -> int:
        return len(self.missing)


def check_image(image: np.ndarray, name: str) -> np.ndarray:
    """Validate an RGB uint8 (H, W, 3) image; raise ValueError naming it otherwise."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        desc = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{name}: expected an RGB uint8 array of shape (H, W, 3), got {desc}")
    if min(image.shape[:2]) < 8:
        raise ValueError(f"{name}: image of shape {image.shape} is too small")
    return image


def haar_face_boxes(
    image: np.ndarray, scale_factor: float = 1.1, min_neighbors: int = 5, min_face_px: int = 40
) -> np.ndarray:
    """Frontal-face boxes (N, 4) as x1, y1, x2, y2 from OpenCV's Haar cascade, largest first."""
    cascade = _haar_cascade()
    gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
    found = cascade.detectMultiScale(gray, scale_factor, min_neighbors, minSize=(min_face_px, min_face_px))
    boxes = np.asarray(found, dtype=np.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    return boxes[np.argsort(-_areas(boxes), kind="stable")]


def template_landmarks(box: np.ndarray) -> np.ndarray:
    """The mean 68-point face (x right, y down) scaled into a face box (x1, y1, x2, y2).

    Detector boxes run from about the brows to the chin and across the cheeks; the template's jaw
    spans the box width and its brow-to-chin extent 90% of the height, starting 10% down.
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    mean = standard_landmarks()[:, :2] * np.array([1.0, -1.0])  # y down
    lo, hi = mean.min(axis=0), mean.max(axis=0)
    unit = (mean - lo) / (hi - lo)  # [0, 1] in both axes
    return (np.array([x1, y1 + 0.1 * (y2 - y1)]) + unit * np.array([x2 - x1, 0.9 * (y2 - y1)])).astype(
        np.float32
    )


@functools.cache
def _haar_cascade() -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(f"OpenCV Haar cascade {path} is missing or unreadable (needs opencv-python 4.x)")
    return cascade


def _areas(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


@contextmanager
def _hub_dir_from(weights_dir: Path) -> Iterator[None]:
    """Point torch hub at a temporary hub folder whose checkpoints link to the files in ``weights_dir``."""
    import torch.hub

    files = [p for p in weights_dir.iterdir() if p.is_file()]
    if not any(p.match("2DFAN4-*.pth.tar") for p in files):
        raise FileNotFoundError(f"face weights dir {weights_dir} holds no 2DFAN4-*.pth.tar")
    with tempfile.TemporaryDirectory(prefix="tf-hub-") as tmp:
        hub = Path(tmp) / "hub"
        checkpoints = hub / "checkpoints"
        checkpoints.mkdir(parents=True)
        for path in files:
            (checkpoints / path.name).symlink_to(path.resolve())
        for pattern, expected in _ALIASES.items():
            matches = sorted(p for p in files if p.match(pattern))
            if matches and not (checkpoints / expected).exists():
                (checkpoints / expected).symlink_to(matches[0].resolve())
        old_env, old_dir = os.environ.get("TORCH_HOME"), torch.hub.get_dir()
        os.environ["TORCH_HOME"] = tmp
        explicit = Path(torch.hub.get_dir()) != hub  # torch.hub.set_dir() was called: it overrides TORCH_HOME
        if explicit:
            torch.hub.set_dir(str(hub))
        try:
            yield
        finally:
            if old_env is None:
                del os.environ["TORCH_HOME"]
            else:
                os.environ["TORCH_HOME"] = old_env
            if explicit:
                torch.hub.set_dir(old_dir)


class LandmarkDetector:
    """face-alignment ``FaceAlignment`` (2D FAN, no compile, no flip; attribute ``fa``) plus box picking."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        if self.config.landmarks not in ("fan", "template"):
            raise ValueError(f"landmarks must be 'fan' or 'template', got {self.config.landmarks!r}")
        if self.config.landmarks == "template" and self.config.face_detector == HAAR:
            self.fa = None  # nothing of face-alignment is needed
            return
        import face_alignment

        env_dir = os.environ.get(WEIGHTS_ENV)
        weights = self.config.weights_dir or (Path(env_dir) if env_dir else None)
        if weights is not None and not Path(weights).is_dir():
            raise FileNotFoundError(f"face weights dir {weights} does not exist")
        fa_detector = "folder" if self.config.face_detector == HAAR else self.config.face_detector

        def build() -> face_alignment.FaceAlignment:
            return face_alignment.FaceAlignment(
                face_alignment.LandmarksType.TWO_D,
                device=self.config.device,
                compile=False,
                flip_input=False,
                face_detector=fa_detector,
            )

        if weights is None:
            self.fa = build()
        else:
            with _hub_dir_from(Path(weights)):
                self.fa = build()

    def boxes(self, image: np.ndarray) -> np.ndarray:
        """All face boxes (N, 4) as x1, y1, x2, y2, largest first."""
        cfg = self.config
        if cfg.face_detector == HAAR:
            return haar_face_boxes(image, cfg.haar_scale_factor, cfg.haar_min_neighbors, cfg.min_face_px)
        found = self.fa.face_detector.detect_from_image(image.copy())
        boxes = np.asarray([b[:4] for b in found], dtype=np.float32).reshape(-1, 4)
        boxes = boxes[np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= cfg.min_face_px]
        return boxes[np.argsort(-_areas(boxes), kind="stable")]

    def detect(self, image: np.ndarray, name: str = "image") -> FaceLandmarks:
        """Landmarks of the largest face; NoFaceError naming ``name`` when there is none."""
        check_image(image, name)
        boxes = self.boxes(image)
        if len(boxes) == 0:
            raise NoFaceError(f"no face found in {name}")
        if len(boxes) > 1:
            log.warning(
                "%d faces in %s: using the largest, box %s", len(boxes), name, boxes[0].round(1).tolist()
            )
        box = boxes[0]
        if self.config.landmarks == "template":
            return FaceLandmarks(template_landmarks(box), tuple(float(v) for v in box), len(boxes))
        found = self.fa.get_landmarks_from_image(image, detected_faces=[[*box.tolist(), 1.0]])
        landmarks = np.asarray(found[0], dtype=np.float32)[:, :2]
        if landmarks.shape != (68, 2) or not np.isfinite(landmarks).all():
            raise RuntimeError(f"face-alignment returned invalid landmarks {landmarks.shape} for {name}")
        return FaceLandmarks(landmarks, tuple(float(v) for v in box), len(boxes))

    def landmarks_for_frames(self, frames: Iterable[np.ndarray], name: str = "video") -> FrameLandmarks:
        """Landmarks per frame; a frame without a face reuses the previous frame's landmarks."""
        rows: list[np.ndarray | None] = []
        missing: list[int] = []
        several: list[int] = []
        for i, frame in enumerate(frames):
            try:
                found = self.detect(frame, f"{name} frame {i}")
            except NoFaceError:
                missing.append(i)
                rows.append(rows[-1] if rows else None)
                continue
            rows.append(found.landmarks)
            if found.multiple_faces:
                several.append(i)
        if not rows:
            raise ValueError(f"{name}: no frames")
        first = next((r for r in rows if r is not None), None)
        if first is None:
            raise NoFaceError(f"no face found in any of the {len(rows)} frames of {name}")
        stacked = np.stack([first if r is None else r for r in rows])
        if missing:
            log.warning("%s: no face in %d of %d frames", name, len(missing), len(rows))
        return FrameLandmarks(stacked, tuple(missing), tuple(several))
