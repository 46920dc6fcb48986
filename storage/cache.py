"""A node-local download cache for S3 objects (models, source videos) shared by all processes on a node.

Layout: ``<cache>/s3/<bucket>/<sha256(key)[:32]>/data/<basename>`` plus ``meta.json`` (uri, ETag, size)
next to ``data/``. Hashing the key keeps ``a`` and ``a/b`` from colliding as file and directory; the
basename keeps the extension for decoders. A cached copy is reused while the object's ETag and size
match; both files are replaced atomically, so concurrent workers on one node never see a partial file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import botocore.exceptions

from storage.atomic import local_atomic_path
from storage.objects import MiB
from storage.s3 import head_object, is_not_found, s3_client
from storage.uri import parse_uri

CACHE_ENV = "TALKINGFACE_CACHE"


def default_cache_dir() -> Path:
    """``$TALKINGFACE_CACHE`` or ``~/.cache/talkingface``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "talkingface")


def _read_meta(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def download_to_cache(uri: str, cache_dir: Path | None = None) -> Path:
    """A local path holding the content of ``uri``.

    Local paths and ``file://`` URIs are returned as they are (no copy). S3 objects are downloaded once
    per (bucket, key, ETag, size) into ``cache_dir`` (default :func:`default_cache_dir`).
    """
    loc = parse_uri(uri)
    loc.require_object()
    if not loc.is_s3:
        path = Path(loc.path)
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {uri}")
        return path
    info = head_object(loc.bucket, loc.path)
    if info is None:
        raise FileNotFoundError(f"no such object: {uri}")
    etag, size = info["ETag"], int(info["ContentLength"])
    entry = (
        Path(cache_dir or default_cache_dir())
        / "s3"
        / loc.bucket
        / hashlib.sha256(loc.path.encode()).hexdigest()[:32]
    )
    data, meta_path = entry / "data" / loc.name, entry / "meta.json"
    meta = _read_meta(meta_path)
    if (
        meta.get("etag") == etag
        and meta.get("size") == size
        and data.is_file()
        and data.stat().st_size == size
    ):
        return data
    try:
        body = s3_client().get_object(Bucket=loc.bucket, Key=loc.path, IfMatch=etag)["Body"]
    except botocore.exceptions.ClientError as error:
        if is_not_found(error):
            raise FileNotFoundError(f"no such object: {uri} (deleted while downloading)") from None
        if error.response.get("Error", {}).get("Code") == "PreconditionFailed":
            raise OSError(f"{uri} was replaced while downloading (ETag changed); retry") from None
        raise
    with local_atomic_path(data) as temp, open(temp, "wb") as out:
        shutil.copyfileobj(body, out, MiB)
    if data.stat().st_size != size:
        raise OSError(f"downloaded {data.stat().st_size} bytes for {uri}, expected {size}")
    with local_atomic_path(meta_path) as temp:
        temp.write_text(json.dumps({"uri": loc.uri, "etag": etag, "size": size}))
    return data
