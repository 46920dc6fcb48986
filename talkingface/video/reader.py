"""Decode a video's frames resampled to a fixed frame rate, and its audio track as 16 kHz mono float.

Frame resampling is by timestamp: output frame k shows the source frame whose start time is nearest to
k / fps (ties go to the earlier frame). A source of duration D gives floor(D * fps) output frames, i.e.
every output frame lies entirely inside the source. Times are measured from the first decoded frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from talkingface.video.container import frame_period, open_input, video_stream

FPS = 25
SAMPLE_RATE = 16000


def iter_frames(path: str | Path, fps: int = FPS) -> Iterator[np.ndarray]:
    """Stream RGB uint8 (H, W, 3) frames of ``path`` resampled to ``fps``."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    step = Fraction(1, fps)
    with open_input(path) as container:
        stream = video_stream(container, path)
        stream.thread_type = "AUTO"
        period = frame_period(stream)
        slack = (
            stream.time_base / 2 if stream.time_base else Fraction(0)
        )  # timestamps are rounded to time_base
        origin: Fraction | None = None
        previous: tuple[Fraction, np.ndarray] | None = None
        pending: deque[tuple[int, np.ndarray]] = deque()
        tick = 0
        for index, frame in enumerate(container.decode(stream)):
            if frame.pts is None or frame.time_base is None:
                stamp = index * (period or step)
            else:
                stamp = frame.pts * frame.time_base
            if origin is None:
                origin = stamp
            start = stamp - origin
            image = frame.to_ndarray(format="rgb24")
            # Ticks up to this frame's start: nearest is this frame or the previous one.
            while tick * step <= start + slack:
                nearer_previous = previous is not None and tick * step - previous[0] <= start - tick * step
                pending.append((tick, previous[1] if nearer_previous else image))
                tick += 1
            duration = period or (start - previous[0] if previous else step)
            yield from _release(pending, start + duration + slack, step)
            previous = (start, image)
        if previous is None:
            return
        end = previous[0] + (period or step) + slack
        while (tick + 1) * step <= end:
            pending.append((tick, previous[1]))
            tick += 1
        yield from _release(pending, end, step)


def _release(
    pending: deque[tuple[int, np.ndarray]], known_end: Fraction, step: Fraction
) -> Iterator[np.ndarray]:
    """Yield pending ticks whose whole output frame is known to lie inside the source."""
    while pending and (pending[0][0] + 1) * step <= known_end:
        yield pending.popleft()[1]


def read_frames(path: str | Path, fps: int = FPS) -> np.ndarray:
    """All frames of a short clip as one (T, H, W, 3) uint8 array; ValueError when it has none."""
    frames = list(iter_frames(path, fps))
    if not frames:
        raise ValueError(f"video {path} has no frames")
    return np.stack(frames)


def read_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray | None:
    """The first audio track as mono float32 at ``sample_rate`` Hz, or None when the file has none.

    Multi-channel audio is downmixed by FFmpeg's resampler.
    """
    with open_input(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
        samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        if stream.duration and stream.time_base:
            # Decoders keep the encoder's end padding; the container's declared duration excludes it.
            samples = samples[: round(stream.duration * stream.time_base * sample_rate)]
    return samples
