"""List a corpus tree, parse every file and pair each video with its separate audio file.

Every listed file is reported exactly once: as an accepted clip's ``path`` or ``audio_uri``, or as a
``Rejection`` with its reason. A take with audio but no video becomes an audio-only clip. Metadata files
are read instead: CREMA-D's ``VideoDemographics.csv`` (ActorID, Sex, ...) gives its clips' gender.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

from talkingface.corpus.auto import parse
from talkingface.corpus.labels import ClipLabel, Rejection
from talkingface.corpus.names import split_name

AUDIO_PREFERENCE = (".wav", ".m4a", ".mp3")  # lossless first
CREMAD_DEMOGRAPHICS = "VideoDemographics.csv"


def list_files(uri: str) -> list[str]:
    """Every file under ``uri`` (local folder or file, ``file://`` or ``s3://`` prefix), sorted.

    Results keep the form of ``uri`` (plain paths, ``file://`` or ``s3://`` URIs).
    """
    from storage import list_uris, parse_uri

    location = parse_uri(uri)
    if not location.is_s3:
        root = Path(location.path)
        if root.is_file():
            return [uri]
        if not root.is_dir():
            raise FileNotFoundError(f"corpus root {uri!r} does not exist")
    return sorted(list_uris(uri))


def printable_path(path: str) -> str:
    """``path`` as valid UTF-8 text: bytes of a non-UTF-8 file name (held as surrogates by ``os``) are
    written as ``\\xNN`` escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _parse(path: str, dataset: str) -> ClipLabel | Rejection:
    shown = printable_path(path)
    if shown != path:  # tables, logs and URIs are UTF-8: such a file cannot be named in them
        return Rejection(path=shown, reason="the path is not valid UTF-8 (rename the file or folder)")
    return parse(path, dataset)


def scan(uri: str, dataset: str = "auto") -> Iterator[ClipLabel | Rejection]:
    """Accepted clips and rejected files under ``uri``, in path order."""
    files = list_files(uri)
    metadata = [path for path in files if path.rsplit("/", 1)[-1] == CREMAD_DEMOGRAPHICS]
    genders = {actor: g for path in metadata for actor, g in cremad_genders(read_text(path)).items()}
    items = [_parse(path, dataset) for path in files if path not in metadata]
    items = [
        dataclasses.replace(item, gender=genders[item.actor])
        if isinstance(item, ClipLabel) and item.dataset == "cremad" and item.actor in genders
        else item
        for item in items
    ]
    labels = [item for item in items if isinstance(item, ClipLabel)]
    rejected = [item for item in items if isinstance(item, Rejection)]
    yield from sorted([*pair(labels), *rejected], key=lambda item: item.path)


def read_text(path: str) -> str:
    """A small text file of the corpus (local path, ``file://`` or ``s3://`` URI)."""
    from storage import read_bytes

    return read_bytes(path).decode("utf-8-sig")


def cremad_genders(text: str) -> dict[str, str]:
    """Actor id -> "male" / "female" from CREMA-D's VideoDemographics.csv (columns ActorID, Sex, ...)."""
    rows = csv.DictReader(io.StringIO(text))
    if rows.fieldnames is None or not {"ActorID", "Sex"} <= set(rows.fieldnames):
        raise ValueError(f"{CREMAD_DEMOGRAPHICS} needs ActorID and Sex columns, got {rows.fieldnames}")
    return {row["ActorID"].strip(): row["Sex"].strip().lower() for row in rows if row["Sex"].strip()}


def pair(labels: Iterable[ClipLabel]) -> list[ClipLabel | Rejection]:
    """Give each video the preferred audio file of its take; extra copies become rejections."""
    takes: dict[str, list[ClipLabel]] = defaultdict(list)
    for label in labels:
        takes[label.take].append(label)
    out: list[ClipLabel | Rejection] = []
    for take, group in takes.items():
        audios = sorted((lb for lb in group if lb.modality == "audio"), key=_audio_rank)
        videos = sorted((lb for lb in group if lb.modality != "audio"), key=lambda lb: lb.path)
        chosen = audios[0] if audios else None
        if chosen is not None and not videos:
            out.append(chosen)  # audio-only clip
        for extra in audios[1:]:
            out.append(_duplicate(extra, f"duplicate audio of take {take}; using {chosen.path}"))
        kept_views: dict[str | None, ClipLabel] = {}
        for video in videos:
            if video.view in kept_views:
                first = kept_views[video.view].path
                out.append(_duplicate(video, f"duplicate video of take {take}; using {first}"))
                continue
            kept_views[video.view] = video
            out.append(dataclasses.replace(video, audio_uri=chosen.path if chosen else None))
    return out


def _audio_rank(label: ClipLabel) -> tuple[int, str]:
    ext = split_name(label.path)[2]
    rank = AUDIO_PREFERENCE.index(ext) if ext in AUDIO_PREFERENCE else len(AUDIO_PREFERENCE)
    return rank, label.path


def _duplicate(label: ClipLabel, reason: str) -> Rejection:
    return Rejection(path=label.path, reason=reason, dataset=label.dataset)
