"""Decode any audio file (or bytes) to a mono float32 waveform, as ``librosa.load(path, sr=sr)`` does."""

from __future__ import annotations

import io
import os
from pathlib import Path

import av
import numpy as np
import soundfile
import soxr

AudioSource = str | os.PathLike | bytes


def load_audio(source: AudioSource, sr: int = 16000) -> np.ndarray:
    """Mono float32 samples of ``source`` (path or encoded bytes) resampled to ``sr`` Hz.

    wav/flac/mp3/ogg go through libsndfile; anything else with an audio track (m4a, mp4, flv, webm...)
    is decoded with PyAV. Channels are averaged and the signal is resampled with soxr ``HQ`` and then
    trimmed/zero-padded to ``ceil(n * sr / sr_native)`` samples, which is what ``librosa.load`` does.
    """
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got sr={sr}")
    name = describe_source(source)
    try:
        channels, sr_native = _read_soundfile(source)
    except soundfile.LibsndfileError:
        channels, sr_native = _read_pyav(source, name)
    mono = np.mean(channels, axis=0) if channels.shape[0] > 1 else channels[0]
    return resample(mono, sr_native, sr)


def resample(wav: np.ndarray, sr_native: int, sr: int) -> np.ndarray:
    """``librosa.resample(wav, orig_sr=sr_native, target_sr=sr, res_type="soxr_hq")`` without librosa."""
    if sr_native == sr:
        return np.ascontiguousarray(wav, dtype=np.float32)
    n_out = int(np.ceil(wav.shape[-1] * (float(sr) / sr_native)))
    out = soxr.resample(wav, sr_native, sr, quality="soxr_hq")
    out = out[:n_out] if out.shape[0] >= n_out else np.pad(out, (0, n_out - out.shape[0]))
    return np.ascontiguousarray(out, dtype=np.float32)


def describe_source(source: AudioSource) -> str:
    """The path of ``source``, or ``<N bytes>`` for in-memory audio (for error messages)."""
    if isinstance(source, bytes | bytearray):
        return f"<{len(source)} bytes>"
    return os.fspath(source)


def _read_soundfile(source: AudioSource) -> tuple[np.ndarray, int]:
    """[channels, n] float32 and the native rate via libsndfile."""
    handle = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    data, sr_native = soundfile.read(handle, dtype="float32", always_2d=True)
    return data.T, int(sr_native)


def _read_pyav(source: AudioSource, name: str) -> tuple[np.ndarray, int]:
    """[channels, n] float32 and the native rate of the first audio stream, decoded with PyAV."""
    if not isinstance(source, bytes | bytearray) and not Path(source).is_file():
        raise FileNotFoundError(f"audio file not found: {name}")
    handle = io.BytesIO(source) if isinstance(source, bytes | bytearray) else os.fspath(source)
    try:
        with av.open(handle) as container:
            if not container.streams.audio:
                raise ValueError(f"no audio track in {name}")
            stream = container.streams.audio[0]
            blocks = [_frame_to_array(frame) for frame in container.decode(stream)]
            sr_native = stream.codec_context.sample_rate or stream.rate
    except av.error.FFmpegError as err:
        raise ValueError(f"cannot decode audio from {name}: {err}") from err
    if not blocks:
        raise ValueError(f"audio track of {name} decodes to no samples")
    return np.concatenate(blocks, axis=1), int(sr_native)


def _frame_to_array(frame: av.AudioFrame) -> np.ndarray:
    """[channels, n] float32 of one decoded frame, integer formats scaled like libsndfile."""
    data = frame.to_ndarray()
    if not frame.format.is_planar:  # packed: [1, n * channels] interleaved
        data = data.reshape(-1, len(frame.layout.channels)).T
    if data.dtype.kind == "i":
        data = data.astype(np.float32) / np.float32(2 ** (8 * data.dtype.itemsize - 1))
    elif data.dtype.kind == "u":  # u8 is offset binary
        data = (data.astype(np.float32) - 128) / np.float32(128)
    return data.astype(np.float32, copy=False)
