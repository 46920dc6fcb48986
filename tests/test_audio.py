"""Audio loading (wav, resampled wav, stereo flac, m4a, mp3, bytes, bad input) and the mel features."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.signal
from safetensors.numpy import load_file

from talkingface.audio import (
    audio_features,
    features_from_wav,
    load_audio,
    mel_filterbank,
    mel_windows,
    melspectrogram,
    num_video_frames,
)
from talkingface.audio.features import mel_window_starts


@pytest.fixture(scope="module")
def golden(oracle_dir: Path) -> dict[str, np.ndarray]:
    return load_file(str(oracle_dir / "golden_A.safetensors"))


@pytest.fixture(scope="module")
def speech_22k(tmp_path_factory) -> Path:
    """espeak-ng's native output: 22.05 kHz mono int16."""
    if not shutil.which("espeak-ng"):
        pytest.fail("espeak-ng is not installed")
    out = tmp_path_factory.mktemp("speech22k") / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(out), "Hello there, how are you?"], check=True)
    return out


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


def test_golden_wav_mel_and_windows(oracle_dir, golden):
    feats = audio_features(oracle_dir / "speech.wav")
    assert feats.num_frames == int(golden["audio.num_frames"][0]) == 76
    assert feats.wav.shape == (76 * 640,)
    np.testing.assert_array_equal(load_audio(oracle_dir / "speech.wav"), golden["audio.wav"])
    assert feats.mel.dtype == np.float64 and feats.mel.shape == (244, 80)
    assert np.abs(feats.mel - golden["audio.mel_f64"]).max() < 1e-12
    assert feats.windows.shape == (76, 80, 16) and feats.windows.dtype == np.float32
    np.testing.assert_array_equal(feats.windows, golden["audio.indiv_mels"][0, :, 0])


def test_mel_matches_librosa_on_odd_length():
    wav = np.random.default_rng(0).uniform(-0.5, 0.5, 1000).astype(np.float32)
    emphasised = scipy.signal.lfilter([1, -0.97], [1], wav)
    mag = np.abs(librosa.stft(emphasised, n_fft=800, hop_length=200, win_length=800, pad_mode="constant"))
    basis = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    np.testing.assert_array_equal(mel_filterbank(16000, 800, 80, 55.0, 7600.0), basis)
    db = 20 * np.log10(np.maximum(1e-5, basis @ mag)) - 20
    expected = np.clip(8 * (db + 100) / 100 - 4, -4, 4).T
    ours = melspectrogram(wav)
    assert ours.shape == (1 + 1000 // 200, 80)
    assert np.abs(ours - expected).max() < 1e-9


def test_long_audio_mel_in_blocks_and_windows_on_demand():
    """A long clip's mel is computed block by block and its windows cut batch by batch: the same values
    as in one piece (the matmul's blocking may change the last float64 bit, nothing more)."""
    wav = np.random.default_rng(1).uniform(-0.5, 0.5, 16000 * 3 + 517).astype(np.float32)
    whole = melspectrogram(wav, block=10**9)
    for block in (1, 7, 64):
        np.testing.assert_allclose(melspectrogram(wav, block=block), whole, rtol=0, atol=1e-12)
    feats = features_from_wav(wav)
    lazy = feats.mel_windows
    assert len(lazy) == feats.num_frames == 75
    eager = mel_windows(feats.mel, feats.num_frames)
    np.testing.assert_array_equal(feats.windows, eager)
    np.testing.assert_array_equal(np.concatenate([lazy.batch(i, i + 8) for i in range(0, 75, 8)]), eager)
    assert lazy.batch(70, 99).shape == (5, 80, 16)


def test_frame_count_crop_and_window_rule():
    assert num_video_frames(48770) == 76 and num_video_frames(639) == 0 and num_video_frames(640) == 1
    feats = features_from_wav(np.ones(1279, dtype=np.float32))
    assert feats.num_frames == 1 and feats.wav.shape == (640,) and feats.mel.shape == (4, 80)
    assert feats.windows.shape == (1, 80, 16)
    # window i starts int(80 * (i - 2) / 25) mel rows in, truncated towards zero, clamped to the clip
    np.testing.assert_array_equal(mel_window_starts(6), [-6, -3, 0, 3, 6, 9])
    mel = np.arange(10, dtype=np.float64)[:, None].repeat(80, axis=1)  # row r holds r
    windows = mel_windows(mel, 6)
    np.testing.assert_array_equal(windows[0, 0], [0] * 7 + list(range(1, 10)))
    np.testing.assert_array_equal(windows[5, 0], [9] * 16)
    with pytest.raises(ValueError, match="too short"):
        features_from_wav(np.zeros(639, dtype=np.float32))


def test_resampling_matches_librosa(speech_22k, tmp_path):
    ours = load_audio(speech_22k)
    ref, _ = librosa.load(speech_22k, sr=16000)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-7
    stereo = tmp_path / "stereo.flac"
    subprocess.run(
        ["sox", "-M", str(speech_22k), str(speech_22k), "-c", "2", str(stereo), "vol", "0.5"], check=True
    )
    ref_stereo, _ = librosa.load(stereo, sr=16000)  # channels averaged, then resampled
    assert np.abs(load_audio(stereo) - ref_stereo).max() < 1e-7


def test_m4a_and_bytes_decode_like_the_wav(speech_22k, tmp_path):
    m4a = tmp_path / "speech.m4a"
    _ffmpeg("-i", str(speech_22k), "-c:a", "aac", "-b:a", "128k", str(m4a))
    wav = load_audio(speech_22k)
    decoded = load_audio(m4a)
    # AAC pads the last 1024-sample frame (at 22.05 kHz); the start is aligned (priming is dropped)
    assert 0 <= decoded.shape[0] - wav.shape[0] <= 1024 * 16000 // 22050 + 1
    head = decoded[: wav.shape[0]]
    assert np.corrcoef(head, wav)[0, 1] > 0.99
    np.testing.assert_array_equal(load_audio(m4a.read_bytes()), decoded)
    np.testing.assert_array_equal(load_audio(speech_22k.read_bytes()), wav)


def test_mp3_decodes_like_librosa(speech_22k, tmp_path):
    mp3 = tmp_path / "speech.mp3"
    _ffmpeg("-i", str(speech_22k), "-c:a", "libmp3lame", "-b:a", "128k", str(mp3))
    ours, (ref, _) = load_audio(mp3), librosa.load(mp3, sr=16000)
    assert ours.shape == ref.shape and np.abs(ours - ref).max() < 1e-6
    wav = load_audio(speech_22k)
    n = min(len(wav), len(ours))
    assert np.corrcoef(ours[:n], wav[:n])[0, 1] > 0.99


def test_bad_inputs_name_the_file(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not audio\n" * 20)
    with pytest.raises(ValueError, match=r"notes\.txt"):
        load_audio(text)
    silent_video = tmp_path / "silent.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=black:size=32x32:duration=0.2", str(silent_video))
    with pytest.raises(ValueError, match=r"no audio track in .*silent\.mp4"):
        load_audio(silent_video)
    with pytest.raises(FileNotFoundError, match=r"missing\.wav"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="bytes"):
        load_audio(b"\x00\x01garbage" * 10)
