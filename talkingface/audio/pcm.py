"""Long audio on disk: decoded once to raw 16 kHz float32 samples, then read by range.

An hour of speech is 230 MB of float32 samples (1.3 GB for 48 kHz stereo before resampling); with
:class:`PcmFile` and :class:`PcmFeatures` no stage holds more than the samples of the frames it works on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkingface.audio.features import (
    DEFAULT_MEL,
    FPS,
    cut_windows,
    frame_count,
    samples_per_frame,
    window_rows,
    window_starts,
)
from talkingface.audio.io import AudioSource, describe_source, stream_audio
from talkingface.audio.mel import MelConfig, mel_rows, num_mel_rows

SAMPLE_BYTES = 4  # float32


@dataclass(frozen=True)
class PcmFile:
    """Mono float32 samples at ``sample_rate`` in a headerless file (``path``), read by range."""

    path: Path
    num_samples: int
    sample_rate: int = 16000

    @classmethod
    def decode(cls, source: AudioSource, path: str | os.PathLike, sample_rate: int = 16000) -> PcmFile:
        """Decode ``source`` (any format :func:`load_audio` reads) into ``path``, block by block."""
        path, count = Path(path), 0
        with open(path, "wb") as out:
            for block in stream_audio(source, sample_rate):
                out.write(block.tobytes())
                count += len(block)
        return cls(path, count, sample_rate)

    def __len__(self) -> int:
        return self.num_samples

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start..stop-1`` as float32; positions outside ``[0, num_samples)`` read as zeros."""
        out = np.zeros(max(stop - start, 0), np.float32)
        a, b = max(start, 0), min(stop, self.num_samples)
        if a < b:
            with open(self.path, "rb") as f:
                f.seek(a * SAMPLE_BYTES)
                out[a - start : b - start] = np.frombuffer(f.read((b - a) * SAMPLE_BYTES), np.float32)
        return out

    def __getitem__(self, frames: slice) -> np.ndarray:
        """``pcm[a:b]``: samples a..b-1 clipped to the file, like a NumPy array's slice."""
        start, stop, step = frames.indices(self.num_samples)
        if step != 1:
            raise ValueError("PcmFile slices take step 1")
        return self.read(start, max(start, stop))


@dataclass(frozen=True)
class PcmFeatures:
    """A clip's :class:`~talkingface.audio.features.AudioFeatures` computed on demand from a PcmFile.

    The signal is the file cut or zero-padded to ``num_frames * 640`` samples; ``batch(a, b)`` gives the
    mel windows of frames a..b-1 (the same values as ``AudioFeatures.windows[a:b]``) from the mel rows
    and samples those frames need.
    """

    pcm: PcmFile
    num_frames: int
    cfg: MelConfig = DEFAULT_MEL
    fps: int = FPS

    @classmethod
    def of(cls, pcm: PcmFile, cfg: MelConfig = DEFAULT_MEL, fps: int = FPS) -> PcmFeatures:
        if pcm.sample_rate != cfg.sample_rate:
            raise ValueError(
                f"{pcm.path} holds {pcm.sample_rate} Hz samples, the mel needs {cfg.sample_rate}"
            )
        return cls(pcm, frame_count(pcm.num_samples, pcm.sample_rate, fps), cfg, fps)

    def __len__(self) -> int:
        return self.num_frames

    @property
    def num_samples(self) -> int:
        return self.num_frames * samples_per_frame(self.cfg.sample_rate, self.fps)

    def samples(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start..stop-1`` of the cut/padded signal."""
        return self.pcm.read(start, min(stop, self.num_samples))

    def batch(self, start: int, stop: int) -> np.ndarray:
        """Mel windows of frames ``start..stop-1`` (clipped to the clip): [n, 80, 16] float32."""
        frames = np.arange(max(start, 0), min(stop, self.num_frames))
        if frames.size == 0:
            return np.zeros((0, self.cfg.num_mels, 16), np.float32)
        starts = window_starts(frames, self.fps)
        num_rows = num_mel_rows(self.num_samples, self.cfg)
        lo, hi = window_rows(starts, num_rows)
        mel = mel_rows(self.samples, self.num_samples, lo, hi, self.cfg)
        return cut_windows(mel, starts, lo, num_rows)


def decode_pcm(source: AudioSource, path: str | os.PathLike, cfg: MelConfig = DEFAULT_MEL) -> PcmFeatures:
    """Decode ``source`` into ``path`` and return its features; errors name the source."""
    try:
        return PcmFeatures.of(PcmFile.decode(source, path, cfg.sample_rate), cfg)
    except ValueError as err:
        raise ValueError(f"{describe_source(source)}: {err}") from err
