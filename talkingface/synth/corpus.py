"""A tiny synthetic emotional talking-face corpus with real CREMA-D and RAVDESS file names and formats.

Layout under ``out_dir`` (datasets.md 4.1 / 4.2):

- ``CREMA-D/VideoFlash/1001_DFA_ANG_XX.flv``: FLV (flv1 video + mp3 audio, 22.05 kHz), 30 fps;
- ``CREMA-D/AudioWAV/1001_DFA_ANG_XX.wav``: 16 kHz 16-bit mono wav of the same speech;
- ``RAVDESS/Actor_03/01-01-05-01-01-01-03.mp4``: H.264 + AAC (48 kHz) mp4, 30 fps.

With ``bad_files=True`` two more clips are written for error-path tests: a CREMA-D ``.flv`` holding random
bytes (its wav is valid) and a RAVDESS audio-video (modality 01) mp4 without an audio track.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkingface.corpus import cremad, ravdess
from talkingface.synth.face import TalkingFace
from talkingface.synth.speech import SAMPLE_RATE, fit_length, speak
from talkingface.video.writer import WriterConfig, write_video

CREMAD_DIR, RAVDESS_DIR = "CREMA-D", "RAVDESS"
SOURCE_FPS = 30
CREMAD_SENTENCES = {
    "DFA": "Don't forget a jacket.",
    "IEO": "It's eleven o'clock.",
    "TIE": "That is exactly what happened.",
    "IOM": "I'm on my way to the meeting.",
}
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door.", "02": "Dogs are sitting by the door."}
ACTORS_PER_DATASET = 4  # consecutive clips rotate over this many actors
CREMAD_VIDEO = WriterConfig(
    fps=SOURCE_FPS, container="flv", video_codec="flv", audio_codec="libmp3lame", audio_rate=22050
)
RAVDESS_VIDEO = WriterConfig(
    fps=SOURCE_FPS, container="mp4", video_codec="libx264", audio_codec="aac", audio_rate=48000
)


@dataclass(frozen=True)
class Clip:
    """One synthetic take: where its files go, what is said, in which emotion, by which actor."""

    video: Path
    audio_wav: Path | None
    text: str
    emotion: str
    actor: int
    size: tuple[int, int]
    config: WriterConfig


def _cremad_trials() -> list[tuple[str, str, str]]:
    """(sentence, emotion code, level) per actor, emotions varying fastest; IEO is graded LO/MD/HI."""
    trials = []
    for sentence in CREMAD_SENTENCES:
        levels = ("LO", "MD", "HI") if sentence == "IEO" else ("XX",)
        for level in levels:
            trials += [(sentence, code, level) for code in cremad.EMOTIONS if code != "NEU"]
        trials.append((sentence, "NEU", "XX"))
    return trials


def _ravdess_trials() -> list[tuple[str, str, str, str]]:
    """(emotion, intensity, statement, repetition) per actor, emotions fastest; neutral is never strong."""
    return [
        (emotion, intensity, statement, repetition)
        for repetition in ("01", "02")
        for statement in RAVDESS_STATEMENTS
        for intensity in ("01", "02")
        for emotion in ravdess.EMOTIONS
        if not (emotion == "01" and intensity == "02")
    ]


def cremad_clip(root: Path, index: int, size: tuple[int, int] = (320, 240)) -> Clip:
    """The ``index``-th CREMA-D-style clip (unique names for every index)."""
    trials = _cremad_trials()
    sentence, code, level = trials[index % len(trials)]
    actor = 1001 + index % ACTORS_PER_DATASET + ACTORS_PER_DATASET * (index // len(trials))
    name = f"{actor}_{sentence}_{code}_{level}"
    return Clip(
        video=root / CREMAD_DIR / "VideoFlash" / f"{name}.flv",
        audio_wav=root / CREMAD_DIR / "AudioWAV" / f"{name}.wav",
        text=CREMAD_SENTENCES[sentence],
        emotion=cremad.EMOTIONS[code],
        actor=actor,
        size=size,
        config=CREMAD_VIDEO,
    )


def ravdess_clip(root: Path, index: int, size: tuple[int, int] = (384, 216)) -> Clip:
    """The ``index``-th RAVDESS-style audio-video speech clip (unique names for every index)."""
    trials = _ravdess_trials()
    emotion, intensity, statement, repetition = trials[index % len(trials)]
    actor = 1 + index % ACTORS_PER_DATASET + ACTORS_PER_DATASET * (index // len(trials))
    if actor > 24:
        raise ValueError(f"RAVDESS clip index {index} needs actor {actor} > 24")
    name = f"01-01-{emotion}-{intensity}-{statement}-{repetition}-{actor:02d}"
    return Clip(
        video=root / RAVDESS_DIR / f"Actor_{actor:02d}" / f"{name}.mp4",
        audio_wav=None,
        text=RAVDESS_STATEMENTS[statement],
        emotion=ravdess.EMOTIONS[emotion],
        actor=actor,
        size=size,
        config=RAVDESS_VIDEO,
    )


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono float audio as a 16-bit PCM wav."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def render_clip(clip: Clip, seconds: float, rng: np.random.Generator, with_audio: bool = True) -> list[Path]:
    """Synthesise speech and face video for one clip; returns the files written."""
    audio = fit_length(
        speak(clip.text, clip.emotion, "m3" if clip.actor % 2 else "f3"), round(seconds * SAMPLE_RATE)
    )
    tint = tuple(1.0 + np.random.default_rng(clip.actor).uniform(-0.08, 0.08, 3))
    face = TalkingFace(*clip.size, tint=tint)
    frames = face.frames(audio, SAMPLE_RATE, clip.config.fps, rng)
    write_video(clip.video, frames, audio if with_audio else None, SAMPLE_RATE, clip.config)
    written = [clip.video]
    if clip.audio_wav is not None:
        write_wav(clip.audio_wav, audio)
        written.append(clip.audio_wav)
    return written


def make_corpus(
    out_dir: str | Path,
    n_clips_per_dataset: int = 3,
    seconds: float = 1.5,
    seed: int = 0,
    bad_files: bool = False,
    frame_size: tuple[int, int] | None = None,
) -> list[Path]:
    """Write ``n_clips_per_dataset`` CREMA-D and RAVDESS clips (+ bad files); returns all paths, sorted.

    ``frame_size`` (W, H) replaces the datasets' own small frame sizes (e.g. (1920, 1080) for HD)."""
    if n_clips_per_dataset < 1:
        raise ValueError(f"n_clips_per_dataset must be >= 1, got {n_clips_per_dataset}")
    if not 0.2 <= seconds <= 60:
        raise ValueError(f"seconds must be in [0.2, 60], got {seconds}")
    root = Path(out_dir)
    written: list[Path] = []
    for dataset, make in enumerate((cremad_clip, ravdess_clip)):
        for index in range(n_clips_per_dataset):
            clip = make(root, index) if frame_size is None else make(root, index, frame_size)
            written += render_clip(clip, seconds, np.random.default_rng([seed, dataset, index]))
    if bad_files:
        corrupt = cremad_clip(root, n_clips_per_dataset)
        written += render_clip(corrupt, seconds, np.random.default_rng([seed, 0, n_clips_per_dataset]))
        corrupt.video.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        silent = ravdess_clip(root, n_clips_per_dataset)
        written += render_clip(
            silent, seconds, np.random.default_rng([seed, 1, n_clips_per_dataset]), with_audio=False
        )
    return sorted(written)
