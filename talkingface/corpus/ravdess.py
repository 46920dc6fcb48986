"""RAVDESS names: 7 two-digit fields ``MM-VC-EM-IN-ST-RE-AC``, e.g. ``01-01-06-01-02-01-12.mp4``.

Modality 01 (audio-video) and 02 (video-only) of one trial are the same visual take, so 02 is rejected
(no audio, and a duplicate of 01); 03 (audio-only) pairs with the 01 video of the same trial.
"""

from __future__ import annotations

from talkingface.corpus.labels import NEUTRAL_INTENSITY, ClipLabel
from talkingface.corpus.names import BadName, check, lookup, split_name

MODALITIES = {"01": "audio-video", "02": "video", "03": "audio"}
EXTENSIONS = {"01": ".mp4", "02": ".mp4", "03": ".wav"}
CHANNELS = {"01": "speech", "02": "song"}
EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fear",
    "07": "disgust",
    "08": "surprised",
}
INTENSITIES = {"01": ("normal", 0.5), "02": ("strong", 1.0)}
STATEMENTS = ("01", "02")  # 01 "Kids are talking by the door", 02 "Dogs are sitting by the door"
REPETITIONS = ("01", "02")
SONG_EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fear")
ACTORS = range(1, 25)


def parse(path: str, *, media: bool = True) -> ClipLabel:
    """Labels of one RAVDESS file; ``media=False`` ignores the extension (beta files named after clips)."""
    _, stem, ext = split_name(path)
    fields = stem.split("-")
    if len(fields) != 7 or not all(len(f) == 2 and f.isdigit() for f in fields):
        raise BadName(f"RAVDESS name {stem!r} is not 7 two-digit fields joined by '-'")
    mod, chan, emo, inten, statement, rep, actor = fields
    modality = lookup(MODALITIES, mod, "RAVDESS modality")
    channel = lookup(CHANNELS, chan, "RAVDESS vocal channel")
    emotion = lookup(EMOTIONS, emo, "RAVDESS emotion")
    level, intensity = lookup(INTENSITIES, inten, "RAVDESS intensity")
    check(statement, STATEMENTS, "RAVDESS statement")
    check(rep, REPETITIONS, "RAVDESS repetition")
    if int(actor) not in ACTORS:
        raise BadName(f"RAVDESS actor {actor!r} is not in 01..24")
    if media and ext != EXTENSIONS[mod]:
        raise BadName(f"RAVDESS modality {mod} ({modality}) must be a {EXTENSIONS[mod]} file, got {ext!r}")
    if emotion == "neutral" and level == "strong":
        raise BadName("RAVDESS neutral has no strong intensity (intensity 02 on emotion 01)")
    if channel == "song" and emotion not in SONG_EMOTIONS:
        raise BadName(f"RAVDESS song has no {emotion} (song emotions: {', '.join(SONG_EMOTIONS)})")
    if modality == "video":
        raise BadName(
            "RAVDESS modality 02 is video-only (no audio) and the same take as modality 01: "
            "unusable for audio-driven training, use the 01 file"
        )
    return ClipLabel(
        path=path,
        dataset="ravdess",
        actor=actor,
        sentence=statement,
        emotion=emotion,
        intensity=NEUTRAL_INTENSITY if emotion == "neutral" else intensity,
        intensity_label=level,
        take="ravdess/" + "-".join(fields[1:]),
        modality=modality if media else None,
        vocal_channel=channel,
        repetition=int(rep),
        gender="male" if int(actor) % 2 else "female",
    )
