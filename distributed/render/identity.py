"""Content identities: what an output was rendered from, as one sha256 stored with the output.

An input's identity is its S3 ETag and size, or the sha256 of a local file's bytes; a head or checkpoint
directory's is that of every file in it. The content hash of a row covers the identities of its audio,
image and head, every parameter that changes the frames (the row's resolved request and the job's model,
face and encoder settings) and the checkpoints, so an unchanged row is skipped on a rerun and any change
re-renders it. It is stored in the output's metadata under :data:`HASH_KEY` (``storage.read_metadata``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import storage
from storage.hashing import file_sha256
from storage.s3 import head_object, s3_client

HASH_KEY = "talkingface-content-hash"
FRAMES_KEY = "talkingface-frames"
HASH_VERSION = 1  # bump when the renderer's output changes for the same inputs


def input_identity(uri: str) -> str:
    """``s3:<etag>:<size>`` or ``sha256:<hex>`` of one file; FileNotFoundError naming it if missing."""
    loc = storage.parse_uri(uri)
    if loc.is_s3:
        info = head_object(loc.bucket, loc.path)
        if info is None:
            raise FileNotFoundError(f"no such object: {uri}")
        return f"s3:{info['ETag'].strip(chr(34))}:{info['ContentLength']}"
    if not os.path.isfile(loc.path):
        raise FileNotFoundError(f"no such file: {uri}")
    return "sha256:" + file_sha256(loc.path)


def tree_identity(uri: str) -> str:
    """sha256 over (relative name, identity) of every file under a directory or S3 prefix (or one file)."""
    loc = storage.parse_uri(uri)
    if loc.is_s3:
        if head_object(loc.bucket, loc.path) is not None:
            return input_identity(uri)
        prefix = loc.path.rstrip("/") + "/"
        pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=prefix)
        items = [
            (o["Key"][len(prefix) :], o["ETag"], o["Size"]) for p in pages for o in p.get("Contents", [])
        ]
    elif os.path.isfile(loc.path):
        return input_identity(uri)
    else:
        root = Path(loc.path)
        items = [
            (str(p.relative_to(root)), file_sha256(str(p))) for p in sorted(root.rglob("*")) if p.is_file()
        ]
    if not items:
        raise FileNotFoundError(f"nothing under {uri}")
    return "tree:" + hashlib.sha256(json.dumps(sorted(items)).encode()).hexdigest()


def digest(*parts: object) -> str:
    """sha256 hex of JSON-encoded ``parts`` (keys sorted)."""
    return hashlib.sha256(
        json.dumps([HASH_VERSION, *parts], sort_keys=True, default=str).encode()
    ).hexdigest()


class Identities:
    """Identities memoised for one run (many rows share an image, a head, the checkpoints)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], str] = {}

    def input(self, uri: str) -> str:
        return self._memo("input", uri, input_identity)

    def tree(self, uri: str) -> str:
        return self._memo("tree", uri, tree_identity)

    def _memo(self, kind: str, uri: str, compute) -> str:
        if (kind, uri) not in self._seen:
            self._seen[kind, uri] = compute(uri)
        return self._seen[kind, uri]
