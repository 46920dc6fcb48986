"""Synthetic talking-face test corpus: espeak-ng speech driving an animated astronaut face."""

from talkingface.synth.corpus import CREMAD_DIR, RAVDESS_DIR, SOURCE_FPS, make_corpus
from talkingface.synth.face import FaceMotion, TalkingFace
from talkingface.synth.speech import VOICES, speak

__all__ = [
    "CREMAD_DIR",
    "RAVDESS_DIR",
    "SOURCE_FPS",
    "VOICES",
    "FaceMotion",
    "TalkingFace",
    "make_corpus",
    "speak",
]
