"""MappingNet, keypoint transformation and renderer input preparation (golden set A + conventions)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from talkingface.coeffs import COEFF_70, COEFF_73
from talkingface.models.mapping_net import HeadMotion, MappingConfig, MappingNet
from talkingface.parity.cli import run as run_parity
from talkingface.render.keypoints import bins_to_degrees, rotation_matrix, transform_keypoints
from talkingface.render.semantics import (
    SemanticsConfig,
    batch_major,
    camera_angles,
    driving_rows,
    load_source_image,
    prepare_renderer_inputs,
    semantic_windows,
    source_semantics,
)

MY_TENSORS = [
    "fr.source_image",
    "fr.source_semantics",
    "fr.target_semantics",
    "fr.target_semantics_bs2",
    *(f"map.{who}.{head}" for who in ("source", "driving") for head in ("yaw", "pitch", "roll", "t", "exp")),
    "fr.kp_source",
    "fr.kp_driving",
]
SMALL = MappingConfig(coeff_nc=70, descriptor_nc=16, num_bins=66)


def _motion(batch: int, num_kp: int = 15, seed: int = 0) -> HeadMotion:
    g = torch.Generator().manual_seed(seed)
    return HeadMotion(*(torch.randn(batch, n, generator=g) for n in (66, 66, 66, 3, 3 * num_kp)))


# ---- MappingNet --------------------------------------------------------------------------------------


@pytest.mark.parametrize("part, coeff_nc", [("mapping", 70), ("mapping_full", 73)])
def test_official_parts_load_strictly(golden, part, coeff_nc):
    state = golden.weights(part)
    net = MappingNet.from_state_dict(state)
    assert net.config == MappingConfig(coeff_nc=coeff_nc)
    assert list(net.state_dict()) == [key for key, _, _ in golden.manifest[part]["keys"]]
    with torch.no_grad():
        motion = net(torch.randn(2, coeff_nc, 27))
    assert [tuple(v.shape) for v in motion] == [(2, 66), (2, 66), (2, 66), (2, 3), (2, 45)]

    incomplete = {k: v for k, v in state.items() if k != "encoder1.1.bias"}
    with pytest.raises(RuntimeError, match=r"encoder1\.1\.bias"):
        MappingNet(net.config).load_state_dict(incomplete, strict=True)


def test_from_state_dict_reads_sizes_and_rejects_foreign_dicts():
    small = MappingNet(MappingConfig(coeff_nc=73, descriptor_nc=8, layer=2, num_kp=4, num_bins=10, window=27))
    assert MappingNet.from_state_dict(small.state_dict()).config == small.config
    with pytest.raises(KeyError, match=r"first\.0\.weight"):
        MappingNet.from_state_dict({"fc.weight": torch.zeros(1)})


def test_parity_command_reproduces_every_mapping_tensor(golden):
    out = io.StringIO()
    assert run_parity(str(golden.path), only=["mapping"], out=out) == 0, out.getvalue()
    status = {
        line.split()[0]: line.split()[-1]
        for line in out.getvalue().splitlines()
        if line.startswith(("fr.", "map."))
    }
    assert {name: status[name] for name in MY_TENSORS} == dict.fromkeys(MY_TENSORS, "ok")


def test_batched_frames_match_one_at_a_time():
    torch.manual_seed(0)
    net = MappingNet(SMALL).eval()
    windows = torch.randn(5, 70, 27)
    with torch.no_grad():
        batched = net(windows)
        single = [net(windows[i : i + 1]) for i in range(5)]
    for head, value in batched._asdict().items():
        torch.testing.assert_close(value, torch.cat([getattr(s, head) for s in single]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("shape", [(1, 73, 27), (70, 27), (1, 70, 25)])
def test_mapping_rejects_bad_window_shapes(shape):
    with pytest.raises(ValueError, match="semantics must be"):
        MappingNet(SMALL)(torch.zeros(shape))


def test_config_rejects_window_shorter_than_receptive_field():
    with pytest.raises(ValueError, match="window 24"):
        MappingConfig(window=24)


# ---- keypoint transformation --------------------------------------------------------------------------


def test_bins_to_degrees_conventions():
    assert bins_to_degrees(torch.zeros(1, 66)).item() == pytest.approx(32.5 * 3 - 99)  # uniform -> -1.5
    peaked = torch.full((3, 66), -1e4)
    peaked[0, 0], peaked[1, 33], peaked[2, 65] = 0.0, 0.0, 0.0
    torch.testing.assert_close(bins_to_degrees(peaked), torch.tensor([-99.0, 0.0, 96.0]))


def test_rotation_axes_order_and_the_314_quirk():
    zero, quarter = torch.zeros(1), torch.full((1,), 90.0)
    half_pi = 90 / 180 * 3.14
    c, s = math.cos(half_pi), math.sin(half_pi)
    x, y = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    # yaw about y: x -> (c, 0, -s); pitch about x: y -> (0, c, s); roll about z: x -> (c, s, 0)
    torch.testing.assert_close(rotation_matrix(quarter, zero, zero)[0] @ x, torch.tensor([c, 0.0, -s]))
    torch.testing.assert_close(rotation_matrix(zero, quarter, zero)[0] @ y, torch.tensor([0.0, c, s]))
    torch.testing.assert_close(rotation_matrix(zero, zero, quarter)[0] @ x, torch.tensor([c, s, 0.0]))
    assert rotation_matrix(torch.full((1,), 180.0), zero, zero)[0, 0, 0].item() == pytest.approx(
        math.cos(3.14)
    )

    yaw, pitch, roll = torch.tensor([10.0, -40.0]), torch.tensor([25.0, 5.0]), torch.tensor([-15.0, 60.0])
    zeros = torch.zeros(2)
    composed = (
        rotation_matrix(zeros, pitch, zeros)
        @ rotation_matrix(yaw, zeros, zeros)
        @ rotation_matrix(zeros, zeros, roll)
    )
    rot = rotation_matrix(yaw, pitch, roll)
    torch.testing.assert_close(rot, composed)
    torch.testing.assert_close(rot @ rot.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-6, rtol=0)


def test_transform_uses_only_t_y_and_does_not_mutate_inputs():
    motion, kp = _motion(3), torch.randn(1, 15, 3)
    before = [v.clone() for v in (*motion, kp)]
    kp_out = transform_keypoints(kp, motion)
    for original, now in zip(before, (*motion, kp), strict=True):
        assert torch.equal(original, now)

    shifted_xz = motion._replace(t=motion.t + torch.tensor([5.0, 0.0, -7.0]))
    torch.testing.assert_close(transform_keypoints(kp, shifted_xz), kp_out)
    shifted_y = motion._replace(t=motion.t + torch.tensor([0.0, 0.5, 0.0]))
    torch.testing.assert_close(
        transform_keypoints(kp, shifted_y) - kp_out, torch.tensor([0.0, 0.5, 0.0]).expand(3, 15, 3)
    )


def test_free_view_overrides_replace_predicted_angles():
    motion, kp = _motion(2), torch.randn(2, 15, 3)
    predicted = bins_to_degrees(motion.yaw)
    torch.testing.assert_close(
        transform_keypoints(kp, motion, yaw=predicted), transform_keypoints(kp, motion)
    )
    # A bin peak at 0 degrees and no expression/translation: rotation by the override alone.
    peak = torch.full((2, 66), -1e4)
    peak[:, 33] = 0.0
    still = HeadMotion(peak, peak, peak, torch.zeros(2, 3), torch.zeros(2, 45))
    turned = transform_keypoints(kp, still, pitch=torch.tensor([30.0, -20.0]))
    expected = torch.einsum(
        "bmp,bkp->bkm", rotation_matrix(torch.zeros(2), torch.tensor([30.0, -20.0]), torch.zeros(2)), kp
    )
    torch.testing.assert_close(turned, expected)
    with pytest.raises(ValueError, match="roll override"):
        transform_keypoints(kp, motion, roll=torch.zeros(3))


def test_transform_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="kp_canonical"):
        transform_keypoints(torch.zeros(3, 15, 3), _motion(2))
    with pytest.raises(ValueError, match="exp"):
        transform_keypoints(torch.zeros(1, 10, 3), _motion(2))
    with pytest.raises(ValueError, match="pose logits"):
        bins_to_degrees(torch.zeros(66))


# ---- renderer input preparation ---------------------------------------------------------------------


def test_windows_clamp_at_both_ends_and_batch_layout():
    rows = torch.arange(5, dtype=torch.float32)[:, None].repeat(1, 2)  # row f holds f
    windows = semantic_windows(rows, radius=2)  # [5, 2, 5]
    assert windows.shape == (5, 2, 5)
    assert windows[0, 0].tolist() == [0, 0, 0, 1, 2]
    assert windows[4, 1].tolist() == [2, 3, 4, 4, 4]
    for part in (slice(0, 2), slice(2, 5), slice(4, 9)):  # chunks of a long clip: the same windows
        assert torch.equal(semantic_windows(rows, 2, part), windows[part])
    laid = batch_major(windows, 2)  # 5 frames padded to 6 -> [2, 3, ...]
    assert laid.shape == (2, 3, 2, 5)
    assert [laid[b, j, 0, 2].item() for b in range(2) for j in range(3)] == [0, 1, 2, 3, 4, 4]
    with pytest.raises(ValueError, match="batch_size"):
        batch_major(windows, 0)


def test_driving_rows_knobs_without_mutation():
    g = torch.Generator().manual_seed(1)
    coeffs, source = torch.randn(4, 70, generator=g), torch.randn(1, 73, generator=g)
    kept = coeffs.clone(), source.clone()

    scaled = driving_rows(coeffs, source, SemanticsConfig(expression_scale=2.0))
    torch.testing.assert_close(COEFF_70.get(scaled, "exp"), 2 * COEFF_70.get(coeffs, "exp"))
    assert torch.equal(scaled[:, 64:], coeffs[:, 64:])

    full_still = driving_rows(coeffs, source, SemanticsConfig(full=True, still=True))
    assert full_still.shape == (4, 73)
    assert torch.equal(full_still[:, :64], coeffs[:, :64])
    assert torch.equal(full_still[:, 64:], source[0, 64:].expand(4, 9))

    full = driving_rows(coeffs, source, SemanticsConfig(full=True))
    assert torch.equal(full[:, :70], coeffs)
    assert torch.equal(COEFF_73.get(full, "crop"), COEFF_73.get(source, "crop").expand(4, 3))
    assert source_semantics(source, SemanticsConfig(full=True)).shape == (1, 73, 27)
    assert torch.equal(coeffs, kept[0]) and torch.equal(source, kept[1])


def test_camera_angles_follow_gen_camera_pose():
    assert camera_angles([15], 4).tolist() == [15.0] * 4
    # travel 20 over 10 steps -> 2 degrees per frame; the ramp stops short of its end, then holds.
    assert camera_angles([0, 20], 11).tolist() == [*range(0, 20, 2), 18]
    there_and_back = camera_angles([0, 20, 0], 21).tolist()
    assert there_and_back == [*range(0, 20, 2), *range(20, 0, -2), 2]
    with pytest.raises(ValueError, match="at least one angle"):
        camera_angles([], 5)


def test_prepare_renderer_inputs_on_golden_inputs(golden):
    cfg = SemanticsConfig(yaw=(0.0, 30.0), roll=(-5.0,))
    inputs = prepare_renderer_inputs(
        golden.input_file("png"), golden.tensors["src.coeff_3dmm"], golden.tensors["a2c.coeffs"], cfg
    )
    assert inputs.num_frames == 76
    assert torch.equal(inputs.target_semantics[None], golden.tensors["fr.target_semantics"])
    assert torch.equal(inputs.source_semantics, golden.tensors["fr.source_semantics"])
    assert inputs.yaw.shape == (76,) and inputs.yaw[0] == 0 and inputs.yaw[:-1].diff().min() > 0
    assert inputs.yaw[-1] == inputs.yaw[-2] < 30  # the ramp stops short of 30 and holds
    assert inputs.pitch is None and torch.equal(inputs.roll, torch.full((76,), -5.0))


def test_bad_inputs_are_named():
    cfg = SemanticsConfig()
    with pytest.raises(ValueError, match="coeffs must be"):
        driving_rows(torch.zeros(5, 64), torch.zeros(1, 73), cfg)
    with pytest.raises(ValueError, match="source_coeff"):
        source_semantics(torch.zeros(2, 73), cfg)
    with pytest.raises(ValueError, match="source_coeff"):
        source_semantics(torch.zeros(70), SemanticsConfig(full=True))
    with pytest.raises(ValueError, match="source image"):
        load_source_image(np.zeros((8, 8), dtype=np.uint8))
