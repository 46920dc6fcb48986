"""Video I/O with PyAV: H.264/AAC writing, probing, 25 fps resampling by timestamp, audio, errors."""

from __future__ import annotations

import math
import wave

import numpy as np
import pytest

from talkingface.video import (
    VideoError,
    WriterConfig,
    iter_frames,
    probe,
    read_audio,
    read_frames,
    write_video,
)

SR = 16000
GRID = 8  # frame i shows a white 8x8 cell at grid position i


def indexed_frames(n: int, size: int = 64):
    """Frames whose index can be read back after lossy coding (a white cell at position i)."""
    for i in range(n):
        frame = np.zeros((size, size, 3), np.uint8)
        row, col = divmod(i, GRID)
        frame[row * 8 : row * 8 + 8, col * 8 : col * 8 + 8] = 255
        yield frame


def frame_index(frame: np.ndarray) -> int:
    cells = frame[..., 0].astype(float).reshape(GRID, 8, GRID, 8).mean(axis=(1, 3))
    row, col = np.unravel_index(int(np.argmax(cells)), cells.shape)
    return int(row * GRID + col)


def tone(seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (0.4 * np.sin(2 * np.pi * freq * t) * np.minimum(1.0, t * 5)).astype(np.float32)


def test_write_probe_read_round_trip_at_25_fps(tmp_path):
    path = tmp_path / "out.mp4"
    audio = tone(1.3)
    assert write_video(path, indexed_frames(37), audio) == 37
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # the temp file was renamed away

    info = probe(path)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.fps == 25 and info.n_frames == 37 and (info.width, info.height) == (64, 64)
    assert info.audio_sample_rate == SR and info.audio_channels == 1
    assert info.video_duration == pytest.approx(37 / 25)
    assert abs(info.audio_duration - info.video_duration) <= 1 / 25  # audio trimmed to the frames

    frames = read_frames(path)
    assert frames.shape == (37, 64, 64, 3)
    assert [frame_index(f) for f in frames] == list(range(37))
    back = read_audio(path)
    assert abs(len(back) - 37 * 640) <= 640
    assert np.corrcoef(back[: len(audio)], audio[: len(back)])[0, 1] > 0.95  # same signal, in sync


def test_short_audio_is_padded_to_the_video_length(tmp_path):
    path = tmp_path / "pad.mp4"
    write_video(path, indexed_frames(30), tone(0.4))
    info = probe(path)
    assert info.n_frames == 30 and abs(info.audio_duration - 30 / 25) <= 1 / 25
    back = read_audio(path)
    assert np.abs(back[round(0.5 * SR) :]).max() < 0.02  # the padding is silence


@pytest.mark.parametrize(
    ("n_source", "container", "codecs"),
    [(45, "mp4", ("libx264", "aac", None)), (41, "flv", ("flv", "libmp3lame", 22050))],
)
def test_30_fps_source_resamples_to_floor_duration_times_25(tmp_path, n_source, container, codecs):
    path = tmp_path / f"src30.{container}"
    config = WriterConfig(30, container, video_codec=codecs[0], audio_codec=codecs[1], audio_rate=codecs[2])
    write_video(path, indexed_frames(n_source), tone(2.0), config=config)
    info = probe(path)
    assert info.fps == 30 and info.n_frames == n_source
    assert info.video_duration == pytest.approx(n_source / 30, abs=1e-3)

    indices = [frame_index(f) for f in iter_frames(path)]
    assert len(indices) == math.floor(info.video_duration * 25)
    # Output frame k shows the source frame nearest to k / 25 s (ties to the earlier one).
    assert indices == [math.floor(k * 30 / 25 + 0.5 - 1e-9) for k in range(len(indices))]
    assert read_audio(path) is not None


def test_file_without_audio_track(tmp_path):
    path = tmp_path / "silent.mp4"
    write_video(path, indexed_frames(10), None)
    info = probe(path)
    assert info.audio_codec is None and not info.has_audio and info.audio_duration is None
    assert read_audio(path) is None
    assert len(read_frames(path)) == 10


def test_odd_sizes_are_padded_to_even(tmp_path):
    path = tmp_path / "odd.mp4"
    write_video(path, (np.full((63, 65, 3), 90, np.uint8) for _ in range(5)), tone(0.2))
    info = probe(path)
    assert (info.width, info.height) == (66, 64)


def test_corrupt_missing_and_non_video_files_name_the_file(tmp_path):
    corrupt = tmp_path / "broken.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    for reader in (probe, read_frames, read_audio):
        with pytest.raises(VideoError, match=r"broken\.mp4"):
            reader(corrupt)
    with pytest.raises(FileNotFoundError, match=r"nothing\.mp4"):
        probe(tmp_path / "nothing.mp4")
    speech = tmp_path / "speech.wav"
    with wave.open(str(speech), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SR)
        out.writeframes((tone(0.3) * 32767).astype("<i2").tobytes())
    with pytest.raises(VideoError, match=r"speech\.wav has no video stream"):
        read_frames(speech)
    assert len(read_audio(speech)) == round(0.3 * SR)


def test_bad_frames_fail_without_leaving_files(tmp_path):
    def frames():
        yield np.zeros((32, 32, 3), np.uint8)
        yield np.zeros((32, 32, 3), np.float32)

    with pytest.raises(ValueError, match="frame 1"):
        write_video(tmp_path / "bad.mp4", frames(), tone(0.2))
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "empty.mp4", iter([]), tone(0.2))
    flv_mp3 = WriterConfig(container="flv", video_codec="flv", audio_codec="libmp3lame")
    with pytest.raises(ValueError, match="flv holds mp3 only at"):
        write_video(tmp_path / "mp3.flv", indexed_frames(2), tone(0.2), config=flv_mp3)
    with pytest.raises(ValueError, match="1-D float"):
        write_video(tmp_path / "int.mp4", indexed_frames(2), np.zeros(100, np.int16))
    assert list(tmp_path.iterdir()) == []
