"""Opening media files with PyAV, with errors that name the file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av


class VideoError(RuntimeError):
    """A media file cannot be opened, decoded or written."""


@contextmanager
def open_input(path: str | Path) -> Iterator[av.container.InputContainer]:
    """Open a media file for reading; FileNotFoundError or VideoError (naming the file) on failure.

    Decoding errors raised while the container is open are re-raised as VideoError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such media file: {path}")
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoError(f"cannot open media file {path}: {exc}") from exc
    try:
        yield container
    except av.FFmpegError as exc:
        raise VideoError(f"cannot decode media file {path}: {exc}") from exc
    finally:
        container.close()


def video_stream(container: av.container.InputContainer, path: str | Path) -> av.VideoStream:
    """The first video stream; VideoError naming the file when there is none."""
    if not container.streams.video:
        raise VideoError(f"media file {path} has no video stream")
    return container.streams.video[0]


def frame_period(stream: av.VideoStream) -> Fraction | None:
    """Nominal seconds per frame from the stream's average (or guessed) rate, None if unknown."""
    rate = stream.average_rate or stream.guessed_rate
    return 1 / Fraction(rate) if rate else None
