"""Parity of the audio features, ExpNet, PoseVAE and Audio2Coeff (golden audio.*, a2e.*, a2p.*, a2c.*).

``coeff.a2e`` and ``coeff.a2p`` start from the golden windows, blink ratios and z so that a failure
points at one network; ``coeff.a2c`` runs the whole path from the wav file, with the blinks and z
drawn from the golden seed.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from talkingface.audio import audio_features, load_audio
from talkingface.audio2coeff import Audio2Coeff, Audio2CoeffConfig, CoeffPrediction, blink_sequence
from talkingface.coeffs import COEFF_70, COEFF_73
from talkingface.models.posevae import PoseChunks
from talkingface.parity.golden import GoldenSet


@functools.cache
def _model(golden_file: str) -> Audio2Coeff:
    golden = GoldenSet.load(golden_file)
    return Audio2Coeff.from_state_dicts(golden.weights("audio2exp"), golden.weights("audio2pose"))


def _config(golden: GoldenSet) -> Audio2CoeffConfig:
    return Audio2CoeffConfig(pose_style=int(golden.meta["pose_style"]), seed=int(golden.meta["seed"]))


def _source_row(golden: GoldenSet) -> torch.Tensor:
    return golden.tensors["src.coeff_3dmm"][0]  # [73]


def _seeded_z(golden: GoldenSet, num_frames: int) -> torch.Tensor:
    """z as the oracle drew it: after the stand-in source row (exp, angle, trans) from the same generator."""
    gen = torch.Generator().manual_seed(int(golden.meta["seeds"]["torch_generator_seed"]))
    for field in ("exp", "angle", "trans"):
        span = COEFF_73.span(field)
        torch.randn(1, span.stop - span.start, generator=gen)
    return torch.randn(PoseChunks.plan(num_frames).count, 1, 64, generator=gen)


def _from_golden_inputs(golden: GoldenSet) -> CoeffPrediction:
    """Audio2Coeff on the golden windows, blink ratios and z."""
    t = golden.tensors
    windows = t["audio.indiv_mels"][0, :, 0]  # [T, 80, 16]
    return _model(str(golden.path)).predict(
        windows, _source_row(golden), _config(golden), z=t["a2p.z"], blink=t["a2e.ratio"]
    )


def check_audio(golden: GoldenSet) -> dict[str, torch.Tensor]:
    """Wav decoding, frame count, mel spectrogram and per-frame windows from the input wav."""
    wav_file = golden.input_file("wav")
    feats = audio_features(wav_file)
    return {
        "audio.wav": torch.from_numpy(load_audio(wav_file)),
        "audio.num_frames": torch.tensor([feats.num_frames], dtype=torch.int64),
        "audio.mel_f64": torch.from_numpy(feats.mel),
        "audio.mel": torch.from_numpy(feats.mel.astype(np.float32)),
        "audio.indiv_mels": torch.from_numpy(feats.windows)[None, :, None],  # [1, T, 1, 80, 16]
    }


def check_a2e(golden: GoldenSet) -> dict[str, torch.Tensor]:
    """Seeded blink ratios, the reference rows, and ExpNet run over all frames in one batch."""
    num_frames = golden.tensors["audio.indiv_mels"].shape[1]
    out = _from_golden_inputs(golden)
    ref = _source_row(golden)[: COEFF_70.dim].expand(
        num_frames, -1
    )  # COEFF_73 opens with the COEFF_70 fields
    return {
        "a2e.ratio": torch.from_numpy(blink_sequence(num_frames, _config(golden).seed))[None],
        "a2e.ref": ref[None],
        "a2e.exp": out.exp[None],
    }


def check_a2p(golden: GoldenSet) -> dict[str, torch.Tensor]:
    """PoseVAE chunking and decoding with the golden z; the seeded z and the style id."""
    num_frames = golden.tensors["audio.indiv_mels"].shape[1]
    out = _from_golden_inputs(golden)
    return {
        "a2p.class": torch.tensor([_config(golden).pose_style], dtype=torch.int64),
        "a2p.z": _seeded_z(golden, num_frames),
        "a2p.audio_emb": out.audio_emb[:, None],  # [n_chunks, 1, 32, 512]
        "a2p.pose_motion_pred": out.pose_motion[None],
        "a2p.pose_pred": out.pose[None],
    }


def check_a2c(golden: GoldenSet) -> dict[str, torch.Tensor]:
    """The whole path: wav file -> features -> Audio2Coeff with seeded blinks and seeded z."""
    feats = audio_features(golden.input_file("wav"))
    z = _seeded_z(golden, feats.num_frames)
    out = _model(str(golden.path)).predict(feats.windows, _source_row(golden), _config(golden), z=z)
    return {"a2c.coeffs": out.coeffs}


CHECKS = [
    ("coeff.audio", check_audio),
    ("coeff.a2e", check_a2e),
    ("coeff.a2p", check_a2p),
    ("coeff.a2c", check_a2c),
]
