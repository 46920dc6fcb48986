"""Where the extraction job commits each clip's outputs, and how a rerun finds what is done.

One Parquet file per clip and table, written atomically::

    OUT/clips/<dataset>/<clip_id>.parquet            labels (clips schema)
    OUT/betas/<dataset>/<emotion>/<clip_id>.parquet  coefficients + mel windows: the commit marker
    OUT/errors/<clip_id>.parquet                     why a clip failed (errors schema)

The clips row is written before the betas file, so a clip counts as done only once both exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import storage

PARQUET = ".parquet"


def clips_uri(out: str, dataset: str, clip_id: str) -> str:
    return storage.join(out, "clips", dataset, clip_id + PARQUET)


def betas_uri(out: str, dataset: str, emotion: str, clip_id: str) -> str:
    return storage.join(out, "betas", dataset, emotion, clip_id + PARQUET)


def errors_uri(out: str, clip_id: str) -> str:
    return storage.join(out, "errors", clip_id + PARQUET)


def clip_files(prefix: str) -> dict[str, str]:
    """clip_id -> URI of the committed per-clip Parquet files under ``prefix`` (``storage.list_uris`` skips
    the hidden staging files of writers that were killed mid-write)."""
    if not storage.exists(prefix):
        return {}
    uris = [u for u in storage.list_uris(prefix) if u.endswith(PARQUET)]
    return {u.rsplit("/", 1)[-1][: -len(PARQUET)]: u for u in uris}


@dataclass(frozen=True)
class Committed:
    """Clip ids with a committed clips row (written last: the clip's commit) and with error rows."""

    done: frozenset[str]
    errored: frozenset[str]


def committed(out: str) -> Committed:
    """Scan ``out`` for committed clips and error rows."""
    return Committed(
        done=frozenset(clip_files(storage.join(out, "clips"))),
        errored=frozenset(clip_files(storage.join(out, "errors"))),
    )
