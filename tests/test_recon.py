"""ReconNet + 5-point alignment: key layout, SadTalker parity (golden set A), batching, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from talkingface.coeffs import COEFF_73, FULL_257
from talkingface.face.align import (
    LM3D_FILE,
    TransParams,
    align_face,
    fit_pos,
    five_points,
    standard_landmarks,
)
from talkingface.face.reconstruct import coeff_row, recon_input
from talkingface.models.recon_net import ReconConfig, ReconNet
from talkingface.parity.checks_recon import check_align, check_net
from talkingface.parity.tolerance import tolerance_for
from talkingface.weights.load import load_state


@pytest.fixture(scope="module")
def net(golden) -> ReconNet:
    model = ReconNet().eval()
    load_state(model, golden.weights("face_3drecon"), what="ReconNet")
    return model


def test_state_dict_matches_official_keys_and_shapes(golden):
    manifest = golden.manifest["face_3drecon"]
    ours = [(manifest["prefix"] + k, list(v.shape)) for k, v in ReconNet().state_dict().items()]
    assert ours == [(key, shape) for key, shape, _dtype in manifest["keys"]]


def test_heads_must_sum_to_257():
    with pytest.raises(ValueError, match="heads"):
        ReconConfig(heads=(80, 64))


def test_golden_landmarks_follow_the_standard_landmark_asset(golden):
    p = golden.meta["landmark_params"]
    theta = np.deg2rad(p["theta_deg"])
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    lm = ((standard_landmarks()[:, :2] * [1, -1]) @ rot.T) * p["scale"] + [p["cx"], p["cy"]]
    np.testing.assert_allclose(lm, golden.tensors["recon.lm68"].numpy(), atol=1e-4)


def test_five_points_of_the_mean_face_are_the_standard_five_points():
    data = json.loads(LM3D_FILE.read_text())
    np.testing.assert_array_equal(five_points(standard_landmarks()), np.array(data["lm5_std_3d"]))


def test_fit_pos_recovers_scale_and_translation():
    lm5 = five_points(standard_landmarks())
    points = lm5[:, :2] * 37.5 + [90.0, 140.0]
    t, s = fit_pos(points, lm5)
    np.testing.assert_allclose(t, [90.0, 140.0], atol=1e-9)
    assert s == pytest.approx(37.5)


def test_parity_alignment_is_exact(golden):
    out = check_align(golden)
    assert torch.equal(out["recon.source_png_rgb"], golden.tensors["recon.source_png_rgb"])
    assert torch.equal(out["recon.input"], golden.tensors["recon.input"])


def test_parity_coefficients(golden):
    out = check_net(golden)
    for name in ("recon.coeffs", "recon.coeff_3dmm"):
        diff = (out[name] - golden.tensors[name]).abs().max().item()
        assert diff <= tolerance_for(name), (name, diff)


def test_saved_row_carries_fitted_crop_params(golden):
    rgb = golden.tensors["recon.source_png_rgb"].numpy()
    aligned = align_face(rgb, golden.tensors["recon.lm68"].numpy())
    full = torch.randn(1, FULL_257.dim)
    row = coeff_row(full, aligned.trans)
    assert torch.equal(COEFF_73.get(row, "exp"), FULL_257.get(full, "exp"))
    assert torch.equal(COEFF_73.get(row, "crop")[0], torch.from_numpy(aligned.trans.crop_params))
    torch.testing.assert_close(
        COEFF_73.get(row, "crop"), COEFF_73.get(golden.tensors["recon.coeff_3dmm"], "crop")
    )


def test_batch_equals_per_crop(golden, net):
    rgb = golden.tensors["recon.source_png_rgb"].numpy()
    lm = golden.tensors["recon.lm68"].numpy()
    faces = [
        align_face(rgb, lm),
        align_face(rgb[:, ::-1].copy(), lm * [-1, 1] + [255, 0]),
        align_face(rgb, lm + 7),
    ]
    batch = recon_input([f.crop for f in faces])
    assert batch.shape == (3, 3, 224, 224)
    with torch.no_grad():
        together = net(batch)
        alone = torch.cat([net(batch[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)
    rows = coeff_row(together, [f.trans for f in faces])
    assert rows.shape == (3, COEFF_73.dim)
    assert not torch.equal(rows[0, -3:], rows[2, -3:])  # shifted landmarks -> different crop params


def test_no_face_needs_the_explicit_standard_fallback(golden):
    rgb = golden.tensors["recon.source_png_rgb"].numpy()
    with pytest.raises(ValueError, match="landmarks"):
        align_face(rgb, None)
    fallback = align_face(rgb, None, standard_fallback=True)
    marked = align_face(rgb, -np.ones((68, 2), np.float32), standard_fallback=True)
    assert fallback.crop.shape == (224, 224, 3) and fallback.crop.dtype == np.uint8
    assert fallback.trans == marked.trans
    np.testing.assert_array_equal(fallback.crop, marked.crop)
    # The standard points spread over the whole 256 image: scale ~ 102 / 128, centre near the middle.
    assert fallback.trans.s == pytest.approx(102 / 128, rel=0.05)
    assert abs(fallback.trans.tx - 128) < 10 and abs(fallback.trans.ty - 128) < 40


@pytest.mark.parametrize(
    ("image", "landmarks", "match"),
    [
        (np.zeros((64, 64, 3), np.float32), np.zeros((68, 2)), "image"),
        (np.zeros((64, 64), np.uint8), np.zeros((68, 2)), "image"),
        (np.zeros((64, 64, 4), np.uint8), np.zeros((68, 2)), "image"),
        (np.zeros((64, 64, 3), np.uint8), np.zeros((67, 2)), "landmarks"),
        (np.zeros((64, 64, 3), np.uint8), np.zeros((68, 3)), "landmarks"),
        (np.zeros((64, 64, 3), np.uint8), np.full((68, 2), np.nan), "landmarks"),
    ],
)
def test_bad_alignment_input_names_the_input(image, landmarks, match):
    with pytest.raises(ValueError, match=match):
        align_face(image, landmarks)


def test_bad_network_input_names_the_input(net):
    with pytest.raises(ValueError, match="crops"):
        recon_input(np.zeros((2, 224, 224, 3), np.float32))
    with pytest.raises(ValueError, match="images"):
        net(torch.zeros(1, 3, 256, 256))
    with pytest.raises(ValueError, match="full"):
        coeff_row(torch.zeros(2, 257), TransParams(256, 256, 1.0, 0.0, 0.0))
