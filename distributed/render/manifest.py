"""Reading a render manifest (CSV, JSONL or Parquet) into typed rows, each with its line number.

Columns and types come from :data:`storage.schemas.RENDER_MANIFEST_SCHEMA` (the one definition): CSV
cells are parsed to the column's type (an empty cell = null), JSONL and Parquet values must already
have it. A row that cannot be read becomes an :class:`Invalid` with its line and reason; reading goes
on with the next row.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass

import pyarrow as pa

import storage
from storage.schemas import RENDER_MANIFEST_SCHEMA

COLUMNS = {field.name: field for field in RENDER_MANIFEST_SCHEMA}
REQUIRED = tuple(field.name for field in RENDER_MANIFEST_SCHEMA if not field.nullable)
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


@dataclass(frozen=True)
class Invalid:
    """A manifest row that is not rendered, and why."""

    line: int
    id: str | None
    reason: str


@dataclass(frozen=True)
class Entry:
    """One typed manifest row (None = empty) and its line (CSV/JSONL, header = 1) or row number."""

    line: int
    values: dict


def manifest_format(uri: str) -> str:
    """``csv`` / ``jsonl`` / ``parquet`` from the manifest's suffix; ValueError naming it otherwise."""
    name = storage.parse_uri(uri).name.lower()
    for suffix, kind in FORMATS.items():
        if name.endswith(suffix):
            return kind
    raise ValueError(f"manifest {uri}: unknown format; name it *.csv, *.jsonl or *.parquet")


def _typed(name: str, value, from_text: bool):
    """``value`` as column ``name``'s type; ValueError with a reason naming the column."""
    if value is None or (from_text and value == ""):
        return None
    kind = COLUMNS[name].type
    bad = ValueError(f"column {name!r}: expected {kind}, got {value!r}")
    if pa.types.is_string(kind):
        if not isinstance(value, str):
            raise bad
        return value
    if pa.types.is_boolean(kind):
        if isinstance(value, bool):
            return value
        if from_text and value.strip().lower() in TRUE + FALSE:
            return value.strip().lower() in TRUE
        raise bad
    if from_text:
        try:
            value = int(value) if pa.types.is_integer(kind) else float(value)
        except ValueError:
            raise bad from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad
    if pa.types.is_integer(kind):
        if isinstance(value, float) and not value.is_integer():
            raise bad
        return int(value)
    if not math.isfinite(value):
        raise ValueError(f"column {name!r}: must be finite, got {value!r}")
    return float(value)


def _entry(line: int, raw: dict, from_text: bool) -> Entry | Invalid:
    row_id = raw.get("id") if isinstance(raw.get("id"), str) and raw.get("id") else None
    unknown = sorted(set(raw) - set(COLUMNS))
    if unknown:
        return Invalid(line, row_id, f"unknown column(s) {unknown}; known: {sorted(COLUMNS)}")
    values = {}
    for name in COLUMNS:
        try:
            values[name] = _typed(name, raw.get(name), from_text)
        except ValueError as err:
            return Invalid(line, row_id, str(err))
    missing = [name for name in REQUIRED if values[name] is None]
    if missing:
        return Invalid(line, row_id, f"missing column(s) {missing}")
    return Entry(line, values)


def read_manifest(uri: str) -> list[Entry | Invalid]:
    """Every row of the manifest at ``uri`` (local or storage URI), in order."""
    kind = manifest_format(uri)
    if kind == "parquet":
        table = storage.read_table(uri)
        return [_entry(i + 1, row, False) for i, row in enumerate(table.to_pylist())]
    text = storage.read_bytes(uri).decode("utf-8-sig")
    if kind == "csv":
        reader = csv.DictReader(io.StringIO(text))
        rows = []
        for raw in reader:
            extra = raw.pop(None, None)
            if extra:
                rows.append(
                    Invalid(reader.line_num, raw.get("id"), f"more cells than header columns: {extra}")
                )
                continue
            rows.append(_entry(reader.line_num, raw, True))
        return rows
    rows = []
    for line, text_line in enumerate(text.splitlines(), start=1):
        if not text_line.strip():
            continue
        try:
            raw = json.loads(text_line)
        except json.JSONDecodeError as err:
            rows.append(Invalid(line, None, f"not valid JSON: {err}"))
            continue
        if not isinstance(raw, dict):
            rows.append(Invalid(line, None, f"expected a JSON object, got {type(raw).__name__}"))
            continue
        rows.append(_entry(line, raw, False))
    return rows
