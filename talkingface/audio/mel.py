"""Wav2Lip/SadTalker log-mel spectrogram in NumPy (float64, no librosa at run time).

Pre-emphasis 0.97, |STFT| (800-sample periodic Hann window, hop 200, centred with zero padding),
an 80-band Slaney mel filterbank (55-7600 Hz, stored in float32 like librosa's), amplitude to dB
minus 20 dB, then a symmetric [-4, 4] normalisation with clipping.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MelConfig:
    """Spectrogram hyperparameters (SadTalker's ``hparams.py``)."""

    sample_rate: int = 16000
    n_fft: int = 800
    hop_size: int = 200
    win_size: int = 800
    num_mels: int = 80
    fmin: float = 55.0
    fmax: float = 7600.0
    preemphasis: float = 0.97
    ref_level_db: float = 20.0
    min_level_db: float = -100.0
    max_abs_value: float = 4.0


def preemphasis(wav: np.ndarray, k: float) -> np.ndarray:
    """y[n] = x[n] - k x[n-1] (y[0] = x[0]) in float64, as ``lfilter([1, -k], [1], x)``."""
    x = np.asarray(wav, dtype=np.float64)
    out = x.copy()
    out[1:] -= k * x[:-1]
    return out


def _frame_magnitudes(padded: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|rfft| [1 + n_fft//2, M] of the Hann-windowed frames starting every ``hop`` samples."""
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]  # [M, n_fft]
    return np.abs(np.fft.rfft(frames * _hann(n_fft), axis=-1)).T


@functools.cache
def _hann(n: int) -> np.ndarray:
    """Periodic Hann window (``scipy.signal.get_window("hann", n)``)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    step, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / step, np.log(6.4) / 27.0
    log_part = min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep
    return np.where(hz >= min_log_hz, log_part, hz / step)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_hz_to_mel`."""
    step, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / step, np.log(6.4) / 27.0
    log_part = min_log_hz * np.exp(logstep * (mel - min_log_mel))
    return np.where(mel >= min_log_mel, log_part, step * mel)


@functools.cache
def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Slaney-normalised triangular filters [n_mels, 1 + n_fft//2] float32, as ``librosa.filters.mel``.

    The triangles are rounded to float32 before the area normalisation, which is applied in float64
    and rounded again: the same two roundings librosa does, so the result matches it bit for bit.
    """
    fft_hz = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))  # [n_mels + 2]
    widths = np.diff(edges)
    offsets = edges[:, None] - fft_hz[None, :]  # [n_mels + 2, n_freq]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    triangles = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    area = 2.0 / (edges[2:] - edges[:-2])  # equal area per band
    weights = (triangles * area[:, None]).astype(np.float32)
    weights.flags.writeable = False
    return weights


MEL_BLOCK = 4096  # spectrogram frames computed at once: ~70 MB of float64 work arrays, any clip length

SampleReader = Callable[[int, int], np.ndarray]  # read(a, b): samples a..b-1, 0 <= a <= b <= length


def melspectrogram(wav: np.ndarray, cfg: MelConfig = MelConfig(), block: int = MEL_BLOCK) -> np.ndarray:
    """Normalised log-mel spectrogram [M, num_mels] float64, M = 1 + len(wav) // hop_size.

    Computed ``block`` frames at a time (every frame depends only on its own samples, so the blocks give
    the whole clip's values): memory is the output plus one block, not an hour's STFT.
    """
    wav = np.asarray(wav)
    if wav.ndim != 1 or wav.size == 0:
        raise ValueError(f"wav must be a non-empty 1-D array, got shape {wav.shape}")
    count = num_mel_rows(len(wav), cfg)
    out = np.empty((count, cfg.num_mels))
    for first in range(0, count, block):
        last = min(first + block, count)
        out[first:last] = mel_rows(lambda a, b: wav[a:b], len(wav), first, last, cfg)
    return out


def num_mel_rows(num_samples: int, cfg: MelConfig = MelConfig()) -> int:
    """M = 1 + num_samples // hop_size spectrogram frames (centred STFT)."""
    return 1 + num_samples // cfg.hop_size


def mel_rows(
    read: SampleReader, num_samples: int, first: int, last: int, cfg: MelConfig = MelConfig()
) -> np.ndarray:
    """Rows ``first..last-1`` of the spectrogram of a ``num_samples`` signal whose samples ``read`` returns:
    the same values as :func:`melspectrogram` of the whole signal, reading only the samples they need."""
    if cfg.win_size != cfg.n_fft:
        raise ValueError(f"win_size ({cfg.win_size}) must equal n_fft ({cfg.n_fft})")
    half = cfg.n_fft // 2
    # these frames read samples [lo, hi) of the signal (negative or past the end: zero padding)
    lo, hi = first * cfg.hop_size - half, (last - 1) * cfg.hop_size + cfg.n_fft - half
    a, b = max(lo, 0), min(hi, num_samples)
    piece = np.zeros(hi - lo)
    if a < b:  # pre-emphasis of samples a..b-1 needs sample a-1
        emphasised = preemphasis(read(max(a - 1, 0), b), cfg.preemphasis)
        piece[a - lo : b - lo] = emphasised[1:] if a > 0 else emphasised
    return _log_mel(_frame_magnitudes(piece, cfg.n_fft, cfg.hop_size), cfg)


def _log_mel(mag: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """|STFT| [n_freq, M] -> normalised log-mel [M, num_mels]."""
    mel = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.num_mels, cfg.fmin, cfg.fmax) @ mag  # [80, M]
    min_level = np.exp(cfg.min_level_db / 20 * np.log(10))
    db = 20 * np.log10(np.maximum(min_level, mel)) - cfg.ref_level_db
    top = cfg.max_abs_value
    norm = (2 * top) * ((db - cfg.min_level_db) / (-cfg.min_level_db)) - top
    return np.clip(norm, -top, top).T
