"""Join separately encoded video segments and a driving audio track into one file, without re-encoding video.

Every segment is a video-only file written by :func:`talkingface.video.write_video` with the same
:class:`WriterConfig` and frame size. An encoder starts each file with a key frame and (libx264 default,
no open GOP) no frame refers across a file's end, so each segment is a closed GOP run and the packets
can be copied one after another, their timestamps shifted by the frames before them. The audio is
encoded once, interleaved segment by segment (trimmed or zero-padded to exactly frames / fps seconds),
so memory stays bounded by one segment's packets whatever the length.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from talkingface.audio.pcm import PcmFile
from talkingface.video.container import VideoError, open_input, video_stream
from talkingface.video.writer import WriterConfig, _add_audio, _mux_audio, _slice_padded


def join_segments(
    segments: Sequence[str | Path],
    path: str | Path,
    audio: np.ndarray | PcmFile | None,
    sample_rate: int,
    config: WriterConfig | None = None,
) -> int:
    """Copy the video packets of ``segments`` (in order) into ``path`` with ``audio``; returns frames.

    ``audio`` is an array or, for long clips, a :class:`PcmFile` read one segment's samples at a time.
    """
    config = config or WriterConfig()
    if not segments:
        raise ValueError(f"no segments to join into {path}")
    options = {"movflags": "+faststart"} if config.container == "mp4" else {}
    frame_tb = Fraction(1, config.fps)
    try:
        with av.open(str(path), mode="w", format=config.container, options=options) as out:
            video = sound = None
            frames = written = 0
            for segment in segments:
                with open_input(segment) as src:
                    stream = video_stream(src, segment)
                    if video is None:
                        video = out.add_stream_from_template(stream)
                        sound = None if audio is None else _add_audio(out, config, sample_rate)
                    frames += _copy_packets(out, video, src, stream, frames * frame_tb, segment)
                if sound is not None:
                    target = frames * sample_rate // config.fps
                    samples = np.clip(_slice_padded(audio, written, target), -1.0, 1.0).astype(np.float32)
                    _mux_audio(out, sound, samples, written, sample_rate)
                    written = target
            if sound is not None:
                out.mux(sound.encode(None))
    except av.FFmpegError as exc:
        raise VideoError(f"cannot join segments into {path}: {exc}") from exc
    return frames


def _copy_packets(
    out: av.container.OutputContainer,
    video: av.VideoStream,
    src: av.container.InputContainer,
    stream: av.VideoStream,
    start: Fraction,
    name: str | Path,
) -> int:
    """Mux every packet of ``stream`` shifted by ``start`` seconds; returns the segment's frame count."""
    tb = stream.time_base
    shift = round(start / tb)
    count = 0
    for packet in src.demux(stream):
        if packet.size == 0:
            continue  # the demuxer's flush packet
        if packet.pts is None or packet.dts is None:
            raise VideoError(f"segment {name}: packet without timestamps")
        packet.pts += shift
        packet.dts += shift
        packet.time_base = tb
        packet.stream = video
        out.mux(packet)
        count += 1
    return count
