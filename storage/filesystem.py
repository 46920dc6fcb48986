"""pyarrow filesystems for URIs, for pyarrow.parquet and Ray Data (``filesystem=`` arguments)."""

from __future__ import annotations

import os

import pyarrow.fs as pafs

from storage.s3 import s3_filesystem
from storage.uri import parse_uri


def arrow_filesystem(uri: str | os.PathLike) -> tuple[pafs.FileSystem, str]:
    """``(filesystem, path)`` for ``uri``: an S3 filesystem and ``bucket/key``, or the local one and an
    absolute path. S3 endpoint, region and credentials come from the AWS environment variables, so the
    filesystem (which pickles) also works inside Ray workers that lack that environment."""
    loc = parse_uri(uri)
    if loc.is_s3:
        return s3_filesystem(), f"{loc.bucket}/{loc.path}".rstrip("/")
    return pafs.LocalFileSystem(), os.path.abspath(loc.path)
