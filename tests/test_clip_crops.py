"""SadTalker's clip crop cut while decoding (what the extraction's decode stage sends on): the same
coefficients as cropping decoded frames, planned on the first face frame, 256 px crops only."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from talkingface.betas import decode_clip
from talkingface.betas.crops import crop_clip, crop_info_from_json, crop_info_json
from talkingface.betas.extractor import BetasExtractor
from talkingface.face.detect import NoFaceError
from talkingface.video import read_frames, write_video

FRAMES = 12


def _frames(size: tuple[int, int], faceless: int = 0) -> np.ndarray:
    """``FRAMES`` frames of ``size`` (W, H): the astronaut (face ~1/3 of the height) drifting right,
    the first ``faceless`` frames plain gray."""
    width, height = size
    face = cv2.resize(skimage.data.astronaut(), (height * 3 // 4, height * 3 // 4))
    out = np.full((FRAMES, height, width, 3), 90, np.uint8)
    for i in range(faceless, FRAMES):
        x = width // 4 + 2 * i
        out[i, height // 8 : height // 8 + len(face), x : x + len(face)] = face
    return out


@pytest.fixture(scope="module")
def extractor() -> BetasExtractor:
    return BetasExtractor.create(detector="dlib", landmarks="dlib", batch_size=4)


def test_crops_while_decoding_give_the_coefficients_of_cropping_decoded_frames(extractor, tmp_path):
    video = tmp_path / "clip.mp4"
    tone = (0.1 * np.sin(np.arange(FRAMES * 640) / 7)).astype(np.float32)
    write_video(video, iter(_frames((640, 360), faceless=3)), tone, 16000)

    media = decode_clip(video, detector=extractor.faces.detector(), name="s3://bucket/clip.mp4")
    assert media.frames.shape == (FRAMES, 256, 256, 3) and media.crop.first == 3  # planned on frame 3
    streamed = extractor.extract_crops(media.crop)
    whole = extractor.faces.reconstruct(read_frames(video), "crop", 256, "landmarks")
    np.testing.assert_array_equal(media.frames[0], whole.crop)
    np.testing.assert_allclose(streamed.full, whole.full.numpy(), atol=1e-5)
    np.testing.assert_array_equal(streamed.face_found, whole.face_found)
    assert not streamed.face_found[:3].any() and streamed.face_found[3:].all()
    assert crop_info_from_json(crop_info_json(media.crop.info)) == media.crop.info


def test_a_1080p_clip_leaves_the_decoder_as_256_px_crops(extractor):
    small, large = _frames((640, 360)), _frames((1920, 1080))
    clip_small = crop_clip(iter(small), extractor.faces.detector())
    clip_large = crop_clip(iter(large), extractor.faces.detector())
    assert clip_small.crops.shape == clip_large.crops.shape == (FRAMES, 256, 256, 3)
    assert clip_large.info.image_size == (1920, 1080)
    # the same picture at 3x the resolution: the same crop, 3x larger in source pixels
    small_box, large_box = np.array(clip_small.info.crop_box), np.array(clip_large.info.crop_box)
    assert np.abs(large_box - 3 * small_box).max() < 0.03 * 3 * (small_box[2] - small_box[0])


def test_a_clip_without_a_face_names_the_clip(extractor):
    gray = np.full((FRAMES, 120, 160, 3), 90, np.uint8)
    with pytest.raises(NoFaceError, match=f"no face found in any of the {FRAMES} frames of s3://b/x.flv"):
        crop_clip(iter(gray), extractor.faces.detector(), "s3://b/x.flv")
