"""Per-video-frame audio features: frame count at 25 fps, the clip mel, and 16x80 mel windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from talkingface.audio.io import AudioSource, describe_source, load_audio
from talkingface.audio.mel import MelConfig, melspectrogram

FPS = 25
DEFAULT_MEL = MelConfig()
WINDOW_MEL_FRAMES = 16  # 200 ms of mel per video frame
WINDOW_LEAD_FRAMES = 2  # a window starts 2 video frames (80 ms) before its frame


@runtime_checkable
class WindowSource(Protocol):
    """A clip's per-frame [80, 16] mel windows, handed out batch by batch (:class:`MelWindows`,
    :class:`talkingface.audio.pcm.PcmFeatures`)."""

    def __len__(self) -> int: ...

    def batch(self, start: int, stop: int) -> np.ndarray: ...


@dataclass(frozen=True)
class MelWindows:
    """The per-frame [80, 16] mel windows of a clip, cut out batch by batch on demand.

    Holds only the mel [M, 80]: a long clip's windows (5 KB per frame) never sit in memory at once.
    """

    mel: np.ndarray
    num_frames: int
    fps: int = FPS

    def __len__(self) -> int:
        return self.num_frames

    def batch(self, start: int, stop: int) -> np.ndarray:
        """Windows of frames ``start..stop-1`` (clipped to the clip): [n, 80, 16] float32."""
        frames = np.arange(max(start, 0), min(stop, self.num_frames))
        return cut_windows(self.mel, window_starts(frames, self.fps))


@dataclass(frozen=True)
class AudioFeatures:
    """A clip's audio prepared for Audio2Coeff.

    ``wav`` [T*640] float32 (cropped/zero-padded), ``mel`` [M, 80] float64 with M = 1 + T*640//200;
    ``mel_windows`` gives the [80, 16] mel window of each video frame batch by batch, ``windows`` all
    T of them at once ([T, 80, 16] float32, 5 KB per frame: short clips and checks).
    """

    wav: np.ndarray
    num_frames: int
    mel: np.ndarray
    fps: int = FPS

    @property
    def mel_windows(self) -> MelWindows:
        return MelWindows(self.mel, self.num_frames, self.fps)

    @property
    def windows(self) -> np.ndarray:
        return self.mel_windows.batch(0, self.num_frames)


def samples_per_frame(sr: int = 16000, fps: int = FPS) -> int:
    """Audio samples per video frame (640 at 16 kHz and 25 fps)."""
    return sr // fps


def num_video_frames(num_samples: int, sr: int = 16000, fps: int = FPS) -> int:
    """T = floor(samples / samples_per_frame): the number of video frames the audio drives."""
    return int(num_samples / (sr / fps))


def frame_count(num_samples: int, sr: int = 16000, fps: int = FPS) -> int:
    """:func:`num_video_frames`, or ValueError when the audio is too short for one frame."""
    num_frames = num_video_frames(num_samples, sr, fps)
    if num_frames < 1:
        raise ValueError(f"audio too short: {num_samples / sr:.3f} s gives no video frame at {fps} fps")
    return num_frames


def crop_or_pad(wav: np.ndarray, length: int) -> np.ndarray:
    """``wav`` cut to ``length`` samples or zero-padded at the end."""
    if wav.shape[0] >= length:
        return wav[:length]
    return np.pad(wav, (0, length - wav.shape[0]))


def window_starts(frames: np.ndarray, fps: int, mel_fps: float = 80.0) -> np.ndarray:
    shifted = frames.astype(np.float64) - WINDOW_LEAD_FRAMES
    return np.trunc(mel_fps * (shifted / float(fps))).astype(np.int64)


def cut_windows(
    mel: np.ndarray, starts: np.ndarray, first_row: int = 0, num_rows: int | None = None
) -> np.ndarray:
    """[n, 80, 16] windows at ``starts``; ``mel`` holds rows ``first_row..`` of a ``num_rows``-row mel
    (default: all of it), and row indices are clamped to the whole mel's [0, num_rows - 1]."""
    num_rows = mel.shape[0] if num_rows is None else num_rows
    rows = np.clip(starts[:, None] + np.arange(WINDOW_MEL_FRAMES), 0, num_rows - 1) - first_row  # [n, 16]
    return np.ascontiguousarray(mel[rows].transpose(0, 2, 1), dtype=np.float32)


def window_rows(starts: np.ndarray, num_rows: int) -> tuple[int, int]:
    """The mel rows [lo, hi) that the windows starting at ``starts`` read (indices clamped)."""
    lo = int(np.clip(starts.min(), 0, num_rows - 1))
    return lo, int(np.clip(starts.max() + WINDOW_MEL_FRAMES - 1, 0, num_rows - 1)) + 1


def mel_window_starts(num_frames: int, mel_fps: float = 80.0, fps: int = FPS) -> np.ndarray:
    """First mel row of each frame's window: int(80 * (i - 2) / 25), truncated towards zero."""
    return window_starts(np.arange(num_frames), fps, mel_fps)


def mel_windows(mel: np.ndarray, num_frames: int, fps: int = FPS) -> np.ndarray:
    """[T, 80, 16] float32 windows of ``mel`` [M, 80]; row indices clamped to [0, M-1]."""
    return cut_windows(mel, mel_window_starts(num_frames, fps=fps))


def features_from_wav(wav: np.ndarray, cfg: MelConfig = DEFAULT_MEL, fps: int = FPS) -> AudioFeatures:
    """Frame count, crop/pad, mel and per-frame windows of a mono waveform at ``cfg.sample_rate``."""
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1:
        raise ValueError(f"wav must be mono 1-D, got shape {wav.shape}")
    num_frames = frame_count(wav.shape[0], cfg.sample_rate, fps)
    wav = crop_or_pad(wav, num_frames * samples_per_frame(cfg.sample_rate, fps))
    mel = melspectrogram(wav, cfg)
    return AudioFeatures(wav=wav, num_frames=num_frames, mel=mel, fps=fps)


def audio_features(source: AudioSource, cfg: MelConfig = DEFAULT_MEL, fps: int = FPS) -> AudioFeatures:
    """Load ``source`` (path or bytes) at ``cfg.sample_rate`` and build its :class:`AudioFeatures`."""
    wav = load_audio(source, cfg.sample_rate)
    try:
        return features_from_wav(wav, cfg, fps)
    except ValueError as err:
        raise ValueError(f"{describe_source(source)}: {err}") from err
