"""Write frames plus a driving audio track to a video file with PyAV (H.264 + AAC mp4 by default).

Frames are consumed one at a time (never all held). The audio is interleaved as frames arrive and is
trimmed or zero-padded to exactly n_frames / fps seconds, so both tracks end together. The file is
written under a temporary name next to the target and renamed into place when complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from talkingface.video.container import VideoError
from talkingface.video.reader import FPS, SAMPLE_RATE


@dataclass(frozen=True)
class WriterConfig:
    """Container and codecs. ``crf``/``preset`` apply to libx264, ``video_bit_rate`` to other encoders.

    ``audio_rate`` is the encoded sample rate (None: the input's); the audio is resampled when it differs.
    """

    fps: int = FPS
    container: str = "mp4"
    video_codec: str = "libx264"
    audio_codec: str = "aac"
    audio_rate: int | None = None
    crf: int = 23
    preset: str = "veryfast"
    video_bit_rate: int = 2_000_000
    audio_bit_rate: int = 96_000


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    audio: np.ndarray | None = None,
    sample_rate: int = SAMPLE_RATE,
    config: WriterConfig | None = None,
) -> int:
    """Encode RGB uint8 (H, W, 3) ``frames`` and mono float ``audio`` to ``path``; returns the frame count.

    ``audio=None`` writes a file without an audio track. Odd frame sizes are padded by one edge pixel
    (yuv420p needs even sizes).
    """
    config = config or WriterConfig()
    path = Path(path)
    if audio is not None:
        audio = np.asarray(audio)
        if audio.ndim != 1 or not np.issubdtype(audio.dtype, np.floating):
            raise ValueError(f"audio for {path} must be a 1-D float array, got {audio.dtype} {audio.shape}")
        audio = np.clip(audio, -1.0, 1.0).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    options = {"movflags": "+faststart"} if config.container == "mp4" else {}
    try:
        with av.open(str(tmp), mode="w", format=config.container, options=options) as container:
            count = _encode(container, frames, audio, sample_rate, config, path)
        os.replace(tmp, path)
    except av.FFmpegError as exc:
        raise VideoError(f"cannot write video {path}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _encode(
    container: av.container.OutputContainer,
    frames: Iterable[np.ndarray],
    audio: np.ndarray | None,
    sample_rate: int,
    config: WriterConfig,
    path: Path,
) -> int:
    video = None
    sound = None
    size: tuple[int, int] | None = None
    written = 0  # audio samples sent so far
    count = 0
    for count, frame in enumerate(frames, start=1):
        frame = _check_frame(frame, count - 1, size, path)
        if video is None:
            size = frame.shape[:2]
            video = _add_video(
                container, config, frame.shape[1] + frame.shape[1] % 2, frame.shape[0] + frame.shape[0] % 2
            )
            if audio is not None:
                sound = _add_audio(container, config, sample_rate)
        padded = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
        container.mux(video.encode(av.VideoFrame.from_ndarray(padded, format="rgb24")))
        if sound is not None:
            target = count * sample_rate // config.fps
            _mux_audio(container, sound, _slice_padded(audio, written, target), written, sample_rate)
            written = target
    if video is None:
        raise ValueError(f"no frames to write to {path}")
    container.mux(video.encode(None))
    if sound is not None:
        container.mux(sound.encode(None))
    return count


def _check_frame(frame: np.ndarray, index: int, size: tuple[int, int] | None, path: Path) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"frame {index} for {path}: expected uint8 (H, W, 3), got {frame.dtype} {frame.shape}"
        )
    if size is not None and frame.shape[:2] != size:
        raise ValueError(
            f"frame {index} for {path}: size {frame.shape[:2]} differs from the first frame's {size}"
        )
    return np.ascontiguousarray(frame)


def _add_video(
    container: av.container.OutputContainer, config: WriterConfig, width: int, height: int
) -> av.VideoStream:
    stream = container.add_stream(config.video_codec, rate=config.fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    if config.video_codec == "libx264":
        stream.options = {"crf": str(config.crf), "preset": config.preset}
    else:
        stream.bit_rate = config.video_bit_rate
    return stream


FLV_MP3_RATES = (44100, 22050, 11025)


def _add_audio(
    container: av.container.OutputContainer, config: WriterConfig, sample_rate: int
) -> av.AudioStream:
    rate = config.audio_rate or sample_rate
    if config.container == "flv" and config.audio_codec == "libmp3lame" and rate not in FLV_MP3_RATES:
        raise ValueError(f"flv holds mp3 only at {FLV_MP3_RATES} Hz, not {rate}: set WriterConfig.audio_rate")
    stream = container.add_stream(config.audio_codec, rate=rate)
    stream.layout = "mono"
    stream.bit_rate = config.audio_bit_rate
    return stream


def _slice_padded(audio: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``audio[start:stop]`` zero-padded at the end to ``stop - start`` samples."""
    chunk = audio[start:stop]
    return np.pad(chunk, (0, stop - start - len(chunk)))


def _mux_audio(
    container: av.container.OutputContainer,
    stream: av.AudioStream,
    samples: np.ndarray,
    pts: int,
    sample_rate: int,
) -> None:
    if len(samples) == 0:
        return
    frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = pts
    frame.time_base = Fraction(1, sample_rate)
    container.mux(stream.encode(frame))
