"""Face landmarks (real face-alignment API, locally built random weights), crop modes and paste-back."""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from talkingface.face.crop import MODES, apply_crop, crop_face, plan_crop
from talkingface.face.detect import DetectorConfig, LandmarkDetector, NoFaceError, haar_face_boxes
from talkingface.face.paste import PasteConfig, paste_back, paste_frames

FAN_FILE = "2DFAN4-11f355bf06.pth.tar"
S3FD_FILE = "s3fd-619a316812.pth"


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut())


@pytest.fixture(scope="module")
def hub_weights(tmp_path_factory):
    """A TORCH_HOME whose hub cache holds randomly initialised 2D-FAN and S3FD weights."""
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    torch.manual_seed(0)
    home = tmp_path_factory.mktemp("torch_home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(FAN(4).state_dict(), checkpoints / FAN_FILE)
    torch.save(s3fd().state_dict(), checkpoints / S3FD_FILE)
    return home


@pytest.fixture(scope="module")
def detector(hub_weights) -> LandmarkDetector:
    """One Haar + random-FAN detector per module, loaded by face-alignment from $TORCH_HOME's hub cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(hub_weights))
        mp.delenv("TALKINGFACE_FACE_WEIGHTS", raising=False)
        return LandmarkDetector(DetectorConfig(face_detector="haar"))


def test_detect_astronaut_uses_loaded_weights_and_haar_box(detector, hub_weights, astronaut):
    saved = torch.load(hub_weights / "hub" / "checkpoints" / FAN_FILE, weights_only=True)
    loaded = detector.fa.face_alignment_net.state_dict()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)

    found = detector.detect(astronaut, "astronaut.png")
    assert found.landmarks.shape == (68, 2) and found.landmarks.dtype == np.float32
    assert found.n_faces == 1 and not found.multiple_faces
    x1, y1, x2, y2 = found.box
    assert abs(x1 - 177) < 10 and abs(y1 - 67) < 10 and 80 < x2 - x1 < 110  # the astronaut's face
    # Random weights give arbitrary points, but inside FAN's crop around the box, in image pixels.
    size = x2 - x1
    assert (found.landmarks[:, 0] > x1 - size).all() and (found.landmarks[:, 0] < x2 + size).all()
    assert (found.landmarks[:, 1] > y1 - size).all() and (found.landmarks[:, 1] < y2 + size).all()


def test_no_face_error_names_the_image(detector):
    with pytest.raises(NoFaceError, match=r"blank\.png"):
        detector.detect(np.full((240, 320, 3), 128, np.uint8), "blank.png")


@pytest.mark.parametrize("bad", [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.float32), "img.png"])
def test_bad_image_error_names_it(detector, bad):
    with pytest.raises(ValueError, match="frame7"):
        detector.detect(bad, "frame7")


def test_two_faces_picks_largest_and_reports(detector, astronaut, caplog):
    small = cv2.resize(astronaut, (384, 384), interpolation=cv2.INTER_AREA)
    pair = np.zeros((512, 512 + 384, 3), np.uint8)
    pair[:, :512] = astronaut
    pair[64:448, 512:] = small
    assert len(haar_face_boxes(pair)) == 2
    with caplog.at_level(logging.WARNING, logger="talkingface.face.detect"):
        found = detector.detect(pair, "pair.png")
    assert found.multiple_faces and found.n_faces == 2
    assert found.box[0] < 300  # the big face on the left
    assert any("2 faces in pair.png" in r.getMessage() for r in caplog.records)


def test_landmarks_for_frames_reuses_landmarks_for_faceless_frames(detector, astronaut):
    blank = np.zeros_like(astronaut)
    result = detector.landmarks_for_frames([blank, astronaut, blank], "clip.mp4")
    assert result.landmarks.shape == (3, 68, 2)
    assert result.missing == (0, 2) and result.n_missing == 2
    np.testing.assert_array_equal(result.landmarks[0], result.landmarks[1])
    np.testing.assert_array_equal(result.landmarks[2], result.landmarks[1])
    with pytest.raises(NoFaceError, match=r"any of the 2 frames of empty\.mp4"):
        detector.landmarks_for_frames([blank, blank], "empty.mp4")


def test_weights_dir_is_used_instead_of_the_hub_cache(hub_weights, tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "2DFAN4-local.pth.tar").symlink_to(hub_weights / "hub" / "checkpoints" / FAN_FILE)
    (weights / "s3fd-local.pth").symlink_to(hub_weights / "hub" / "checkpoints" / S3FD_FILE)
    empty_home = tmp_path / "empty_home"
    monkeypatch.setenv("TORCH_HOME", str(empty_home))
    monkeypatch.setenv("TALKINGFACE_FACE_WEIGHTS", str(weights))

    detector = LandmarkDetector(
        DetectorConfig(face_detector="sfd")
    )  # constructs S3FD too; never detect with it

    saved = torch.load(weights / "s3fd-local.pth", weights_only=True)
    loaded = detector.fa.face_detector.face_detector.state_dict()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    assert not empty_home.exists()  # nothing was downloaded into the default cache
    assert torch.hub.get_dir() == str(empty_home / "hub")  # hub location restored

    monkeypatch.setenv("TALKINGFACE_FACE_WEIGHTS", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="missing"):
        LandmarkDetector(DetectorConfig(face_detector="haar"))


# ----------------------------------------------------------------------------------------------- crops


def frontal_landmarks(
    cx: float, cy: float, eye_dist: float, mouth_drop: float, angle_deg: float = 0.0
) -> np.ndarray:
    """68 points: eyes ``eye_dist`` apart, the mouth ``mouth_drop`` below them, rotated about (cx, cy)."""
    lm = np.zeros((68, 2))
    lm[:] = (0.0, mouth_drop / 2)
    lm[36:42] = (-eye_dist / 2, 0.0)
    lm[42:48] = (eye_dist / 2, 0.0)
    lm[48] = (-eye_dist / 3, mouth_drop)
    lm[54] = (eye_dist / 3, mouth_drop)
    lm[36:42, 0] += np.linspace(-3, 3, 6)  # eye contours (mean stays at the centre)
    lm[42:48, 0] += np.linspace(-3, 3, 6)
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return lm @ rot.T + (cx, cy)


def position_image(width: int, height: int) -> np.ndarray:
    """Red encodes x, green encodes y (both scaled to 0..255)."""
    xs, ys = np.meshgrid(np.arange(width), np.arange(height))
    img = np.zeros((height, width, 3), np.uint8)
    img[..., 0] = np.round(xs * 255 / (width - 1))
    img[..., 1] = np.round(ys * 255 / (height - 1))
    return img


def test_frontal_quad_follows_the_ffhq_rule():
    lm = frontal_landmarks(300, 200, eye_dist=60, mouth_drop=70)
    info = plan_crop(lm, (640, 480), "crop")
    half = max(2 * 60, 1.8 * 70)  # max(2 |eye-eye|, 1.8 |eye-mouth|)
    centre = (300, 200 + 0.1 * 70)
    border = max(round(2 * half * 0.1), 3)
    cx1, cy1, cx2, cy2 = info.crop_box
    assert (cx1, cy1) == (math.floor(centre[0] - half) - border, math.floor(centre[1] - half) - border)
    assert (cx2, cy2) == (math.ceil(centre[0] + half) + border, math.ceil(centre[1] + half) + border)
    qx1, qy1, qx2, qy2 = info.quad_box
    assert (qx1, qy1) == (border, border) and qx2 - qx1 == qy2 - qy1 == 2 * half
    assert info.resized_size == info.image_size == (640, 480)
    (w, h), crop, quad = info.as_sadtalker()
    assert (w, h) == (2 * half, 2 * half) and crop == info.crop_box and quad == info.quad_box


def test_rotated_face_widens_the_quad_box():
    upright = plan_crop(frontal_landmarks(320, 240, 50, 60), (640, 480), "crop")
    tilted = plan_crop(frontal_landmarks(320, 240, 50, 60, angle_deg=30), (640, 480), "crop")
    side = upright.quad_box[2] - upright.quad_box[0]
    tilted_side = tilted.quad_box[2] - tilted.quad_box[0]
    expected = side * (math.cos(math.radians(30)) + math.sin(math.radians(30)))
    assert abs(tilted_side - expected) <= 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [256, 512])
def test_each_mode_gives_size_by_size_and_the_right_region(mode, size):
    image = position_image(640, 480)
    out, info = crop_face(image, frontal_landmarks(300, 200, 60, 70), mode, size)
    assert out.shape == (size, size, 3) and out.dtype == np.uint8
    x1, y1, x2, y2 = info.paste_box
    assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
    if mode == "resize":
        assert info.as_sadtalker() == ((640, 480), None, None) and (x1, y1, x2, y2) == (0, 0, 640, 480)
    elif mode.startswith("ext"):
        assert (x1, y1, x2, y2) == info.crop_box
    else:
        cx1, cy1 = info.crop_box[:2]
        qx1, qy1, qx2, qy2 = info.quad_box
        assert (x1, y1, x2, y2) == (cx1 + qx1, cy1 + qy1, cx1 + qx2, cy1 + qy2)
    # The crop's corners show the region's corners (position-encoded image).
    assert abs(int(out[0, 0, 0]) - x1 * 255 / 639) <= 3 and abs(int(out[0, 0, 1]) - y1 * 255 / 479) <= 3
    assert (
        abs(int(out[-1, -1, 0]) - (x2 - 1) * 255 / 639) <= 3
        and abs(int(out[-1, -1, 1]) - (y2 - 1) * 255 / 479) <= 3
    )
    assert info.pastes_back == (mode in ("full", "extfull"))


def test_ext_crop_is_larger_than_crop():
    lm = frontal_landmarks(300, 200, 60, 70)
    tight, ext = plan_crop(lm, (640, 480), "crop"), plan_crop(lm, (640, 480), "extcrop")
    tx1, ty1, tx2, ty2 = tight.paste_box
    ex1, ey1, ex2, ey2 = ext.paste_box
    assert ex1 < tx1 and ey1 < ty1 and ex2 > tx2 and ey2 > ty2


def test_huge_face_is_shrunk_first_and_maps_back_to_original_pixels():
    lm = frontal_landmarks(1500, 1400, eye_dist=560, mouth_drop=600)  # quad size 2240 >= 4 * 512
    image = position_image(3000, 3000)
    out, info = crop_face(image, lm, "crop", 256)
    assert info.resized_size == (1500, 1500)  # shrink = floor(2240 / 512 / 2) = 2
    x1, _, x2, _ = info.paste_box
    assert abs((x2 - x1) - 2240) <= 4 and abs((x1 + x2) / 2 - 1500) <= 4
    assert abs(int(out[0, 0, 0]) - x1 * 255 / 2999) <= 3


def test_degenerate_and_edge_landmarks_still_give_a_valid_crop():
    image = position_image(200, 150)
    collapsed = np.full((68, 2), 100.0)  # what a useless landmark model might return
    out, info = crop_face(image, collapsed, "crop", 256)
    x1, y1, x2, y2 = info.paste_box
    assert out.shape == (256, 256, 3) and x2 - x1 >= 2 and y2 - y1 >= 2
    out, info = crop_face(
        image, frontal_landmarks(5, 5, 40, 50), "extfull", 256
    )  # face hanging off the corner
    x1, y1, x2, y2 = info.paste_box
    assert (x1, y1) == (0, 0) and 0 < x2 <= 200 and 0 < y2 <= 150


def test_crop_rejects_bad_mode_landmarks_and_mismatched_frames():
    image = position_image(64, 64)
    with pytest.raises(ValueError, match="preprocess mode 'zoom'"):
        crop_face(image, frontal_landmarks(32, 32, 10, 12), "zoom")
    with pytest.raises(ValueError, match=r"src\.png landmarks"):
        crop_face(image, np.zeros((5, 2)), "crop", name="src.png")
    info = plan_crop(frontal_landmarks(32, 32, 10, 12), (64, 64), "crop")
    with pytest.raises(ValueError, match="frame 3"):
        apply_crop(position_image(80, 64), info, 256, "frame 3")


# ----------------------------------------------------------------------------------------------- paste-back


@pytest.mark.parametrize("mode", ["full", "extfull"])
def test_feather_paste_of_the_unchanged_crop_restores_the_image(astronaut, mode):
    boxes = haar_face_boxes(astronaut)
    x1, y1, x2, y2 = boxes[0]
    lm = frontal_landmarks((x1 + x2) / 2, y1 + 0.4 * (y2 - y1), 0.44 * (x2 - x1), 0.45 * (y2 - y1))
    crop, info = crop_face(astronaut, lm, mode, 256)
    background = np.zeros_like(astronaut)
    pasted = paste_back(background, crop, info, PasteConfig("feather", feather_px=4))
    bx1, by1, bx2, by2 = info.paste_box
    inner = (slice(by1 + 4, by2 - 4), slice(bx1 + 4, bx2 - 4))
    diff = np.abs(pasted[inner].astype(int) - astronaut[inner].astype(int))
    assert diff.mean() < 6  # only resampling error: the crop went back where it came from
    outside = np.ones(astronaut.shape[:2], bool)
    outside[by1:by2, bx1:bx2] = False
    assert not pasted[outside].any()


def test_seamless_paste_keeps_outside_and_carries_the_rendered_texture(astronaut):
    lm = frontal_landmarks(224, 110, 42, 45)
    crop, info = crop_face(astronaut, lm, "full", 256)
    rendered = 255 - crop  # a different face texture
    background = astronaut.copy()
    (pasted,) = paste_frames(background, [rendered], info, PasteConfig("seamless"))
    x1, y1, x2, y2 = info.paste_box
    outside = np.ones(astronaut.shape[:2], bool)
    outside[y1:y2, x1:x2] = False
    np.testing.assert_array_equal(pasted[outside], astronaut[outside])
    target = cv2.resize(rendered, (x2 - x1, y2 - y1)).astype(np.float32)
    got = pasted[y1:y2, x1:x2].astype(np.float32)
    grad = lambda im: cv2.Laplacian(im.mean(axis=2), cv2.CV_32F)[2:-2, 2:-2].ravel()  # noqa: E731
    assert np.corrcoef(grad(target), grad(got))[0, 1] > 0.6  # Poisson blending keeps the pasted gradients
    assert np.corrcoef(grad(astronaut[y1:y2, x1:x2].astype(np.float32)), grad(got))[0, 1] < -0.5


def test_seamless_paste_at_the_image_border_and_bad_inputs():
    image = position_image(200, 150)
    crop, info = crop_face(image, frontal_landmarks(5, 5, 40, 50), "extfull", 128)
    pasted = paste_back(image, 255 - crop, info)
    assert pasted.shape == image.shape
    with pytest.raises(ValueError, match="does not match"):
        paste_back(image[:100], crop, info)
    with pytest.raises(ValueError, match="not an image like the background"):
        paste_back(image, crop.astype(np.float32) / 255, info)
    with pytest.raises(ValueError, match="paste method"):
        PasteConfig("poisson")
