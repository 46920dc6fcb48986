"""CREMA-D names ``AAAA_SSS_EEE_LL.ext``, e.g. ``1001_DFA_ANG_XX.flv`` (datasets.md 4.1)."""

from __future__ import annotations

from talkingface.corpus.labels import NEUTRAL_INTENSITY, ClipLabel, level_intensity
from talkingface.corpus.names import BadName, lookup, split_name

SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
LEVELS = {"LO": 1, "MD": 2, "HI": 3}
GRADED_SENTENCE = "IEO"  # the only sentence recorded at LO/MD/HI; everything else is XX
MEDIA = {".flv": "audio-video", ".wav": "audio", ".mp3": "audio"}
ACTORS = range(1001, 1092)
KNOWN_BAD = {
    "1076_MTI_NEU_XX": "known bad CREMA-D file: very short, no audio (dataset README)",
    "1076_MTI_SAD_XX": "known bad CREMA-D file: very short, no audio (dataset README)",
    "1064_TIE_SAD_XX": "known bad CREMA-D file: zero duration (dataset README)",
    "1064_IEO_DIS_MD": "known bad CREMA-D file: ~1 minute holding all IEO emotions (dataset README)",
    "1007_ITH_NEU_XX": "known bad CREMA-D file: dropped as faulty by other projects",
}


def parse(path: str, *, media: bool = True) -> ClipLabel:
    """Labels of one CREMA-D file; ``media=False`` ignores the extension (beta files named after clips)."""
    _, stem, ext = split_name(path)
    modality = lookup(MEDIA, ext, "CREMA-D extension") if media else None
    fields = stem.split("_")
    if len(fields) != 4:
        raise BadName(f"CREMA-D name {stem!r} is not AAAA_SSS_EEE_LL (4 fields joined by '_')")
    actor, sentence, code, level = fields
    if not (actor.isdigit() and len(actor) == 4 and int(actor) in ACTORS):
        raise BadName(f"CREMA-D actor {actor!r} is not a 4-digit id in 1001..1091")
    if sentence not in SENTENCES:
        raise BadName(f"unknown CREMA-D sentence {sentence!r} (expected one of {', '.join(SENTENCES)})")
    emotion = lookup(EMOTIONS, code, "CREMA-D emotion")
    if level != "XX" and level not in LEVELS:
        raise BadName(f"unknown CREMA-D level {level!r} (expected LO, MD, HI or XX)")
    if stem in KNOWN_BAD:
        raise BadName(KNOWN_BAD[stem])
    if level != "XX" and sentence != GRADED_SENTENCE:
        raise BadName(f"CREMA-D level {level} exists only for sentence {GRADED_SENTENCE}, not {sentence}")
    if emotion == "neutral" and level != "XX":
        raise BadName(f"CREMA-D neutral has no intensity level, got {level}")
    if emotion == "neutral":
        intensity = NEUTRAL_INTENSITY
    else:
        intensity = None if level == "XX" else level_intensity(LEVELS[level])
    return ClipLabel(
        path=path,
        dataset="cremad",
        actor=actor,
        sentence=sentence,
        emotion=emotion,
        intensity=intensity,
        intensity_label=level,
        take=f"cremad/{stem}",
        modality=modality,
        vocal_channel="speech",
    )
