"""Precision knob: native detection, bf16 emulation fidelity, fp32 islands, golden-set-A quality of bf16."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkingface.face.reconstruct import RECON_FP32_ISLANDS, FaceReconstructor
from talkingface.models.recon_net import ReconNet
from talkingface.precision import (
    EmulatedLowPrecision,
    autocast,
    clear_fp32_islands,
    default_precision,
    native_precisions,
    resolve_precision,
    set_fp32_islands,
)
from talkingface.render.animate import FaceRenderer, RenderOptions, to_uint8
from talkingface.render.configs import TINY, RendererConfig, build_renderer, load_renderer


def test_default_is_bf16_exactly_where_the_cpu_has_it():
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert ("bf16" in native_precisions("cpu")) == native
    assert default_precision("cpu") == ("bf16" if native else "fp32")
    assert resolve_precision(None, "cpu") == default_precision("cpu")
    assert resolve_precision("fp16", "cpu") == "fp16"
    with pytest.raises(ValueError, match="unknown precision 'int8'"):
        resolve_precision("int8", "cpu")


@torch.inference_mode()
def test_emulation_reproduces_native_bf16_arithmetic():
    gen = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(4, 4, 3, padding=1)
    x = torch.randn(1, 4, 6, 6, generator=gen)
    with autocast("bf16", "cpu"):
        native = conv(x)  # oneDNN's bf16 kernel (reference kernels on CPUs without bf16: small input)
        with EmulatedLowPrecision():
            emulated = conv(x)
    exact = conv(x)
    assert native.dtype == emulated.dtype == torch.bfloat16
    # the same bf16 operands and fp32 sums: at most one bf16 step apart, far closer than to fp32
    ulp = exact.abs().clamp_min(1e-3) * 2**-7
    assert ((emulated.float() - native.float()).abs() <= ulp).all()
    assert (emulated.float() - exact).abs().max() > 0


@torch.inference_mode()
def test_fp32_islands_compute_in_float32_and_keep_the_state_dict():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 4, 1))
    keys = list(net.state_dict())
    x = torch.rand(1, 3, 8, 8)
    exact = net(x)
    set_fp32_islands(net, ["1"], "cpu")
    set_fp32_islands(net, ["1"], "cpu")  # idempotent
    assert list(net.state_dict()) == keys
    assert torch.equal(net(x), exact)  # outside autocast the island changes nothing
    with autocast("bf16", "cpu"), EmulatedLowPrecision():
        out = net(x)
    assert out.dtype == torch.float32  # the last conv ran in fp32 (its bf16 input cast up)
    clear_fp32_islands(net)
    with autocast("bf16", "cpu"), EmulatedLowPrecision():
        assert net(x).dtype == torch.bfloat16


def test_bf16_recon_net_keeps_its_heads_in_fp32():
    recon = ReconNet().eval()
    faces = FaceReconstructor(recon, detector=lambda: None, precision="bf16")
    assert faces.precision == "bf16"
    for name in RECON_FP32_ISLANDS:
        assert recon.get_submodule(name).forward.__class__.__name__ == "_Fp32Forward"
    with pytest.raises(ValueError, match="unknown precision"):
        FaceReconstructor(recon, detector=lambda: None, precision="fp8")


def test_bf16_renderer_islands_decide_the_feature_volume_dtype():
    nets = build_renderer(TINY, seed=1)
    image = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    options = RenderOptions(precision="bf16", emulate=True)
    assert FaceRenderer(*nets, options).prepare(image).feature.dtype == torch.float32  # encoder island
    renderer = FaceRenderer(*nets, RenderOptions(precision="bf16", emulate=True, fp32_islands=()))
    source = renderer.prepare(image)
    assert source.feature.dtype == torch.bfloat16 and source.kp_canonical.dtype == torch.float32
    frames = renderer.predict(source, source.kp_canonical, source.kp_canonical.expand(2, -1, -1))
    assert frames.dtype == torch.float32 and frames.shape == (2, 3, 128, 128)


def test_bf16_frames_on_golden_set_a_stay_within_levels_of_fp32(golden):
    """The fast path's quality gate: mean <= 1.5 and p99 <= 8 uint8 levels from the fp32 frames.

    The fp32 reference is the golden set's own frames (SadTalker's; our fp32 path reproduces them).
    """
    config = RendererConfig.from_manifest(golden.manifest)
    nets = load_renderer(config, golden.weights("kp_extractor"), golden.weights("generator"))
    kp_source, kp_driving = golden.tensors["fr.kp_source"], golden.tensors["fr.kp_driving"]
    emulate = "bf16" not in native_precisions("cpu")
    renderer = FaceRenderer(*nets, RenderOptions(batch_size=2, precision="bf16", emulate=emulate))
    source = renderer.prepare(golden.tensors["fr.source_image"])
    frames = to_uint8(renderer.predict(source, kp_source, kp_driving)).numpy().astype(np.int16)
    diff = np.abs(frames - golden.tensors["fr.frames_uint8"].numpy().astype(np.int16))
    assert diff.mean() <= 1.5, diff.mean()
    assert np.percentile(diff, 99) <= 8, np.percentile(diff, 99)
    assert diff.max() > 0  # it did run in bf16
