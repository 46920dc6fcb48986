"""Emotional-sounding test speech from espeak-ng, resampled to 16 kHz mono float by sox.

The "emotions" are only pitch / speed / loudness settings (environment.md 5); they give the emotion
heads different prosody to look at, not real acted emotion.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Voice:
    """espeak-ng prosody: pitch 0-99 (``-p``), speed in words per minute (``-s``), amplitude (``-a``)."""

    pitch: int
    speed: int
    amplitude: int


VOICES: dict[str, Voice] = {
    "neutral": Voice(50, 160, 100),
    "calm": Voice(45, 140, 80),
    "happy": Voice(75, 185, 130),
    "sad": Voice(30, 120, 70),
    "angry": Voice(60, 200, 150),
    "fear": Voice(85, 190, 110),
    "disgust": Voice(40, 150, 110),
    "surprised": Voice(90, 170, 140),
}


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise RuntimeError(f"{tool} is not installed (apt-get install -y espeak-ng sox)")
    return found


def speak(
    text: str, emotion: str = "neutral", variant: str = "m3", sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Speech for ``text`` as mono float32 at ``sample_rate`` Hz; ``variant`` is an espeak voice variant."""
    if emotion not in VOICES:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {sorted(VOICES)}")
    if not text.strip():
        raise ValueError("text to speak is empty")
    voice = VOICES[emotion]
    espeak = [_require("espeak-ng"), "-v", f"en-us+{variant}", "-p", str(voice.pitch), "-s", str(voice.speed)]
    espeak += ["-a", str(voice.amplitude), "--stdout", text]
    wav = subprocess.run(espeak, check=True, capture_output=True).stdout
    sox = [_require("sox"), "-t", "wav", "-", "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1"]
    sox += ["-r", str(sample_rate), "-"]
    raw = subprocess.run(sox, input=wav, check=True, capture_output=True).stdout
    samples = np.frombuffer(raw, dtype=np.float32).copy()
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    return samples * (0.95 / peak) if peak > 0.95 else samples


def fit_length(samples: np.ndarray, n_samples: int) -> np.ndarray:
    """Trim or zero-pad ``samples`` to exactly ``n_samples``."""
    return np.pad(samples[:n_samples], (0, max(0, n_samples - len(samples))))
