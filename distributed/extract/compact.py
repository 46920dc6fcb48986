"""Compaction: the job's per-clip Parquet files rewritten as a few large, partitioned files for training.

::

    OUT/compact/betas/dataset=<d>/emotion=<e>/part-00000.parquet   about ``target_mb`` each
    OUT/compact/clips/dataset=<d>/part-00000.parquet

Every committed clip's row appears exactly once (a clip id seen twice is an error naming both files).
Each part is written atomically; parts left over from an earlier, larger compaction are deleted, so a
rerun after more clips were extracted gives the same layout as a fresh one. The per-clip files stay (they
are the job's commit markers); key-value metadata (provenance) is kept when all inputs agree, else the
distinct records are listed under ``talkingface.provenance.mixed``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

import storage
from distributed.extract.layout import PARQUET
from storage.schemas import BETAS_SCHEMA, CLIPS_SCHEMA

PROVENANCE_KEY = b"talkingface.provenance"


@dataclass(frozen=True)
class CompactConfig:
    """``out``: the extraction output root; ``target_mb``: in-memory size of a part before it is written."""

    out: str
    target_mb: float = 256.0

    def __post_init__(self) -> None:
        if self.target_mb <= 0:
            raise ValueError(f"--target-mb must be > 0, got {self.target_mb}")


def _files(root: str) -> list[str]:
    """Committed Parquet files under ``root`` (hidden staging / crashed temp files skipped)."""
    if not storage.exists(root):
        return []
    names = ((u, u.rsplit("/", 1)[-1]) for u in storage.list_uris(root))
    return sorted(u for u, name in names if name.endswith(PARQUET) and not name.startswith("."))


def _partition(uri: str, root: str, depth: int) -> tuple[str, ...]:
    """The first ``depth`` folder names below ``root`` (dataset, emotion) of a per-clip file."""
    parts = uri[len(root) :].strip("/").split("/")
    return tuple(parts[:depth])


def _merged_metadata(tables: list[pa.Table], schema: pa.Schema) -> dict[bytes, bytes]:
    meta = dict(schema.metadata or {})
    records = sorted({(t.schema.metadata or {}).get(PROVENANCE_KEY, b"") for t in tables} - {b""})
    if len(records) == 1:
        meta[PROVENANCE_KEY] = records[0]
    elif records:
        meta[PROVENANCE_KEY + b".mixed"] = json.dumps([json.loads(r) for r in records]).encode()
    return meta


def _batches(
    files: list[str], schema: pa.Schema, target_bytes: float
) -> Iterator[list[tuple[str, pa.Table]]]:
    """(uri, table) of consecutive files, grouped until ``target_bytes`` of Arrow data."""
    batch: list[tuple[str, pa.Table]] = []
    size = 0
    for uri in files:
        table = storage.read_table(uri, schema)
        batch.append((uri, table.replace_schema_metadata(_file_meta(uri))))
        size += table.nbytes
        if size >= target_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _file_meta(uri: str) -> dict[bytes, bytes]:
    fs, path = storage.arrow_filesystem(uri)
    return dict(pq.read_schema(path, filesystem=fs).metadata or {})


def compact_table(config: CompactConfig, table: str, schema: pa.Schema, depth: int) -> dict[str, int]:
    """Rewrite ``OUT/<table>`` into ``OUT/compact/<table>``; returns rows written per partition."""
    root = storage.join(config.out, table)
    by_partition: dict[tuple[str, ...], list[str]] = {}
    for uri in _files(root):
        by_partition.setdefault(_partition(uri, root, depth), []).append(uri)
    seen: dict[str, str] = {}
    written: dict[str, int] = {}
    keys = ("dataset", "emotion")[:depth]
    for partition, files in sorted(by_partition.items()):
        folder = storage.join(
            config.out, "compact", table, *(f"{k}={v}" for k, v in zip(keys, partition, strict=True))
        )
        n_parts = 0
        for n_parts, batch in enumerate(_batches(files, schema, config.target_mb * 1024**2), start=1):
            for uri, t in batch:
                for clip_id in t.column("clip_id").to_pylist():
                    if clip_id in seen:
                        raise ValueError(f"clip {clip_id} is in both {seen[clip_id]} and {uri}")
                    seen[clip_id] = uri
            tables = [t for _, t in batch]
            merged = pa.concat_tables([t.replace_schema_metadata(None) for t in tables])
            merged = merged.replace_schema_metadata(_merged_metadata(tables, schema))
            storage.write_table_atomic(merged, storage.join(folder, f"part-{n_parts - 1:05d}{PARQUET}"))
            written[folder] = written.get(folder, 0) + merged.num_rows
        for stale in _files(folder):
            index = int(stale.rsplit("part-", 1)[-1][: -len(PARQUET)])
            if index >= n_parts:
                storage.delete(stale)
    return written


def compact(config: CompactConfig) -> dict[str, dict[str, int]]:
    """Compact the betas (by dataset and emotion) and clips (by dataset) tables of ``config.out``."""
    return {
        "betas": compact_table(config, "betas", BETAS_SCHEMA, 2),
        "clips": compact_table(config, "clips", CLIPS_SCHEMA, 1),
    }
