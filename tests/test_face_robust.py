"""The default offline face stack (dlib HOG + staged variants + dlib's 68 points) on scikit-image photos.

Every transformed astronaut must show exactly one face whose landmarks follow the transform (mean error
within 3% of the face width); faceless photos must show none.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import skimage.data

from talkingface.face.detect import DetectorConfig, LandmarkDetector
from talkingface.face.dlib_models import MODELS_ENV, MissingWeightsError
from talkingface.face.finder import main_face

# iBUG-68 index of each point's mirror image (jaw, brows, nose, eyes, mouth).
MIRROR = [*range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, 35, 34, 33, 32, 31]
MIRROR += [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40, 54, 53, 52, 51, 50, 49, 48]
MIRROR += [59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65]


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut())


@pytest.fixture(scope="module")
def faces() -> LandmarkDetector:
    return LandmarkDetector(DetectorConfig(face_detector="dlib", landmarks="dlib"))


@pytest.fixture(scope="module")
def reference(faces, astronaut) -> np.ndarray:
    return faces.detect(astronaut, "astronaut").landmarks


def _affine_case(image: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return cv2.warpAffine(image, m, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT), m


def transformed(astronaut: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(image, 2x3 affine from astronaut pixels to the image's, None for photometric changes)."""
    h, w = astronaut.shape[:2]
    if kind.startswith("scale"):
        f = float(kind[5:])
        return _affine_case(astronaut, np.array([[f, 0, 0], [0, f, 0]]), (round(w * f), round(h * f)))
    if kind == "stretched":  # a 4:3 picture shown 16:9
        return _affine_case(astronaut, np.array([[4 / 3, 0, 0], [0, 1, 0]]), (round(w * 4 / 3), h))
    if kind == "squashed":
        return _affine_case(astronaut, np.array([[1, 0, 0], [0, 4 / 3, 0]]), (w, round(h * 4 / 3)))
    if kind.startswith("rot"):
        return _affine_case(astronaut, cv2.getRotationMatrix2D((w / 2, h / 2), float(kind[3:]), 1.0), (w, h))
    if kind == "small-on-1080p":  # a ~40 px face on a 1920x1080 frame
        m = np.array([[0.45, 0, 1300], [0, 0.45, 700]])
        return cv2.warpAffine(astronaut, m, (1920, 1080), flags=cv2.INTER_AREA), m
    if kind == "full-frame":
        m = np.array([[6.0, 0, -1080], [0, 6.0, -400]])
        return _affine_case(astronaut, m, (1080, 1080))
    if kind == "mirrored":
        return astronaut[:, ::-1].copy(), np.array([[-1, 0, w - 1], [0, 1, 0]])
    if kind == "dark":
        return (astronaut * 0.2).astype(np.uint8), None
    if kind == "bright":
        lut = (255 * (np.arange(256) / 255) ** 0.4).astype(np.uint8)
        return lut[astronaut], None
    if kind == "blurred":
        return cv2.GaussianBlur(astronaut, (0, 0), 2.5), None
    if kind == "jpeg":
        _, data = cv2.imencode(".jpg", astronaut[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 8])
        return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]), None
    if kind == "grayscale":
        return np.dstack([cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)] * 3), None
    raise ValueError(kind)


KINDS = [
    "scale0.45",
    "scale2.0",
    "stretched",
    "squashed",
    "rot30",
    "rot-30",
    "small-on-1080p",
    "full-frame",
    "mirrored",
    "dark",
    "bright",
    "blurred",
    "jpeg",
    "grayscale",
]


@pytest.mark.parametrize("kind", KINDS)
def test_every_face_found_and_landmarks_follow_the_image(faces, astronaut, reference, kind):
    image, m = transformed(astronaut, kind)
    found = faces.faces(image, kind)
    assert len(found) == 1, [f.box for f in found]
    expected = reference if m is None else reference @ m[:2, :2].T + m[:, 2]
    if kind == "mirrored":
        expected = expected[MIRROR]
    width = np.ptp(expected[:, 0])
    error = np.linalg.norm(found[0].landmarks - expected, axis=1).mean() / width
    assert error < 0.03, f"{kind}: mean landmark error {error:.1%} of the face width"
    x1, y1, x2, y2 = found[0].box
    assert x1 < expected[30, 0] < x2 and y1 < expected[30, 1] < y2  # the nose tip is in the box


@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_no_face_in_faceless_photos(faces, name):
    image = np.ascontiguousarray(getattr(skimage.data, name)())
    assert faces.faces(image, name) == []


def test_main_face_weighs_confidence_with_size():
    # a big low-confidence box (a poster) loses to a clear face two thirds its width
    assert main_face(np.array([0.2, 1.5]), np.array([150.0, 100.0])) == 1
    # of two equally confident faces the larger wins
    assert main_face(np.array([1.0, 1.0]), np.array([60.0, 120.0])) == 1


def test_two_faces_pick_the_main_one(faces, astronaut):
    # the same face twice, the right copy degraded (blocky JPEG): confidence decides at equal size
    pair = np.concatenate([astronaut, transformed(astronaut, "jpeg")[0]], axis=1)
    found = faces.faces(pair, "pair")
    assert len(found) == 2 and found[0].box[0] < 512 < found[1].box[0]
    assert found[0].score > found[1].score


def test_video_tracks_between_detections_and_smooths(astronaut, reference):
    detector = LandmarkDetector(DetectorConfig(face_detector="dlib", landmarks="dlib", detect_every=4))
    shifts = [(2.0 * t, 1.0 * t) for t in range(9)]
    frames = [cv2.warpAffine(astronaut, np.array([[1, 0, dx], [0, 1, dy]]), (512, 512)) for dx, dy in shifts]
    result = detector.landmarks_for_frames(frames, "pan.mp4")
    assert result.landmarks.shape == (9, 68, 2) and result.missing == ()
    width = np.ptp(reference[:, 0])
    for lm, (dx, dy) in zip(result.landmarks, shifts, strict=True):
        error = np.linalg.norm(lm - reference - np.array([dx, dy]), axis=1).mean() / width
        assert error < 0.03


def test_missing_dlib_model_is_a_configuration_error(tmp_path, monkeypatch):
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    with pytest.raises(MissingWeightsError) as err:
        LandmarkDetector(DetectorConfig(face_detector="dlib", landmarks="dlib"))
    message = str(err.value)
    assert "shape_predictor_68_face_landmarks.dat" in message and str(tmp_path) in message
    assert "pip install" in message


def test_missing_fan_weights_name_the_file_and_folder(tmp_path):
    with pytest.raises(MissingWeightsError) as err:
        LandmarkDetector(DetectorConfig(face_detector="dlib", landmarks="fan", weights_dir=tmp_path))
    assert "2DFAN4-11f355bf06.pth.tar" in str(err.value) and str(tmp_path) in str(err.value)


def test_faces_cli_prints_one_json_line_per_image(tmp_path, astronaut, capsys):
    from PIL import Image

    from talkingface.face.cli import main

    Image.fromarray(astronaut).save(tmp_path / "astronaut.png")
    Image.fromarray(np.ascontiguousarray(skimage.data.chelsea())).save(tmp_path / "cat.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    code = main([str(tmp_path / "astronaut.png"), str(tmp_path / "cat.png"), str(tmp_path / "broken.png")])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1 and [line["image"] for line in lines] == [
        str(tmp_path / n) for n in ("astronaut.png", "cat.png", "broken.png")
    ]
    face = lines[0]["faces"][0]
    assert lines[0]["picked"] == 0 and len(face["box"]) == 4 and len(face["landmarks"]) == 68
    assert face["score"] > 0.5
    assert lines[1]["faces"] == [] and lines[1]["picked"] is None
    assert "broken.png" in lines[2]["error"]
