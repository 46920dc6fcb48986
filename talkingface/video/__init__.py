"""Video I/O with PyAV: 25 fps frame reading, 16 kHz audio extraction, H.264/AAC writing, probing."""

from talkingface.video.container import VideoError
from talkingface.video.probe import MediaInfo, probe
from talkingface.video.reader import FPS, SAMPLE_RATE, iter_frames, read_audio, read_frames
from talkingface.video.writer import WriterConfig, write_video

__all__ = [
    "FPS",
    "SAMPLE_RATE",
    "MediaInfo",
    "VideoError",
    "WriterConfig",
    "iter_frames",
    "probe",
    "read_audio",
    "read_frames",
    "write_video",
]
