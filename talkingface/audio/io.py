"""Decode any audio file (or bytes) to a mono float32 waveform, as ``librosa.load(path, sr=sr)`` does.

:func:`stream_audio` yields it block by block (decoded, channels averaged and resampled as it goes), so an
hour of 48 kHz stereo never sits in memory; :func:`load_audio` joins the blocks. Both give the same samples:
soxr's streaming resampler matches its one-shot call bit for bit.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import soundfile
import soxr

AudioSource = str | os.PathLike | bytes

BLOCK_SAMPLES = 1 << 16  # native-rate samples read per block


def load_audio(source: AudioSource, sr: int = 16000) -> np.ndarray:
    """Mono float32 samples of ``source`` (path or encoded bytes) resampled to ``sr`` Hz.

    wav/flac/mp3/ogg go through libsndfile; anything else with an audio track (m4a, mp4, flv, webm...)
    is decoded with PyAV. Channels are averaged and the signal is resampled with soxr ``HQ`` and then
    trimmed/zero-padded to ``ceil(n * sr / sr_native)`` samples, which is what ``librosa.load`` does.
    """
    blocks = list(stream_audio(source, sr))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def stream_audio(source: AudioSource, sr: int = 16000) -> Iterator[np.ndarray]:
    """:func:`load_audio`'s samples as consecutive float32 blocks (memory: one block, whatever the length)."""
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got sr={sr}")
    name = describe_source(source)
    try:
        blocks, sr_native = _soundfile_blocks(source)
    except soundfile.LibsndfileError:
        blocks, sr_native = _pyav_blocks(source, name)
    mono = (np.mean(block, axis=0) if block.shape[0] > 1 else block[0] for block in blocks)
    if sr_native == sr:
        yield from (np.ascontiguousarray(block, dtype=np.float32) for block in mono)
        return
    resampler = soxr.ResampleStream(sr_native, sr, 1, dtype="float32", quality="soxr_hq")
    n_in = n_out = 0
    for block in mono:
        n_in += len(block)
        out = resampler.resample_chunk(np.ascontiguousarray(block, dtype=np.float32))
        n_out += len(out)
        yield out
    target = int(np.ceil(n_in * (float(sr) / sr_native)))
    tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
    tail = np.pad(tail, (0, max(target - n_out - len(tail), 0)))[: max(target - n_out, 0)]
    yield tail.astype(np.float32, copy=False)


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


def _soundfile_blocks(source: AudioSource) -> tuple[Iterator[np.ndarray], int]:
    """[channels, n] float32 blocks and the native rate via libsndfile (opening fails early)."""
    handle = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    sound = soundfile.SoundFile(handle)

    def blocks() -> Iterator[np.ndarray]:
        with sound:
            for block in sound.blocks(BLOCK_SAMPLES, dtype="float32", always_2d=True):
                yield block.T

    return blocks(), int(sound.samplerate)


def _pyav_blocks(source: AudioSource, name: str) -> tuple[Iterator[np.ndarray], int]:
    """[channels, n] float32 blocks and the native rate of the first audio stream, decoded with PyAV."""
    if not isinstance(source, bytes | bytearray) and not Path(source).is_file():
        raise FileNotFoundError(f"audio file not found: {name}")
    handle = io.BytesIO(source) if isinstance(source, bytes | bytearray) else os.fspath(source)
    try:
        container = av.open(handle)
    except av.error.FFmpegError as err:
        raise ValueError(f"cannot decode audio from {name}: {err}") from err
    if not container.streams.audio:
        container.close()
        raise ValueError(f"no audio track in {name}")
    stream = container.streams.audio[0]
    sr_native = stream.codec_context.sample_rate or stream.rate

    def blocks() -> Iterator[np.ndarray]:
        empty = True
        with container:
            try:
                for frame in container.decode(stream):
                    empty = False
                    yield _frame_to_array(frame)
            except av.error.FFmpegError as err:
                raise ValueError(f"cannot decode audio from {name}: {err}") from err
        if empty:
            raise ValueError(f"audio track of {name} decodes to no samples")

    return blocks(), int(sr_native)


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
