"""Decoding a corpus clip: video frames at 25 fps and audio at 16 kHz, aligned to T = floor(samples/640)."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkingface.audio import features_from_wav, load_audio, num_video_frames
from talkingface.betas.crops import ClipCrops, crop_clip
from talkingface.face.detect import LandmarkDetector
from talkingface.video import iter_frames, probe, read_frames

SAMPLES_PER_FRAME = 640
# A video may end slightly before its audio (muxers pad audio): up to this many missing frames
# are filled by repeating the last frame, more means the streams do not belong together.
MAX_MISSING_FRAMES = 3


class ClipTooShort(ValueError):
    """A clip has too few usable frames (audio or video)."""


@dataclass(frozen=True)
class ClipMedia:
    """``frames`` [T, H, W, 3] uint8 at 25 fps (or the clip's 256 px crops, ``crop`` then says how they
    were cut); ``audio`` [T*640] float32 at 16 kHz; the source frame rate."""

    frames: np.ndarray
    audio: np.ndarray
    source_fps: float
    crop: ClipCrops | None = None

    @property
    def num_frames(self) -> int:
        return len(self.frames)


def decode_clip(
    video: str | Path,
    audio: str | Path | None = None,
    min_frames: int = 5,
    detector: LandmarkDetector | None = None,
    name: str | None = None,
) -> ClipMedia:
    """Decode ``video`` (and its audio track, or the separate ``audio`` file) into aligned media.

    T comes from the audio (SadTalker's rule); the video is resampled to 25 fps by timestamp and
    cut to T frames. With a ``detector`` the frames are cut to SadTalker's 256 px clip crop as they
    decode (:func:`talkingface.betas.crops.crop_clip`): the source frames are never all in memory.
    ``name`` (default: the video path) names the clip in face errors.
    """
    wav = load_audio(audio if audio is not None else video)
    n = num_video_frames(len(wav))
    if n < min_frames:
        raise ClipTooShort(f"{audio or video}: audio gives {n} frames at 25 fps, need at least {min_frames}")
    clip = None
    if detector is None:
        frames = read_frames(video)
    else:
        clip = crop_clip(itertools.islice(iter_frames(video), n), detector, name or str(video))
        frames = clip.crops
    if len(frames) + MAX_MISSING_FRAMES < n:
        raise ClipTooShort(f"{video}: video has {len(frames)} frames at 25 fps but its audio needs {n}")
    if len(frames) < n:
        frames = np.concatenate([frames, np.repeat(frames[-1:], n - len(frames), axis=0)])
    wav = np.asarray(wav[: n * SAMPLES_PER_FRAME], dtype=np.float32)
    fps = float(probe(video).fps or 0)
    frames = np.ascontiguousarray(frames[:n])
    if clip is not None:
        clip = dataclasses.replace(clip, crops=frames)
    return ClipMedia(frames=frames, audio=wav, source_fps=fps, crop=clip)


def frame_windows(audio: np.ndarray) -> np.ndarray:
    """SadTalker's per-frame mel windows [T, 80, 16] of 16 kHz audio."""
    return features_from_wav(audio).windows
