"""Container, codec, rate, frame count and durations of a media file (PyAV, demuxing only, no decoding)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from talkingface.video.container import frame_period, open_input, video_stream


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` reports. Codec names are FFmpeg's canonical ones (``h264``, ``aac``, ``mp3``)."""

    path: str
    container: str
    video_codec: str
    width: int
    height: int
    fps: float
    n_frames: int
    video_duration: float
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    audio_duration: float | None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


@dataclass
class _Span:
    """Packet statistics of one stream: count and first/last presentation times."""

    count: int = 0
    first: Fraction | None = None
    end: Fraction | None = None

    def add(self, packet: av.Packet) -> None:
        if packet.size == 0 or packet.pts is None:
            return
        self.count += 1
        start = packet.pts * packet.time_base
        stop = (packet.pts + (packet.duration or 0)) * packet.time_base
        self.first = start if self.first is None else min(self.first, start)
        self.end = stop if self.end is None else max(self.end, stop)


def _stream_seconds(stream: av.stream.Stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None


def probe(path: str | Path) -> MediaInfo:
    """Describe a video file; VideoError naming it when it is unreadable or has no video stream."""
    with open_input(path) as container:
        video = video_stream(container, path)
        audio = container.streams.audio[0] if container.streams.audio else None
        spans = {video.index: _Span(), **({audio.index: _Span()} if audio is not None else {})}
        for packet in container.demux(*[s for s in (video, audio) if s is not None]):
            if packet.stream.index in spans:
                spans[packet.stream.index].add(packet)
        period = frame_period(video)
        vspan = spans[video.index]
        n_frames = video.frames or vspan.count
        video_seconds = _stream_seconds(video)
        if video_seconds is None and vspan.first is not None and vspan.end is not None:
            # Packets may carry no duration (flv1): then each frame lasts one nominal period.
            video_seconds = float(max(vspan.end - vspan.first, vspan.count * (period or 0)))
        audio_seconds = None
        if audio is not None:
            aspan = spans[audio.index]
            audio_seconds = _stream_seconds(audio)
            if audio_seconds is None and aspan.first is not None and aspan.end is not None:
                audio_seconds = float(aspan.end - aspan.first)
        ctx = video.codec_context
        return MediaInfo(
            path=str(path),
            container=container.format.name,
            video_codec=ctx.codec.canonical_name,
            width=ctx.width,
            height=ctx.height,
            fps=float(1 / period) if period else 0.0,
            n_frames=n_frames,
            video_duration=video_seconds or 0.0,
            audio_codec=audio.codec_context.codec.canonical_name if audio is not None else None,
            audio_sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            audio_channels=audio.codec_context.layout.nb_channels if audio is not None else None,
            audio_duration=audio_seconds,
        )
