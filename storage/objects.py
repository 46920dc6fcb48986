"""Object operations over local paths, ``file://`` and ``s3://`` URIs, with atomic writes.

Atomicity: a reader sees either the previous object or the complete new one, never a partial one.

* local: write a hidden temp file in the destination directory, ``fsync``, ``os.replace`` it over the
  final name, ``fsync`` the directory; on any error the temp file is removed.
* S3: a single PUT below ``UploadConfig.multipart_threshold``, else a multipart upload, which S3 only
  exposes under the key once it completes; on error the multipart upload is aborted (boto3/s3transfer
  registers the abort as failure clean-up), so neither a partial object nor orphan parts remain.

Object metadata (``metadata=`` of :func:`put_file_atomic` / :func:`atomic_output`, read back by
:func:`read_metadata`): S3 user metadata (``x-amz-meta-*``, sent with the PUT / multipart upload, so it
appears together with the object); for local files a JSON sidecar ``<name>.meta.json`` written right
after the file (a crash in between leaves the file with no or old metadata, never new metadata on an
old file).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import boto3.s3.transfer
import botocore.exceptions

from storage.atomic import is_staging_name, local_atomic_path
from storage.redact import redact, redact_value
from storage.s3 import head_object, is_not_found, s3_client
from storage.uri import parse_uri

MiB = 1024 * 1024


@dataclass(frozen=True)
class UploadConfig:
    """S3 upload tuning. Parts must be >= 5 MiB on S3 (s3transfer raises smaller chunk sizes to that)."""

    multipart_threshold: int = 64 * MiB
    multipart_chunksize: int = 16 * MiB
    max_concurrency: int = 4

    def transfer_config(self) -> boto3.s3.transfer.TransferConfig:
        return boto3.s3.transfer.TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.max_concurrency,
        )


def put_fileobj_atomic(fileobj: BinaryIO, uri: str, config: UploadConfig | None = None) -> None:
    """Stream a readable binary file object to ``uri`` atomically (see module doc)."""
    loc = parse_uri(uri)
    loc.require_object()
    if loc.is_s3:
        s3_client().upload_fileobj(
            fileobj, loc.bucket, loc.path, Config=(config or UploadConfig()).transfer_config()
        )
        return
    with local_atomic_path(Path(loc.path)) as temp, open(temp, "wb") as out:
        shutil.copyfileobj(fileobj, out, MiB)


def write_bytes_atomic(uri: str, data: bytes, config: UploadConfig | None = None) -> None:
    """Write ``data`` to ``uri`` atomically: the object appears complete or not at all."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data for {uri!r} must be bytes-like, got {type(data).__name__}")
    put_fileobj_atomic(io.BytesIO(data), uri, config)


def write_text_atomic(uri: str, text: str) -> None:
    """Write UTF-8 ``text`` (a log, a report) to ``uri`` atomically, credentials masked (storage.redact)."""
    write_bytes_atomic(uri, redact(text).encode())


def write_json_atomic(uri: str, value: object) -> None:
    """Write ``value`` as indented JSON to ``uri`` atomically, every string in it credential-masked."""
    write_bytes_atomic(uri, (json.dumps(redact_value(value), indent=1, default=str) + "\n").encode())


SIDECAR_SUFFIX = ".meta.json"


def _sidecar(path: str) -> Path:
    return Path(path + SIDECAR_SUFFIX)


def put_file_atomic(
    local_path: str | os.PathLike,
    uri: str,
    config: UploadConfig | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    """Copy the local file ``local_path`` to ``uri`` atomically (S3: multipart above the threshold).

    ``metadata``: string key/values stored with the object (see module doc; keys are lower case).
    """
    source = Path(local_path)
    if not source.is_file():
        raise FileNotFoundError(f"local file to upload does not exist: {source}")
    loc = parse_uri(uri)
    loc.require_object()
    if metadata is not None and any(k != k.lower() or not isinstance(v, str) for k, v in metadata.items()):
        raise ValueError(f"metadata for {uri!r} needs lower-case keys and str values, got {metadata}")
    if loc.is_s3:
        extra = {"Metadata": dict(metadata)} if metadata else None
        s3_client().upload_file(
            str(source),
            loc.bucket,
            loc.path,
            ExtraArgs=extra,
            Config=(config or UploadConfig()).transfer_config(),
        )
        return
    with open(source, "rb") as handle:
        put_fileobj_atomic(handle, uri, config)
    if metadata is not None:
        with local_atomic_path(_sidecar(loc.path)) as temp:
            temp.write_text(json.dumps(metadata, sort_keys=True))


def read_metadata(uri: str) -> dict[str, str] | None:
    """The metadata stored with the object at ``uri`` ({} if none), or None if there is no object."""
    loc = parse_uri(uri)
    loc.require_object()
    if loc.is_s3:
        info = head_object(loc.bucket, loc.path)
        return None if info is None else dict(info.get("Metadata", {}))
    if not os.path.isfile(loc.path):
        return None
    try:
        return json.loads(_sidecar(loc.path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


@contextlib.contextmanager
def atomic_output(
    uri: str, config: UploadConfig | None = None, metadata: dict[str, str] | None = None
) -> Iterator[Path]:
    """Yield a local path to write; on clean exit it is published to ``uri`` atomically (with ``metadata``).

    The temp file keeps the destination's suffix, so tools that pick a format from the extension
    (PyAV, OpenCV, pyarrow) work. On error nothing is published and the temp file is removed.
    """
    loc = parse_uri(uri)
    loc.require_object()
    if not loc.is_s3 and metadata is None:
        with local_atomic_path(Path(loc.path)) as temp:
            yield temp
        return
    with tempfile.TemporaryDirectory(prefix="tf-upload-") as tmp:
        staged = Path(tmp) / loc.name
        yield staged
        if not staged.is_file():
            raise FileNotFoundError(f"nothing was written to the staging file for {uri!r}")
        put_file_atomic(staged, uri, config, metadata)


def read_bytes(uri: str) -> bytes:
    """The whole content of the object or file at ``uri``; ``FileNotFoundError`` naming it if missing."""
    loc = parse_uri(uri)
    loc.require_object()
    if not loc.is_s3:
        try:
            return Path(loc.path).read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file: {uri}") from None
    try:
        return s3_client().get_object(Bucket=loc.bucket, Key=loc.path)["Body"].read()
    except botocore.exceptions.ClientError as error:
        if is_not_found(error):
            raise FileNotFoundError(f"no such object: {uri}") from None
        raise


def exists(uri: str) -> bool:
    """Whether ``uri`` names an existing file/object, or a directory/prefix with something under it."""
    loc = parse_uri(uri)
    if not loc.is_s3:
        return os.path.exists(loc.path)
    if loc.path and not loc.path.endswith("/") and head_object(loc.bucket, loc.path) is not None:
        return True
    prefix = loc.path if not loc.path or loc.path.endswith("/") else loc.path + "/"
    listing = s3_client().list_objects_v2(Bucket=loc.bucket, Prefix=prefix, MaxKeys=1)
    return listing.get("KeyCount", 0) > 0


def list_uris(prefix_uri: str) -> list[str]:
    """All files/objects below the directory or prefix ``prefix_uri``, recursively, sorted, as full URIs.

    The prefix is a directory: ``s3://b/run1`` lists ``run1/...`` but not ``run10/...``. Zero-byte
    directory markers (keys ending in ``/``) and local staging files of unfinished atomic writes are
    skipped. A missing directory or prefix gives ``[]``.
    """
    loc = parse_uri(prefix_uri)
    if not loc.is_s3:
        root = Path(loc.path)
        if not root.is_dir():
            return []
        files = (p for p in root.rglob("*") if p.is_file() and not is_staging_name(p.name))
        return sorted(loc.child(str(p.relative_to(root))).uri for p in files)
    prefix = loc.path if not loc.path or loc.path.endswith("/") else loc.path + "/"
    pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=prefix)
    try:
        keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
    except botocore.exceptions.ClientError as error:
        if is_not_found(error):
            raise FileNotFoundError(f"no such bucket for {prefix_uri}") from None
        raise
    return sorted(f"s3://{loc.bucket}/{key}" for key in keys if not key.endswith("/"))


def delete(uri: str) -> None:
    """Delete one file/object; deleting something that does not exist is not an error."""
    loc = parse_uri(uri)
    loc.require_object()
    if loc.is_s3:
        s3_client().delete_object(Bucket=loc.bucket, Key=loc.path)
        return
    path = Path(loc.path)
    if path.is_dir():
        raise IsADirectoryError(f"delete removes single files, {uri!r} is a directory")
    path.unlink(missing_ok=True)
