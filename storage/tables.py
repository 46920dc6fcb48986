"""Rows <-> Arrow tables for the project schemas, and atomic Parquet I/O on local paths and S3.

Row values may be numpy arrays: a per-frame column (``list<fixed_size_list<D>>``) takes a ``(T, D)``
array, a fixed-size-list column a ``(D,)`` array and a primitive list column a ``(T,)`` array;
:func:`from_table` gives the same shapes back. Timestamps may be ``datetime`` or POSIX seconds.
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from storage.filesystem import arrow_filesystem
from storage.objects import UploadConfig, atomic_output
from storage.redact import redact


def _is_per_frame(type_: pa.DataType) -> bool:
    return pa.types.is_list(type_) and pa.types.is_fixed_size_list(type_.value_type)


def _vectors(field: pa.Field, values: list, width: int, ndim: int) -> tuple[np.ndarray, list[int]]:
    """Stack row arrays of shape ``(T, width)`` (ndim 2) or ``(width,)`` / ``(T,)`` (ndim 1)."""
    leaf = field.type
    while pa.types.is_list(leaf) or pa.types.is_fixed_size_list(leaf):
        leaf = leaf.value_type
    dtype = leaf.to_pandas_dtype()
    arrays, lengths = [], []
    for row, value in enumerate(values):
        array = (
            np.zeros((0, width) if ndim == 2 else (0,), dtype) if value is None else np.asarray(value, dtype)
        )
        if ndim == 2 and array.size == 0 and array.ndim <= 2:
            array = array.reshape(0, width)
        if array.ndim != ndim or (ndim == 2 and array.shape[1] != width):
            want = f"(T, {width})" if ndim == 2 else f"({width},)" if width else "(T,)"
            raise ValueError(f"column {field.name!r} row {row}: expected shape {want}, got {array.shape}")
        if ndim == 1 and width and array.shape[0] != width:
            raise ValueError(f"column {field.name!r} row {row}: expected shape ({width},), got {array.shape}")
        arrays.append(array.reshape(-1))
        lengths.append(array.shape[0])
    flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype)
    return flat, lengths


def _as_datetime(value):
    """Numbers in timestamp columns are POSIX seconds (``time.time()``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
    return value


def _column(field: pa.Field, values: list) -> pa.Array:
    type_ = field.type
    mask = pa.array([v is None for v in values], pa.bool_())
    if _is_per_frame(type_):
        width = type_.value_type.list_size
        flat, lengths = _vectors(field, values, width, 2)
        inner = pa.FixedSizeListArray.from_arrays(pa.array(flat), width)
        offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int32())
        return pa.ListArray.from_arrays(offsets, inner, type=type_, mask=mask)
    if pa.types.is_fixed_size_list(type_):
        width = type_.list_size
        flat, _ = _vectors(field, [np.zeros(width) if v is None else v for v in values], width, 1)
        return pa.FixedSizeListArray.from_arrays(pa.array(flat), type=type_, mask=mask)
    if pa.types.is_list(type_) and pa.types.is_primitive(type_.value_type):
        flat, lengths = _vectors(field, values, 0, 1)
        offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int32())
        return pa.ListArray.from_arrays(offsets, pa.array(flat, type_.value_type), type=type_, mask=mask)
    if pa.types.is_timestamp(type_):
        values = [_as_datetime(v) for v in values]
    try:
        return pa.array(values, type=type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
        raise ValueError(f"column {field.name!r}: cannot convert to {type_}: {error}") from None


def to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Build a table of ``schema`` from row dicts; unknown or missing required keys raise ``ValueError``."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise TypeError("rows must be a list of dicts")
    known = set(schema.names)
    for index, row in enumerate(rows):
        unknown = row.keys() - known
        if unknown:
            raise ValueError(f"row {index} has columns not in the schema: {sorted(unknown)}")
    columns = []
    for field in schema:
        values = [row.get(field.name) for row in rows]
        if not field.nullable:
            missing = next((i for i, v in enumerate(values) if v is None), None)
            if missing is not None:
                raise ValueError(f"column {field.name!r} is required but row {missing} has no value")
        columns.append(_column(field, values))
    return pa.Table.from_arrays(columns, schema=schema)


def _validity(chunk: pa.Array) -> np.ndarray:
    return chunk.is_valid().to_numpy(zero_copy_only=False)


def _rows_of_vectors(chunk: pa.Array, width: int) -> list[np.ndarray | None]:
    """Per-row numpy arrays of a list<fixed_size_list<width>> chunk."""
    inner = chunk.values
    raw = inner.values.to_numpy(zero_copy_only=False)
    matrix = np.array(raw[inner.offset * width : (inner.offset + len(inner)) * width]).reshape(-1, width)
    offsets, valid = chunk.offsets.to_numpy(), _validity(chunk)
    return [matrix[offsets[i] : offsets[i + 1]] if valid[i] else None for i in range(len(chunk))]


def _rows_of_lists(chunk: pa.Array) -> list[np.ndarray | None]:
    """Per-row numpy arrays of a list<primitive> chunk."""
    values = np.array(chunk.values.to_numpy(zero_copy_only=False))
    offsets, valid = chunk.offsets.to_numpy(), _validity(chunk)
    return [values[offsets[i] : offsets[i + 1]] if valid[i] else None for i in range(len(chunk))]


def _column_values(column: pa.ChunkedArray) -> list:
    type_ = column.type
    out: list = []
    for chunk in column.chunks:
        if _is_per_frame(type_):
            out.extend(_rows_of_vectors(chunk, type_.value_type.list_size))
        elif pa.types.is_fixed_size_list(type_):
            width = type_.list_size
            raw = chunk.values.to_numpy(zero_copy_only=False)
            matrix = np.array(raw[chunk.offset * width : (chunk.offset + len(chunk)) * width]).reshape(
                -1, width
            )
            valid = _validity(chunk)
            out.extend(matrix[i] if valid[i] else None for i in range(len(chunk)))
        elif pa.types.is_list(type_) and pa.types.is_primitive(type_.value_type):
            out.extend(_rows_of_lists(chunk))
        else:
            out.extend(chunk.to_pylist())
    return out


def from_table(table: pa.Table) -> list[dict]:
    """Row dicts of ``table``; list columns come back as numpy arrays (see module doc)."""
    columns = {name: _column_values(table[name]) for name in table.column_names}
    return [{name: values[i] for name, values in columns.items()} for i in range(table.num_rows)]


def redact_table(table: pa.Table) -> pa.Table:
    """``table`` with credentials masked in its string columns (error reasons, paths, parameters)."""
    for index, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        values = table.column(index).to_pylist()
        masked = [None if v is None else redact(v) for v in values]
        if masked != values:
            table = table.set_column(index, field, pa.array(masked, field.type))
    return table


def write_table_atomic(table: pa.Table, uri: str, config: UploadConfig | None = None) -> None:
    """Write ``table`` as one Parquet file at ``uri`` (local or S3), atomically; string columns are
    credential-masked first (:func:`redact_table`), so no secret reaches an errors or results table."""
    table = redact_table(table)
    with atomic_output(uri, config) as path:
        pq.write_table(table, path)


def read_table(
    uri: str | os.PathLike, schema: pa.Schema | None = None, columns: list[str] | None = None
) -> pa.Table:
    """Read a Parquet file, or a directory/prefix of Parquet files (e.g. written by Ray Data), from ``uri``.

    With ``schema``, files are read as that schema (columns cast to it; incompatible files raise).
    """
    fs, path = arrow_filesystem(uri)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"no Parquet file or directory at {uri}")
    return pq.read_table(path, filesystem=fs, schema=schema, columns=columns)
