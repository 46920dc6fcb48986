"""``talkingface get-betas``: a video -> one betas-table row (+ the fork's .pt), frames aligned to audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

import storage
from jobs.cli import main as cli
from talkingface.synth import make_corpus


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("clip")
    make_corpus(root, n_clips_per_dataset=1, seconds=1.0, seed=3)
    return (
        root / "CREMA-D" / "VideoFlash" / "1001_DFA_ANG_XX.flv",
        root / "CREMA-D" / "AudioWAV" / "1001_DFA_ANG_XX.wav",
    )


@pytest.fixture(scope="module")
def fan_weights(tmp_path_factory) -> Path:
    """face-alignment's 2D-FAN with seeded random weights under its official file name (no download)."""
    from face_alignment.models import FAN

    folder = tmp_path_factory.mktemp("face-weights")
    torch.manual_seed(0)
    torch.save(FAN(4).state_dict(), folder / "2DFAN4-11f355bf06.pth.tar")
    return folder


def read_row(path: Path) -> dict:
    table = storage.read_table(str(path), storage.BETAS_SCHEMA)
    storage.validate_betas_table(table)
    (row,) = storage.from_table(table)
    return row


def test_get_betas_aligns_frames_to_the_audio(clip, tmp_path, capsys):
    video, wav = clip
    out, pt = tmp_path / "betas.parquet", tmp_path / "exp.pt"
    argv = ["get-betas", str(video), "--audio", str(wav), "--out", str(out), "--pt", str(pt)]
    with pytest.raises(SystemExit) as exit_:  # no checkpoints and stand-in weights not asked for
        cli(argv)
    assert exit_.value.code == 2 and "--stand-in-weights" in capsys.readouterr().err
    argv += ["--stand-in-weights", "--detector", "dlib", "--landmarks", "dlib", "--batch-size", "4"]
    assert cli(argv) == 0
    assert '"frames": 25' in capsys.readouterr().out
    row = read_row(out)
    assert row["n_frames"] == soundfile.info(wav).frames // 640 == 25
    assert (row["clip_id"], row["dataset"], row["emotion"], row["intensity"]) == (
        "cremad-1001_DFA_ANG_XX",
        "cremad",
        "angry",
        None,
    )
    np.testing.assert_array_equal(torch.load(pt).numpy(), row["exp"])
    assert row["full"].shape == (25, 257) and row["mels"].shape == (25, 1280)
    assert row["face_found"].all()
    # the crop scale of the 5-point fit differs frame to frame: the synthetic head moves
    assert np.ptp(row["crop"][:, 0]) > 0


def test_get_betas_with_face_alignment_fan(clip, tmp_path, fan_weights):
    video, wav = clip
    out = tmp_path / "fan.parquet"
    argv = ["get-betas", str(video), "--audio", str(wav), "--out", str(out), "--detector", "haar"]
    argv.append("--stand-in-weights")
    assert cli([*argv, "--face-weights", str(fan_weights), "--landmark-stride", "12"]) == 0
    row = read_row(out)
    assert row["n_frames"] == 25 and np.isfinite(row["full"]).all()


def test_get_betas_without_audio_names_the_file(tmp_path):
    silent = tmp_path / "silent.mp4"
    from talkingface.video import write_video

    frames = np.zeros((10, 64, 64, 3), np.uint8)
    write_video(silent, iter(frames), None, 16000)
    argv = ["get-betas", str(silent), "--out", str(tmp_path / "x.parquet"), "--detector", "haar"]
    argv.append("--stand-in-weights")
    with pytest.raises(Exception, match=r"silent\.mp4"):
        cli([*argv, "--landmarks", "template"])
