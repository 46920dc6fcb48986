"""ExpNet / PoseVAE / Audio2Coeff: strict loading, golden parity, seeding, chunking and reference inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import savgol_filter

from talkingface.audio2coeff import Audio2Coeff, Audio2CoeffConfig, blink_sequence, smooth_pose
from talkingface.coeffs import COEFF_70
from talkingface.models.posevae import Audio2Pose, PoseChunks
from talkingface.parity.golden import GoldenSet

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model(golden: GoldenSet) -> Audio2Coeff:
    return Audio2Coeff.from_state_dicts(golden.weights("audio2exp"), golden.weights("audio2pose"))


@pytest.fixture(scope="module")
def windows(golden: GoldenSet) -> torch.Tensor:
    return golden.tensors["audio.indiv_mels"][0, :, 0]  # [76, 80, 16]


@pytest.fixture(scope="module")
def clip(windows: torch.Tensor) -> torch.Tensor:
    """40 frames: one full PoseVAE chunk and a remainder chunk of 7."""
    return windows[:40]


@pytest.fixture(scope="module")
def source(golden: GoldenSet) -> torch.Tensor:
    return golden.tensors["src.coeff_3dmm"][0]  # [73]


def test_strict_loading_from_official_layout(golden):
    flat = {**golden.checkpoint_state("audio2exp"), **golden.checkpoint_state("audio2pose")}
    flat["kp_extractor.down.weight"] = torch.zeros(3, 1, 13, 13)  # other parts are ignored
    model = Audio2Coeff.from_checkpoint(flat)
    assert not model.training
    n_pose = sum(t.numel() for t in model.posevae.state_dict().values())
    n_exp = sum(t.numel() for t in model.expnet.state_dict().values())
    assert n_pose == golden.manifest["audio2pose"]["num_elements"]
    assert n_exp == golden.manifest["audio2exp"]["num_elements"]
    del flat["audio2pose.netD_motion.seq.3.bias"]
    with pytest.raises(RuntimeError, match=r"netD_motion\.seq\.3\.bias"):
        Audio2Coeff.from_checkpoint(flat)


def test_parity_command_within_tolerance(oracle_dir):
    golden_file = oracle_dir / "golden_A.safetensors"
    cmd = [sys.executable, "-m", "talkingface.parity", str(golden_file), "--only", "coeff."]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    status = {line.split()[0]: line.split()[-1] for line in run.stdout.splitlines() if line.endswith("ok")}
    names = json.loads((oracle_dir / "golden_A.json").read_text())["tensors"]
    mine = [n for n in names if n.split(".")[0] in ("audio", "a2e", "a2p", "a2c")]
    assert sorted(status) == sorted(mine)
    for name in ("a2e.exp", "a2p.pose_pred", "a2c.coeffs", "audio.mel_f64"):
        assert status[name] == "ok"


def test_whole_clip_batch_matches_sadtalker_chunks(model, windows, source, golden):
    t = golden.tensors
    whole = model.predict(windows, source, z=t["a2p.z"], blink=t["a2e.ratio"])  # one batch of 76 frames
    assert (whole.exp - t["a2e.exp"][0]).abs().max() < 1e-4  # SadTalker ran ExpNet on 10-frame chunks
    assert (whole.pose - t["a2p.pose_pred"][0]).abs().max() < 1e-4
    chunked = model.predict(
        windows, source, Audio2CoeffConfig(frames_per_batch=10), z=t["a2p.z"], blink=t["a2e.ratio"]
    )
    assert (whole.exp - chunked.exp).abs().max() < 1e-5
    assert (whole.pose - chunked.pose).abs().max() < 1e-5


def test_windows_cut_on_demand_predict_the_same(model, source):
    """``AudioFeatures.mel_windows`` (long clips: windows cut per batch) gives the coefficients of the
    whole [T, 80, 16] array, bit for bit, across several audio-encoder batches."""
    from talkingface.audio import features_from_wav

    wav = np.random.default_rng(2).uniform(-0.3, 0.3, 640 * 45).astype(np.float32)
    feats = features_from_wav(wav)
    cfg = Audio2CoeffConfig(seed=3, frames_per_batch=16)
    eager, lazy = model.predict(feats.windows, source, cfg), model.predict(feats.mel_windows, source, cfg)
    for name in ("coeffs", "exp", "pose", "audio_emb"):
        assert torch.equal(getattr(eager, name), getattr(lazy, name)), name


def test_seeded_runs_are_reproducible(model, clip, source):
    first = model.predict(clip, source, Audio2CoeffConfig(seed=7))
    again = model.predict(clip, source, Audio2CoeffConfig(seed=7))
    other = model.predict(clip, source, Audio2CoeffConfig(seed=8))
    torch.testing.assert_close(first.coeffs, again.coeffs, rtol=0, atol=0)
    assert first.z.shape == (2, 64)
    torch.testing.assert_close(first.z, torch.randn(2, 64, generator=torch.Generator().manual_seed(7)))
    torch.testing.assert_close(first.blink[:, 0], torch.from_numpy(blink_sequence(40, 7)[:, 0]))
    assert not torch.equal(first.z, other.z) and not torch.equal(first.coeffs, other.coeffs)
    assert first.coeffs.shape == (40, COEFF_70.dim) and first.coeffs.dtype == torch.float32
    torch.testing.assert_close(COEFF_70.get(first.coeffs, "exp"), first.exp, rtol=0, atol=0)
    assert not torch.equal(first.coeffs[:, 64:], first.pose)  # the pose is smoothed
    torch.testing.assert_close(first.pose[0], source[64:70], rtol=0, atol=0)  # frame 0 has no motion


def test_pose_style_and_bad_inputs_rejected(model, clip, source):
    for style in (-1, 46, 1.5, True):
        with pytest.raises(ValueError, match="pose_style"):
            Audio2CoeffConfig(pose_style=style)
    styled = [model.predict(clip, source, Audio2CoeffConfig(pose_style=s, seed=1)).pose for s in (0, 45)]
    assert not torch.allclose(*styled)
    with pytest.raises(ValueError, match="mel windows"):
        model.predict(clip[:, :40], source)
    with pytest.raises(ValueError, match="source_coeff"):
        model.predict(clip, source[:10])
    with pytest.raises(ValueError, match="z must hold 2"):
        model.predict(clip, source, z=torch.zeros(3, 1, 64))
    with pytest.raises(ValueError, match="blink"):
        model.predict(clip, source, blink=torch.zeros(5))


def test_chunk_plan_and_short_clips(model, clip, source):
    assert (PoseChunks.plan(76).full, PoseChunks.plan(76).remainder, PoseChunks.plan(76).count) == (2, 11, 3)
    assert PoseChunks.plan(33).count == 1 and PoseChunks.plan(34).count == 2 and PoseChunks.plan(1).count == 0
    single = model.predict(clip[:1], source)
    assert single.z.shape == (0, 64) and single.coeffs.shape == (1, 70)
    torch.testing.assert_close(single.coeffs[0, 64:], source[64:70], rtol=0, atol=0)
    # fewer than 32 frames: one chunk, left-padded with its first embedding; frames keep their own output
    short = model.predict(clip[:20], source, z=torch.zeros(1, 64))
    assert short.audio_emb.shape == (1, 32, 512)
    torch.testing.assert_close(short.audio_emb[0, :13], short.audio_emb[0, 13:14].expand(13, -1))
    assert torch.equal(short.pose_motion[0], torch.zeros(6))
    # the remainder chunk reuses the last 32 frames: its embeddings overlap the full chunks
    full = model.predict(clip, source, z=torch.zeros(2, 64))  # frames 1..39: chunk 1..32, remainder 8..39
    torch.testing.assert_close(full.audio_emb[1, :25], full.audio_emb[0, 7:], rtol=0, atol=1e-5)


def test_ref_eyeblink_replaces_expression_and_blinks(model, clip, source):
    base = model.predict(clip, source, Audio2CoeffConfig(use_blink=False))
    ref = torch.stack([source, source.clone()])
    ref[1, :64] += 0.3
    out = model.predict(clip, source, ref_eyeblink=ref)
    assert torch.equal(out.blink, torch.zeros(40, 1))
    torch.testing.assert_close(
        out.exp[0::2], base.exp[0::2], rtol=0, atol=1e-5
    )  # rows loop: src, shifted, ...
    weight = model.expnet.mapping1.weight[:, 512:576]  # the linear head's reference-expression columns
    torch.testing.assert_close(
        out.exp[1::2] - base.exp[1::2], (0.3 * weight.sum(1)).expand(20, -1), atol=1e-5, rtol=0
    )


def test_ref_pose_adds_relative_motion(model, clip, source):
    z = torch.randn(2, 64, generator=torch.Generator().manual_seed(0))
    base = model.predict(clip, source, z=z)
    ref = source[None].repeat(5, 1)
    ref[:, 64:70] += torch.linspace(0, 0.4, 5)[:, None]
    out = model.predict(clip, source, z=z, ref_pose=ref)
    delta = torch.linspace(0, 0.4, 5).repeat(8)[:, None].expand(40, 6)
    torch.testing.assert_close(out.coeffs[:, 64:] - base.coeffs[:, 64:], delta, rtol=0, atol=1e-6)
    torch.testing.assert_close(out.exp, base.exp, rtol=0, atol=0)


def test_blinks_and_smoothing_rules(golden):
    np.testing.assert_array_equal(
        blink_sequence(76, golden.meta["seed"]), golden.tensors["a2e.ratio"][0].numpy()
    )
    assert not blink_sequence(20, 1).any() and not blink_sequence(21, 1).any()
    for n, seed in ((22, 0), (300, 5), (1000, 9)):
        ratio = blink_sequence(n, seed)[:, 0]
        assert set(np.unique(ratio)) <= set(np.float32([0.0, 0.5, 0.9, 1.0]))
        assert ratio.any() and ratio[-1] == 0
    pose = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    np.testing.assert_array_equal(smooth_pose(pose), savgol_filter(pose, 13, 2, axis=0))
    np.testing.assert_array_equal(smooth_pose(pose[:8]), savgol_filter(pose[:8], 7, 2, axis=0))
    np.testing.assert_array_equal(smooth_pose(pose[:2]), pose[:2])
    t = np.arange(30, dtype=np.float64)[:, None]
    quadratic = np.hstack([0.01 * t**2 - t + 1] * 6)
    np.testing.assert_allclose(smooth_pose(quadratic), quadratic, atol=1e-9)  # order 2 keeps quadratics


def test_training_networks_run(golden):
    net = Audio2Pose()
    net.load_state_dict(golden.weights("audio2pose"), strict=True)
    net.eval()
    motion, audio = torch.randn(2, 32, 6), torch.randn(2, 32, 512)
    with torch.no_grad():
        mu, logvar = net.netG.encoder(motion, torch.randn(2, 6), audio, torch.tensor([0, 45]))
        logits = net.netD_motion(motion)
    assert mu.shape == logvar.shape == (2, 64) and not torch.equal(mu, logvar)
    assert logits.shape == (2, 8)


@pytest.mark.parametrize("num_frames", [1, 12, 40, 97])
def test_spans_give_the_whole_clips_coefficients(model, source, num_frames):
    """``expression_span`` / ``pose_span`` of any frame range equal the whole clip's ``predict`` rows: the
    spans cross PoseVAE chunks, the remainder chunk, the smoothing window and both clip edges."""
    from talkingface.audio import features_from_wav

    wav = np.random.default_rng(num_frames).uniform(-0.3, 0.3, 640 * num_frames + 211).astype(np.float32)
    feats = features_from_wav(wav)
    cfg = Audio2CoeffConfig(seed=5, pose_style=7, frames_per_batch=8)
    refs = {"ref_eyeblink": torch.randn(9, 73), "ref_pose": torch.randn(11, 70)}
    for ref in ({}, refs):
        whole = model.predict(feats.mel_windows, source, cfg, **ref).coeffs
        spans = {(0, num_frames), (0, 1), (num_frames - 1, num_frames)}
        spans |= {(a, min(a + n, num_frames)) for a in range(0, num_frames, 11) for n in (3, 40)}
        for start, stop in sorted(spans):
            exp = model.expression_span(
                feats.mel_windows, source, cfg, start, stop, ref_eyeblink=ref.get("ref_eyeblink")
            )
            pose = model.pose_span(feats.mel_windows, source, cfg, start, stop, ref_pose=ref.get("ref_pose"))
            torch.testing.assert_close(exp, whole[start:stop, :64], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(pose, whole[start:stop, 64:], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="frame span"):
        model.pose_span(feats.mel_windows, source, cfg, 0, num_frames + 1)
