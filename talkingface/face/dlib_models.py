"""dlib's face models as shipped by pip: ``dlib-bin`` (the library) + ``face-recognition-models`` (the files).

Files (``face_recognition_models/models/``, or a folder named by ``$TALKINGFACE_DLIB_MODELS``):

- ``mmod_human_face_detector.dat``: dlib's CNN (MMOD) face detector;
- ``shape_predictor_68_face_landmarks.dat``: the 68-point iBUG landmark regressor (trained on iBUG 300-W,
  whose licence excludes commercial use).

The HOG frontal-face detector is built into dlib and needs no file. The files are located without
importing ``face_recognition_models`` (its ``__init__`` needs the removed ``pkg_resources``).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

from storage.hashing import file_sha256

MODELS_ENV = "TALKINGFACE_DLIB_MODELS"
CNN_DETECTOR_FILE = "mmod_human_face_detector.dat"
LANDMARKS_68_FILE = "shape_predictor_68_face_landmarks.dat"


class MissingWeightsError(FileNotFoundError):
    """A model file a backend needs is not there: a configuration error, raised before any work."""


def models_dir() -> Path | None:
    """Where the dlib model files are looked for: ``$TALKINGFACE_DLIB_MODELS`` or the pip package's folder."""
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV])
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_file(name: str) -> Path:
    """Path of dlib model file ``name``; MissingWeightsError saying where it looked and how to provide it."""
    folder = models_dir()
    if folder is not None and (folder / name).is_file():
        return folder / name
    where = f"{folder}" if folder is not None else "no face_recognition_models package is installed"
    raise MissingWeightsError(
        f"dlib model file {name} not found (looked in: {where}); provide it with "
        f"`pip install dlib-bin face-recognition-models`, or put the file in a folder and set ${MODELS_ENV}"
    )


def require_dlib() -> None:
    """MissingWeightsError unless the ``dlib`` module imports."""
    if importlib.util.find_spec("dlib") is None:
        raise MissingWeightsError("the dlib face backend needs the dlib module: `pip install dlib-bin`")


@functools.cache
def model_sha256(path: Path) -> str:
    """Hex SHA-256 of a model file (provenance; cached, model files do not change during a run)."""
    return file_sha256(path)


@functools.cache
def hog_detector():
    """dlib's built-in HOG + linear SVM frontal-face detector."""
    import dlib

    return dlib.get_frontal_face_detector()


@functools.cache
def cnn_detector():
    """dlib's CNN (MMOD) face detector from ``mmod_human_face_detector.dat``."""
    import dlib

    return dlib.cnn_face_detection_model_v1(str(model_file(CNN_DETECTOR_FILE)))


@functools.cache
def shape_predictor_68():
    """dlib's 68-point shape predictor (iBUG 300-W order)."""
    import dlib

    return dlib.shape_predictor(str(model_file(LANDMARKS_68_FILE)))
