"""The harmonised label record every corpus parser produces (datasets.md 4.4).

Emotions use one canonical vocabulary across CREMA-D, RAVDESS and MEAD. Intensity is one continuous
scale in [0, 1]: graded levels 1..3 map to level / 3 (CREMA-D LO/MD/HI, MEAD level_1..3), RAVDESS
normal/strong map to 0.5 / 1.0, neutral is 0.0 by definition (no dataset grades it), and an ungraded
emotional clip (CREMA-D ``XX``) is ``None``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fear",
    "disgust",
    "surprised",
    "contempt",
)
DATASETS: tuple[str, ...] = ("cremad", "ravdess", "mead")
NEUTRAL_INTENSITY = 0.0


def level_intensity(level: int) -> float:
    """A graded level 1..3 on the shared [0, 1] intensity scale."""
    if level not in (1, 2, 3):
        raise ValueError(f"intensity level must be 1, 2 or 3, got {level!r}")
    return level / 3


@dataclass(frozen=True)
class ClipLabel:
    """One accepted clip (or beta file named after a clip) with its harmonised labels.

    ``take`` identifies the recording: files of the same take (a video, its separate audio, other
    camera views) share it. ``audio_uri`` is set when a separate audio file pairs with the video.
    """

    path: str
    dataset: str
    actor: str
    sentence: str
    emotion: str
    intensity: float | None
    intensity_label: str
    take: str
    modality: str | None = None  # "audio-video" | "video" | "audio"; None for non-media files
    vocal_channel: str | None = None  # "speech" | "song"
    repetition: int | None = None
    view: str | None = None
    gender: str | None = None  # "male" | "female" where the name tells
    audio_uri: str | None = None

    def __post_init__(self) -> None:
        if self.emotion not in EMOTIONS:
            raise ValueError(f"{self.path}: emotion {self.emotion!r} is not in {EMOTIONS}")
        if self.intensity is not None and not 0.0 <= self.intensity <= 1.0:
            raise ValueError(f"{self.path}: intensity {self.intensity!r} is outside [0, 1]")

    def to_json(self) -> dict:
        """A JSON-ready dict with ``"status": "ok"`` first."""
        return {"status": "ok", **asdict(self)}


@dataclass(frozen=True)
class Rejection:
    """A file that is not accepted as a clip, and why."""

    path: str
    reason: str
    dataset: str | None = None

    def to_json(self) -> dict:
        """A JSON-ready dict with ``"status": "rejected"``."""
        return {"status": "rejected", "path": self.path, "reason": self.reason, "dataset": self.dataset}
