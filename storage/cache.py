"""A node-local download cache for S3 objects (models, source videos) shared by all processes on a node.

Layout: ``<cache>/s3/<bucket>/<sha256(key)[:32]>/data/<basename>`` plus ``meta.json`` (uri, ETag, size)
next to ``data/``. Hashing the key keeps ``a`` and ``a/b`` from colliding as file and directory; the
basename keeps the extension for decoders. A cached copy is reused while the object's ETag and size
match; both files are replaced atomically, so concurrent workers on one node never see a partial file.

The cache is capped (``$TALKINGFACE_CACHE_MAX_GB``, default 20 GiB): after each download the least
recently used entries are evicted until it fits. An entry used in the last ``EVICT_GRACE_S`` seconds is
never evicted (another worker may be about to open it), nor the one just downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import botocore.exceptions

from storage.atomic import local_atomic_path
from storage.objects import MiB
from storage.s3 import head_object, is_not_found, s3_client
from storage.uri import parse_uri

CACHE_ENV = "TALKINGFACE_CACHE"
CACHE_MAX_ENV = "TALKINGFACE_CACHE_MAX_GB"
DEFAULT_MAX_GB = 20.0
EVICT_GRACE_S = 60.0


def default_cache_dir() -> Path:
    """``$TALKINGFACE_CACHE`` or ``~/.cache/talkingface``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "talkingface")


def cache_max_bytes() -> int:
    """The cache's size cap in bytes (``$TALKINGFACE_CACHE_MAX_GB``, default 20 GiB)."""
    raw = os.environ.get(CACHE_MAX_ENV)
    try:
        gib = float(raw) if raw else DEFAULT_MAX_GB
    except ValueError:
        raise ValueError(f"${CACHE_MAX_ENV} must be a number of GiB, got {raw!r}") from None
    return int(gib * 1024**3)


def evict(cache_dir: Path, max_bytes: int, keep: Path | None = None, grace_s: float = EVICT_GRACE_S) -> int:
    """Delete least recently used entries of ``cache_dir`` until it holds at most ``max_bytes``.

    Last use is the mtime of an entry's ``meta.json`` (touched on every hit). ``keep`` and entries used
    within ``grace_s`` seconds stay. Returns the number of bytes freed.
    """
    entries = []
    for meta in Path(cache_dir).glob("s3/*/*/meta.json"):
        try:
            used = meta.stat().st_mtime
            size = sum(f.stat().st_size for f in (meta.parent / "data").iterdir())
        except FileNotFoundError:  # evicted by another process meanwhile
            continue
        entries.append((used, size, meta.parent))
    total = sum(size for _, size, _ in entries)
    freed, now = 0, time.time()
    for used, size, entry in sorted(entries):
        if total - freed <= max_bytes:
            break
        if entry == keep or now - used < grace_s:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        freed += size
    return freed


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
    root = Path(cache_dir or default_cache_dir())
    entry = root / "s3" / loc.bucket / hashlib.sha256(loc.path.encode()).hexdigest()[:32]
    data, meta_path = entry / "data" / loc.name, entry / "meta.json"
    meta = _read_meta(meta_path)
    if (
        meta.get("etag") == etag
        and meta.get("size") == size
        and data.is_file()
        and data.stat().st_size == size
    ):
        os.utime(meta_path)  # last use, for eviction
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
    evict(root, cache_max_bytes(), keep=entry)
    return data
