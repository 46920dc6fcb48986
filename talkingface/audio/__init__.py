"""Audio loading and SadTalker's per-frame mel features."""

from talkingface.audio.features import (
    FPS,
    AudioFeatures,
    audio_features,
    features_from_wav,
    mel_windows,
    num_video_frames,
)
from talkingface.audio.io import load_audio, resample
from talkingface.audio.mel import MelConfig, mel_filterbank, melspectrogram

__all__ = [
    "FPS",
    "AudioFeatures",
    "MelConfig",
    "audio_features",
    "features_from_wav",
    "load_audio",
    "mel_filterbank",
    "mel_windows",
    "melspectrogram",
    "num_video_frames",
    "resample",
]
