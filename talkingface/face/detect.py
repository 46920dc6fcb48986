"""68-point face landmarks: dlib (pip-shipped, offline) or face-alignment's FAN; boxes from dlib, SFD or Haar.

Backends (``DetectorConfig``):

- detectors: ``dlib`` (HOG, robust staged search, :mod:`talkingface.face.finder`), ``dlib-cnn`` (MMOD CNN),
  ``sfd`` (face-alignment's S3FD), ``haar`` (OpenCV cascade);
- landmarks: ``dlib`` (the 68-point shape predictor of ``face-recognition-models``), ``fan``
  (face-alignment's 2D-FAN), ``template`` (mean face in the box, an explicit option for smoke runs);
- ``auto`` (the default for both): SFD + FAN where face-alignment's weight files are present (weights dir
  or torch hub cache), else dlib + dlib. Nothing is ever downloaded: a backend whose file is missing is a
  :class:`MissingWeightsError` naming the file, where it looked and how to provide it.

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

from talkingface.face import finder
from talkingface.face.align import standard_landmarks
from talkingface.face.dlib_models import MissingWeightsError

log = logging.getLogger(__name__)

WEIGHTS_ENV = "TALKINGFACE_FACE_WEIGHTS"
HAAR = "haar"
# face-alignment's download names (its URLs' basenames) and the patterns a local weights folder may use.
_FAN_FILE = "2DFAN4-11f355bf06.pth.tar"
_S3FD_FILE = "s3fd-619a316812.pth"
_ALIASES = {"2DFAN4-*.pth.tar": _FAN_FILE, "s3fd-*.pth": _S3FD_FILE}
_FA_URL = "https://www.adrianbulat.com/downloads/python-fan/"
DETECTORS = ("auto", "dlib", "dlib-cnn", "sfd", HAAR)
LANDMARKS = ("auto", "dlib", "fan", "template")


class NoFaceError(ValueError):
    """No face was found in an image (or in any frame of a video)."""


@dataclass(frozen=True)
class DetectorConfig:
    """How to build a :class:`LandmarkDetector`.

    ``face_detector`` is one of :data:`DETECTORS`, ``landmarks`` one of :data:`LANDMARKS` (module
    docstring). ``weights_dir`` (face-alignment's files) defaults to ``$TALKINGFACE_FACE_WEIGHTS``.
    Video (dlib landmarks): detection runs every ``detect_every`` frames and the landmarks track the face
    in between; ``smooth_landmarks`` filters them over time.
    """

    device: str = "cpu"
    face_detector: str = "auto"
    landmarks: str = "auto"
    weights_dir: Path | None = None
    haar_scale_factor: float = 1.1
    haar_min_neighbors: int = 5
    min_face_px: int = 40
    detect_every: int = 5
    smooth_landmarks: bool = True

    def __post_init__(self) -> None:
        if self.face_detector not in DETECTORS:
            raise ValueError(f"face detector must be one of {DETECTORS}, got {self.face_detector!r}")
        if self.landmarks not in LANDMARKS:
            raise ValueError(f"landmarks must be one of {LANDMARKS}, got {self.landmarks!r}")
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")


@dataclass(frozen=True)
class FaceLandmarks:
    """Landmarks of the face picked in one image.

    ``box`` is (x1, y1, x2, y2) of the picked face; ``n_faces`` counts all detected faces, and
    ``multiple_faces`` is True when the main one of several was picked; ``score`` is the detector's
    confidence (None where the detector gives none).
    """

    landmarks: np.ndarray
    box: tuple[float, float, float, float]
    n_faces: int
    score: float | None = None

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


def _weights_dir(config: DetectorConfig) -> Path | None:
    env_dir = os.environ.get(WEIGHTS_ENV)
    weights = config.weights_dir or (Path(env_dir) if env_dir else None)
    if weights is not None and not Path(weights).is_dir():
        raise MissingWeightsError(
            f"face weights dir {weights} does not exist (set by --face-weights or ${WEIGHTS_ENV})"
        )
    return Path(weights) if weights is not None else None


def fa_weight_file(config: DetectorConfig, expected: str) -> Path | None:
    """face-alignment weight file ``expected`` (or its alias pattern) in the weights dir or hub cache."""
    import torch.hub

    weights = _weights_dir(config)
    if weights is not None:
        patterns = [expected] + [pat for pat, name in _ALIASES.items() if name == expected]
        matches = sorted(p for p in weights.iterdir() if any(p.match(pat) for pat in patterns))
        return matches[0] if matches else None
    cached = Path(torch.hub.get_dir()) / "checkpoints" / expected
    return cached if cached.is_file() else None


def require_fa_weight(config: DetectorConfig, expected: str, backend: str) -> Path:
    """The face-alignment file a backend needs, or MissingWeightsError saying where to put it."""
    import torch.hub

    found = fa_weight_file(config, expected)
    if found is not None:
        return found
    weights = _weights_dir(config)
    where = str(weights) if weights else f"{Path(torch.hub.get_dir()) / 'checkpoints'} (torch hub cache)"
    raise MissingWeightsError(
        f"{backend} needs face-alignment's weight file {expected}, not found (looked in: {where}); "
        f"download {_FA_URL}{expected} into a folder and pass it with --face-weights (or "
        f"${WEIGHTS_ENV}), or choose the offline dlib backend (--detector dlib --landmarks dlib)"
    )


def resolve(config: DetectorConfig) -> DetectorConfig:
    """``auto`` replaced by the backend that will run; every file the backends need checked.

    Raises MissingWeightsError (a configuration error) before any image is touched.
    """
    from dataclasses import replace

    from talkingface.face import dlib_models

    detector, landmarks = config.face_detector, config.landmarks
    if landmarks == "auto":
        landmarks = "fan" if fa_weight_file(config, _FAN_FILE) else "dlib"
    if detector == "auto":
        detector = "sfd" if landmarks == "fan" and fa_weight_file(config, _S3FD_FILE) else "dlib"
    if landmarks == "fan" or detector == "sfd":
        require_fa_weight(config, _FAN_FILE, f"--landmarks {landmarks} --detector {detector}")
    if detector == "sfd":
        require_fa_weight(config, _S3FD_FILE, "--detector sfd")
    if detector.startswith("dlib") or landmarks == "dlib":
        dlib_models.require_dlib()
    if detector == "dlib-cnn":
        dlib_models.model_file(dlib_models.CNN_DETECTOR_FILE)
    if landmarks == "dlib":
        dlib_models.model_file(dlib_models.LANDMARKS_68_FILE)
    return replace(config, face_detector=detector, landmarks=landmarks)


def backend_files(config: DetectorConfig) -> dict[str, Path]:
    """The model files a resolved config runs on (provenance)."""
    from talkingface.face import dlib_models

    files: dict[str, Path] = {}
    if config.landmarks == "fan" or config.face_detector == "sfd":
        files["fan"] = require_fa_weight(config, _FAN_FILE, "fan")
    if config.face_detector == "sfd":
        files["sfd"] = require_fa_weight(config, _S3FD_FILE, "sfd")
    if config.face_detector == "dlib-cnn":
        files["dlib-cnn"] = dlib_models.model_file(dlib_models.CNN_DETECTOR_FILE)
    if config.landmarks == "dlib":
        files["dlib-68"] = dlib_models.model_file(dlib_models.LANDMARKS_68_FILE)
    return files


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


@dataclass(frozen=True)
class Face:
    """One detected face: box (x1, y1, x2, y2), detector score (None: not given) and (68, 2) landmarks."""

    box: tuple[float, float, float, float]
    score: float | None
    landmarks: np.ndarray


class LandmarkDetector:
    """Face boxes + 68 landmarks from the configured backends (``auto`` resolved at construction).

    ``fa`` is face-alignment's ``FaceAlignment`` (2D FAN, no compile, no flip) where FAN or SFD runs.
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = resolve(config or DetectorConfig())
        cfg = self.config
        self.finder = (
            finder.FaceFinder(finder.FinderConfig(detector=cfg.face_detector))
            if cfg.face_detector.startswith("dlib")
            else None
        )
        self.fa = None
        if cfg.landmarks == "fan" or cfg.face_detector == "sfd":
            self.fa = self._build_fa()

    def _build_fa(self):
        import face_alignment

        weights = _weights_dir(self.config)
        fa_detector = "sfd" if self.config.face_detector == "sfd" else "folder"

        def build() -> face_alignment.FaceAlignment:
            return face_alignment.FaceAlignment(
                face_alignment.LandmarksType.TWO_D,
                device=self.config.device,
                compile=False,
                flip_input=False,
                face_detector=fa_detector,
            )

        if weights is None:
            return build()
        with _hub_dir_from(weights):
            return build()

    def _detections(
        self, image: np.ndarray
    ) -> list[tuple[np.ndarray, float | None, finder.Detection | None]]:
        """Boxes, scores and (dlib) detections, main face first."""
        cfg = self.config
        if self.finder is not None:
            return [(d.box, d.score, d) for d in self.finder.find(image)]
        if cfg.face_detector == HAAR:
            boxes = haar_face_boxes(image, cfg.haar_scale_factor, cfg.haar_min_neighbors, cfg.min_face_px)
            return [(b, None, None) for b in boxes]
        found = self.fa.face_detector.detect_from_image(image.copy())
        rows = [(np.asarray(b[:4], np.float32), float(b[4])) for b in found]
        rows = [(b, sc) for b, sc in rows if min(b[2] - b[0], b[3] - b[1]) >= cfg.min_face_px]
        if not rows:
            return []
        order = []
        while rows:
            i = finder.main_face(np.array([r[1] for r in rows]), np.array([r[0][2] - r[0][0] for r in rows]))
            order.append(rows.pop(i))
        return [(b, sc, None) for b, sc in order]

    def boxes(self, image: np.ndarray) -> np.ndarray:
        """All face boxes (N, 4) as x1, y1, x2, y2, the main face first."""
        found = self._detections(image)
        return np.asarray([f[0] for f in found], np.float32).reshape(-1, 4)

    def _landmarks(
        self, image: np.ndarray, box: np.ndarray, det: finder.Detection | None, name: str
    ) -> np.ndarray:
        if self.config.landmarks == "template":
            return template_landmarks(box)
        if self.config.landmarks == "dlib":
            if det is None:  # a box from Haar / SFD: predict on the image as it is
                det = finder.Detection(box, 1.0, np.eye(2, 3), tuple(round(float(v)) for v in box))
            landmarks = finder.dlib_landmarks(image, det)
        else:
            found = self.fa.get_landmarks_from_image(image, detected_faces=[[*box.tolist(), 1.0]])
            landmarks = np.asarray(found[0], dtype=np.float32)[:, :2]
        if landmarks.shape != (68, 2) or not np.isfinite(landmarks).all():
            raise RuntimeError(
                f"{self.config.landmarks} returned invalid landmarks {landmarks.shape} for {name}"
            )
        return landmarks.astype(np.float32)

    def faces(self, image: np.ndarray, name: str = "image") -> list[Face]:
        """Every face with its landmarks, the main face first (empty list: no face)."""
        check_image(image, name)
        return [
            Face(tuple(float(v) for v in box), score, self._landmarks(image, box, det, name))
            for box, score, det in self._detections(image)
        ]

    def detect(self, image: np.ndarray, name: str = "image") -> FaceLandmarks:
        """Landmarks of the main face; NoFaceError naming ``name`` when there is none."""
        return self._detect(image, name)[0]

    def _detect(self, image: np.ndarray, name: str) -> tuple[FaceLandmarks, finder.Detection | None]:
        check_image(image, name)
        found = self._detections(image)
        if not found:
            raise NoFaceError(f"no face found in {name}")
        box, score, det = found[0]
        if len(found) > 1:
            log.warning(
                "%d faces in %s: using the main face, box %s", len(found), name, box.round(1).tolist()
            )
        landmarks = self._landmarks(image, box, det, name)
        return FaceLandmarks(landmarks, tuple(float(v) for v in box), len(found), score), det

    def landmarks_for_frames(self, frames: Iterable[np.ndarray], name: str = "video") -> FrameLandmarks:
        """Landmarks per frame; a frame without a face reuses the previous frame's landmarks.

        With dlib landmarks, detection runs every ``detect_every`` frames (and whenever the track is lost)
        and the shape predictor follows the face in between; ``smooth_landmarks`` filters over time.
        """
        cfg = self.config
        tracking = cfg.landmarks == "dlib" and cfg.detect_every > 1
        rows: list[np.ndarray | None] = []
        missing: list[int] = []
        several: list[int] = []
        key: tuple[finder.Detection, np.ndarray] | None = None
        for i, frame in enumerate(frames):
            label = f"{name} frame {i}"
            if tracking and key is not None and i % cfg.detect_every and rows[-1] is not None:
                check_image(frame, label)
                tracked = finder.dlib_landmarks(frame, finder.track(*key, rows[-1]))
                if _plausible(tracked, key[1], frame.shape):
                    rows.append(tracked)
                    continue
            try:
                found, det = self._detect(frame, label)
            except NoFaceError:
                missing.append(i)
                rows.append(rows[-1] if rows else None)
                key = None
                continue
            rows.append(found.landmarks)
            key = (det, found.landmarks) if det is not None else None
            if found.multiple_faces:
                several.append(i)
        if not rows:
            raise ValueError(f"{name}: no frames")
        first = next((r for r in rows if r is not None), None)
        if first is None:
            raise NoFaceError(f"no face found in any of the {len(rows)} frames of {name}")
        stacked = np.stack([first if r is None else r for r in rows])
        if cfg.smooth_landmarks and cfg.landmarks != "template":
            found_mask = np.ones(len(rows), bool)
            found_mask[missing] = False
            stacked = finder.smooth_runs(stacked, found_mask)
        if missing:
            log.warning("%s: no face in %d of %d frames", name, len(missing), len(rows))
        return FrameLandmarks(stacked, tuple(missing), tuple(several))


def _plausible(tracked: np.ndarray, key: np.ndarray, shape: tuple[int, ...]) -> bool:
    """A tracked shape stays inside the frame and within 1.5x of the keyframe's size."""
    h, w = shape[:2]
    inside = (tracked[:, 0] > -0.1 * w).all() and (tracked[:, 0] < 1.1 * w).all()
    inside = inside and (tracked[:, 1] > -0.1 * h).all() and (tracked[:, 1] < 1.1 * h).all()
    ratio = np.ptp(tracked, axis=0).mean() / max(np.ptp(key, axis=0).mean(), 1e-6)
    return bool(inside and 2 / 3 < ratio < 1.5)
