"""Face renderer: checkpoint keying, oracle parity, tiny end-to-end rendering, batching invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import img_as_ubyte

from talkingface.models.generator import OcclusionAwareSPADEGenerator
from talkingface.models.kp_detector import KPDetector
from talkingface.models.spade import SpectralNormConv2d
from talkingface.parity.checks_render import check_frames, check_kp_canonical
from talkingface.parity.tolerance import tolerance_for
from talkingface.render.animate import FaceRenderer, RenderOptions, contiguous_batches, to_uint8
from talkingface.render.configs import (
    OFFICIAL,
    TINY,
    RendererConfig,
    build_renderer,
    load_renderer,
    renderer_config,
)


@pytest.fixture(scope="module")
def tiny_renderer() -> FaceRenderer:
    return FaceRenderer(*build_renderer(TINY, seed=3), RenderOptions(batch_size=2))


def _source(size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _driving(kp: torch.Tensor, frames: int, seed: int = 0) -> torch.Tensor:
    noise = torch.randn(frames, *kp.shape[1:], generator=torch.Generator().manual_seed(seed))
    return kp + 0.1 * noise


# --- checkpoint keying -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("part", "cls", "attr"),
    [("kp_extractor", KPDetector, "kp_detector"), ("generator", OcclusionAwareSPADEGenerator, "generator")],
)
def test_official_keys_and_shapes_match_manifest_in_order(golden, part, cls, attr):
    config = RendererConfig.from_manifest(golden.manifest)
    assert config == OFFICIAL
    with torch.device("meta"):
        state = cls(getattr(config, attr)).state_dict()
    prefix = golden.manifest[part]["prefix"]
    expected = [(key[len(prefix) :], shape) for key, shape, _ in golden.manifest[part]["keys"]]
    assert [(key, list(t.shape)) for key, t in state.items()] == expected


def test_strict_loading_of_rule_weights_and_clear_errors(golden):
    kp_state, gen_state = golden.weights("kp_extractor"), golden.weights("generator")
    kp_detector, generator = load_renderer(OFFICIAL, kp_state, gen_state)
    assert torch.equal(kp_detector.down.weight, kp_state["down.weight"])
    assert torch.equal(generator.decoder.up_1.conv_s.weight_v, gen_state["decoder.up_1.conv_s.weight_v"])
    missing = {k: v for k, v in gen_state.items() if k != "decoder.G_middle_0.conv_0.weight_u"}
    with pytest.raises(ValueError, match=r"(?s)generator.*G_middle_0\.conv_0\.weight_u"):
        load_renderer(OFFICIAL, kp_state, missing)
    with pytest.raises(ValueError, match="kp_extractor"):
        load_renderer(TINY, kp_state, gen_state)


def test_spectral_norm_conv_matches_torch_spectral_norm_in_eval():
    ours = SpectralNormConv2d(6, 5, kernel_size=3)
    reference = torch.nn.utils.spectral_norm(torch.nn.Conv2d(6, 5, 3, padding=1))
    reference.load_state_dict(ours.state_dict())  # the torch hook's own keys: weight_orig/_u/_v, bias
    reference.eval()
    x = torch.randn(2, 6, 8, 8)
    torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=1e-6)
    assert "weight" not in dict(ours.named_parameters())


# --- parity with SadTalker (golden set A) ---------------------------------------------------------


def test_kp_canonical_matches_golden(golden):
    ours = check_kp_canonical(golden)["fr.kp_canonical"]
    diff = (ours - golden.tensors["fr.kp_canonical"]).abs().max().item()
    assert diff <= tolerance_for("fr.kp_canonical")


@pytest.mark.slow
def test_two_golden_frames_match(golden):
    produced = check_frames(golden)
    assert set(produced) == {
        "fr.occlusion_map",
        "fr.deformation",
        "fr.mask_f0_sum_over_depth",
        "fr.prediction",
        "fr.frames_uint8",
    }
    for name, ours in produced.items():
        ref = golden.tensors[name]
        assert ours.shape == ref.shape and ours.dtype == ref.dtype, name
        diff = (ours.double() - ref.double()).abs().max().item()
        assert diff <= tolerance_for(name), f"{name}: {diff}"
    frames_off = (produced["fr.frames_uint8"] != golden.tensors["fr.frames_uint8"]).float().mean().item()
    assert frames_off < 0.01  # off by one only where a value lies within ~1e-4 of a rounding boundary


# --- uint8 conversion and batching helpers ---------------------------------------------------------


def test_to_uint8_is_img_as_ubyte():
    ties = (torch.arange(256, dtype=torch.float32) + 0.5) / 255
    values = torch.cat([ties, ties + 1e-7, ties - 1e-7, torch.rand(3 * 256), torch.tensor([0.0, 1.0])]).clamp(
        0, 1
    )
    images = values[: 3 * 16 * 16].view(1, 3, 16, 16)
    images = torch.cat([images, values[-3 * 16 * 16 :].view(1, 3, 16, 16)])
    expected = img_as_ubyte(images.permute(0, 2, 3, 1).numpy())
    np.testing.assert_array_equal(to_uint8(images).numpy(), expected)
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(torch.full((1, 3, 2, 2), float("nan")))


def test_contiguous_batches_rechunk_in_order():
    frames = torch.arange(8 * 15 * 3, dtype=torch.float32).view(8, 15, 3)
    chunks = [frames[:3], frames[3:4], frames[4:8]]
    batches = list(contiguous_batches(chunks, 3))
    assert [b.shape[0] for b in batches] == [3, 3, 2]
    assert torch.equal(torch.cat(batches), frames)
    assert [b.shape[0] for b in contiguous_batches(frames, 5)] == [5, 3]
    with pytest.raises(ValueError, match="kp_driving"):
        list(contiguous_batches(torch.zeros(4, 15), 2))


# --- tiny config: end to end -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [256, 512])
def test_tiny_renders_uint8_frames_at_input_size(tiny_renderer, size):
    source = tiny_renderer.prepare(_source(size))
    assert source.kp_canonical.shape == (1, 15, 3) and source.kp_canonical.abs().max() <= 1 + 1e-4
    assert source.feature.shape == (1, 8, 4, size // 4, size // 4)
    frames = list(tiny_renderer.frames(source, source.kp_canonical, _driving(source.kp_canonical, 2)))
    assert len(frames) == 2
    assert all(f.shape == (size, size, 3) and f.dtype == np.uint8 for f in frames)
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).max() > 0  # frames follow the keypoints


# Rounding differences (~1e-6 in the dense motion) grow through the SPADE decoder's instance norms, to
# ~5e-5 with the official rule weights and a few 1e-4 with random tiny weights: compare frames at the
# tolerance of fr.prediction parity. A batching mistake (a frame drawn with another frame's
# keypoints) moves pixels by ~0.1 or more.
FRAME_ATOL = tolerance_for("fr.prediction")


def test_batch_composition_does_not_change_frames(tiny_renderer):
    source = tiny_renderer.prepare(_source(256, seed=1))
    kp_source = source.kp_canonical
    kp_driving = _driving(kp_source, 3, seed=2)
    one_batch = tiny_renderer.predict(source, kp_source, kp_driving)
    singles = torch.cat([tiny_renderer.predict(source, kp_source, kp[None]) for kp in kp_driving])
    torch.testing.assert_close(singles, one_batch, rtol=0, atol=FRAME_ATOL)
    assert (singles[0] - singles[1]).abs().max() > 0.1  # the frames do differ
    # batch_size 2 over chunks of 1 and 2 frames: batches [0, 1] and [2]
    streamed = np.stack(list(tiny_renderer.frames(source, kp_source, [kp_driving[:1], kp_driving[1:]])))
    assert np.abs(streamed.astype(int) - to_uint8(one_batch).numpy().astype(int)).max() <= 1


def test_channels_last_gives_the_same_frames():
    outputs = []
    for options in (RenderOptions(), RenderOptions(channels_last=True)):
        renderer = FaceRenderer(*build_renderer(TINY, seed=5), options)
        source = renderer.prepare(_source(256, seed=4))
        outputs.append(
            renderer.predict(source, source.kp_canonical, _driving(source.kp_canonical, 1, seed=6))
        )
    torch.testing.assert_close(outputs[1], outputs[0], rtol=0, atol=FRAME_ATOL)


def test_bf16_renderer_stays_close_to_float32():
    outputs = []
    for options in (RenderOptions(), RenderOptions(precision="bf16", emulate=True)):
        renderer = FaceRenderer(*build_renderer(TINY, seed=5), options)
        source = renderer.prepare(_source(256, seed=4))
        outputs.append(
            renderer.predict(source, source.kp_canonical, _driving(source.kp_canonical, 1, seed=6))
        )
    assert outputs[1].dtype == torch.float32
    diff = (outputs[1] - outputs[0]).abs()
    assert 0 < diff.mean() < 0.02  # bf16 rounding, a few uint8 levels on average with random weights
    with pytest.raises(ValueError, match="precision"):
        RenderOptions(precision="int8")


def test_seeded_init_is_reproducible_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    first = build_renderer(TINY, seed=7)[1].state_dict()
    assert torch.equal(state, torch.random.get_rng_state())
    again = build_renderer(TINY, seed=7)[1].state_dict()
    other = build_renderer(TINY, seed=8)[1].state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["decoder.fc.weight"], other["decoder.fc.weight"])


def test_bad_inputs_raise_clear_errors(tiny_renderer):
    with pytest.raises(ValueError, match="multiples of 128"):
        tiny_renderer.prepare(_source(200))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        tiny_renderer.prepare(_source(256) * 255)
    source = tiny_renderer.prepare(_source(256))
    with pytest.raises(ValueError, match="kp_source"):
        tiny_renderer.predict(source, torch.zeros(1, 10, 3), torch.zeros(2, 15, 3))
    with pytest.raises(ValueError, match="kp_driving"):
        tiny_renderer.predict(source, torch.zeros(1, 15, 3), torch.zeros(2, 15, 2))
    with pytest.raises(ValueError, match="batch_size"):
        RenderOptions(batch_size=0)
    with pytest.raises(ValueError, match="unknown renderer config"):
        renderer_config("huge")
    assert renderer_config("tiny") is TINY
