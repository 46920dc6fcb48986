"""MEAD: the release layout and the derived namings other repos use (datasets.md 4.3).

* release video ``M003/video/front/angry/level_1/001.mp4``, release audio ``M003/audio/angry/level_1/001.m4a``
* EAT ``M003_neu_1_001``, DreamTalk ``M030_front_angry_level3_001``, EDTalk ``M003#angry#level_1#001``
"""

from __future__ import annotations

import re

from talkingface.corpus.labels import NEUTRAL_INTENSITY, ClipLabel, level_intensity
from talkingface.corpus.names import BadName, check, lookup, split_name

EMOTIONS = {
    "angry": "angry",
    "disgusted": "disgust",
    "contempt": "contempt",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprised": "surprised",
}
EAT_CODES = {
    "ang": "angry",
    "dis": "disgust",
    "con": "contempt",
    "fea": "fear",
    "hap": "happy",
    "neu": "neutral",
    "sad": "sad",
    "sur": "surprised",
}
VIEWS = ("front", "down", "top", "left_30", "left_60", "right_30", "right_60")
MEDIA = {".mp4": "audio-video", ".m4a": "audio", ".wav": "audio"}
ACTOR = re.compile(r"[MW]\d{3}")
CLIP_ID = re.compile(r"\d{3}")
LEVEL = {
    "release": re.compile(r"level_([123])"),
    "dreamtalk": re.compile(r"level([123])"),
    "eat": re.compile(r"([123])"),
}


def parse(path: str, *, media: bool = True) -> ClipLabel:
    """Labels of one MEAD file; ``media=False`` ignores the extension (beta files named after clips)."""
    dirs, stem, ext = split_name(path)
    modality = lookup(MEDIA, ext, "MEAD extension") if media else None
    actor, view, emotion_token, level_token, clip_id, style = _fields(dirs, stem)
    if media and style == "release" and (view is None) != (modality == "audio"):
        folder = "audio" if view is None else "video"
        raise BadName(f"MEAD {folder} folder holds a {ext} file ({modality})")
    if not ACTOR.fullmatch(actor):
        raise BadName(f"MEAD actor {actor!r} is not M### or W###")
    if not CLIP_ID.fullmatch(clip_id):
        raise BadName(f"MEAD clip id {clip_id!r} is not 3 digits")
    if view is not None:
        check(view, VIEWS, "MEAD view")
    table = EAT_CODES if style == "eat" else EMOTIONS
    emotion = lookup(table, emotion_token, "MEAD emotion")
    level_style = "release" if style == "edtalk" else style
    match = LEVEL[level_style].fullmatch(level_token)
    if match is None:
        raise BadName(f"MEAD level {level_token!r} does not read as {LEVEL[level_style].pattern}")
    level = int(match.group(1))
    if emotion == "neutral" and level != 1:
        raise BadName(f"MEAD neutral has only level_1, got level {level}")
    return ClipLabel(
        path=path,
        dataset="mead",
        actor=actor,
        sentence=clip_id,
        emotion=emotion,
        intensity=NEUTRAL_INTENSITY if emotion == "neutral" else level_intensity(level),
        intensity_label=level_token,
        take=f"mead/{actor}/{emotion}/{level}/{clip_id}",
        modality=modality,
        vocal_channel="speech",
        view=view,
        gender="male" if actor.startswith("M") else "female",
    )


def _fields(dirs: list[str], stem: str) -> tuple[str, str | None, str, str, str, str]:
    """(actor, view, emotion token, level token, clip id, naming style) of a MEAD path."""
    if len(dirs) >= 5 and dirs[-4] == "video":
        actor, _, view, emotion, level = dirs[-5:]
        return actor, view, emotion, level, stem, "release"
    if len(dirs) >= 4 and dirs[-3] == "audio":
        actor, _, emotion, level = dirs[-4:]
        return actor, None, emotion, level, stem, "release"
    if "#" in stem:
        fields = stem.split("#")
        if len(fields) != 4:
            raise BadName(f"EDTalk-style MEAD name {stem!r} is not actor#emotion#level_n#id")
        actor, emotion, level, clip_id = fields
        return actor, None, emotion, level, clip_id, "edtalk"
    fields = stem.split("_")
    if len(fields) == 4 and fields[2].isdigit():
        actor, emotion, level, clip_id = fields
        return actor, None, emotion, level, clip_id, "eat"
    if len(fields) >= 5 and fields[-2].startswith("level"):
        return fields[0], "_".join(fields[1:-3]), fields[-3], fields[-2], fields[-1], "dreamtalk"
    raise BadName(
        f"MEAD name {stem!r} matches no known layout (actor/video/view/emotion/level_n/id, "
        "actor/audio/emotion/level_n/id, EAT M003_neu_1_001, DreamTalk M030_front_angry_level3_001, "
        "EDTalk M003#angry#level_1#001)"
    )
