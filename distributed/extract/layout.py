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


@dataclass(frozen=True)
class Committed:
    """Clip ids with committed betas and with committed error rows."""

    done: frozenset[str]
    errored: frozenset[str]


def committed(out: str) -> Committed:
    """Scan ``out`` for committed per-clip files (temp files never carry the .parquet suffix)."""

    def ids(table: str) -> frozenset[str]:
        uris = storage.list_uris(storage.join(out, table)) if storage.exists(storage.join(out, table)) else []
        return frozenset(u.rsplit("/", 1)[-1][: -len(PARQUET)] for u in uris if u.endswith(PARQUET))

    return Committed(done=ids("betas"), errored=ids("errors"))
