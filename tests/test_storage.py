"""Storage layer against local directories and a real (moto) S3 server over HTTP."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import boto3
import pyarrow.fs as pafs
import pytest

from storage import (
    InvalidUriError,
    S3Settings,
    UnsafeKeyError,
    UnsupportedSchemeError,
    UploadConfig,
    arrow_filesystem,
    atomic_output,
    delete,
    download_to_cache,
    exists,
    join,
    list_uris,
    parse_uri,
    put_file_atomic,
    put_fileobj_atomic,
    read_bytes,
    s3_client,
    write_bytes_atomic,
)
from storage.atomic import local_atomic_path
from storage.cache import evict

MiB = 1024 * 1024
SMALL_PARTS = UploadConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=2)


class FailingReader(io.RawIOBase):
    """A non-seekable stream that yields ``good`` bytes and then fails, like a dropped connection."""

    def __init__(self, good: int):
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.left <= 0:
            raise OSError("simulated failure mid-write")
        n = min(len(buffer), self.left)
        buffer[:n] = b"x" * n
        self.left -= n
        return n


@pytest.fixture(params=["path", "file", "s3"])
def root(request, tmp_path) -> str:
    """A writable root in each URI form."""
    if request.param == "s3":
        return f"s3://{request.getfixturevalue('s3_bucket')}/root"
    if request.param == "file":
        return (tmp_path / "root").as_uri()
    return str(tmp_path / "root")


def _s3(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint)


# --- URIs -----------------------------------------------------------------------------------------


def test_join_keeps_form(tmp_path):
    assert join("s3://bkt/a", "b/c.parquet") == "s3://bkt/a/b/c.parquet"
    assert join("s3://bkt/a/", "b") == "s3://bkt/a/b"
    assert join("s3://bkt", "k") == "s3://bkt/k"
    assert join(str(tmp_path), "x", "y.bin") == str(tmp_path / "x" / "y.bin")
    assert join(tmp_path.as_uri(), "sp ace") == (tmp_path / "sp ace").as_uri()
    assert parse_uri((tmp_path / "sp ace").as_uri()).path == str(tmp_path / "sp ace")


@pytest.mark.parametrize(
    "uri",
    ["s3://bkt/a/../b", "s3://bkt/../other/key", "s3://bkt//other/key", "s3://bkt/a/./b", "s3://bkt/a//b"],
)
def test_unsafe_s3_keys_rejected(uri):
    with pytest.raises(UnsafeKeyError, match="s3://bkt/"):
        parse_uri(uri)


@pytest.mark.parametrize("base", ["s3://bkt/a", "/tmp/base", "file:///tmp/base"])
@pytest.mark.parametrize("part", ["../escape", "x/../../escape", "/absolute", "./x"])
def test_join_rejects_traversal(base, part):
    with pytest.raises(UnsafeKeyError, match=re.escape(part)):
        join(base, part)


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        ("gs://bkt/key", UnsupportedSchemeError),
        ("http://host/key", UnsupportedSchemeError),
        ("s3://Bad_Bucket/key", InvalidUriError),
        ("s3://b/key", InvalidUriError),
        ("file://remotehost/x", InvalidUriError),
        ("", InvalidUriError),
    ],
)
def test_bad_uris_rejected(uri, error):
    with pytest.raises(error):
        parse_uri(uri)


def test_writing_to_bucket_root_rejected(s3_bucket):
    with pytest.raises(InvalidUriError, match=f"s3://{s3_bucket}/"):
        write_bytes_atomic(f"s3://{s3_bucket}/", b"x")


def test_arrow_endpoint_from_env_settings():
    assert S3Settings(endpoint_url="http://127.0.0.1:9000").arrow_endpoint() == ("127.0.0.1:9000", "http")
    assert S3Settings().arrow_endpoint() == (None, None)
    with pytest.raises(ValueError, match="ftp://x"):
        S3Settings(endpoint_url="ftp://x").arrow_endpoint()


# --- objects --------------------------------------------------------------------------------------


def test_write_read_exists_delete(root):
    uri = join(root, "dir", "blob.bin")
    assert not exists(uri)
    write_bytes_atomic(uri, b"hello")
    assert exists(uri) and exists(join(root, "dir"))
    assert read_bytes(uri) == b"hello"
    write_bytes_atomic(uri, b"replaced")
    assert read_bytes(uri) == b"replaced"
    delete(uri)
    delete(uri)  # idempotent
    assert not exists(uri)
    with pytest.raises(FileNotFoundError, match=re.escape(uri)):
        read_bytes(uri)


def test_list_uris_is_recursive_and_prefix_is_a_directory(root):
    for name in ["a/1.bin", "a/2.bin", "a/sub/3.bin", "ab/4.bin"]:
        write_bytes_atomic(join(root, name), name.encode())
    listed = list_uris(join(root, "a"))
    assert listed == [join(root, n) for n in ["a/1.bin", "a/2.bin", "a/sub/3.bin"]]
    assert [read_bytes(u) for u in listed] == [b"a/1.bin", b"a/2.bin", b"a/sub/3.bin"]
    assert len(list_uris(root)) == 4
    assert list_uris(join(root, "missing")) == []


def test_local_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out" / "data.bin"
    write_bytes_atomic(str(target), b"old content")
    with pytest.raises(OSError, match="simulated"):
        put_fileobj_atomic(FailingReader(good=3 * MiB), str(target))
    with pytest.raises(OSError, match="simulated"):
        put_fileobj_atomic(FailingReader(good=10), str(tmp_path / "out" / "new.bin"))
    assert target.read_bytes() == b"old content"
    assert os.listdir(target.parent) == ["data.bin"]


@pytest.mark.parametrize("good", [1000, 7 * MiB], ids=["single-put", "multipart"])
def test_s3_failed_upload_leaves_no_object_and_no_parts(s3_endpoint, s3_bucket, good):
    uri = f"s3://{s3_bucket}/out/data.bin"
    calls: list[str] = []
    events = s3_client().meta.events

    def record(model, **_):
        calls.append(model.name)

    events.register("before-call.s3", record)
    try:
        with pytest.raises(OSError, match="simulated"):
            put_fileobj_atomic(FailingReader(good=good), uri, SMALL_PARTS)
    finally:
        events.unregister("before-call.s3", record)
    expected = (
        ["CreateMultipartUpload", "AbortMultipartUpload"] if good > SMALL_PARTS.multipart_threshold else []
    )
    assert [c for c in calls if "Multipart" in c] == expected
    assert not exists(uri)
    assert list_uris(f"s3://{s3_bucket}/") == []
    assert _s3(s3_endpoint).list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_s3_multipart_upload_above_threshold(s3_endpoint, s3_bucket, tmp_path):
    big, small = tmp_path / "big.bin", tmp_path / "small.bin"
    payload = os.urandom(11 * MiB)
    big.write_bytes(payload)
    small.write_bytes(payload[:MiB])
    put_file_atomic(big, f"s3://{s3_bucket}/big.bin", SMALL_PARTS)
    put_file_atomic(small, f"s3://{s3_bucket}/small.bin", SMALL_PARTS)
    client = _s3(s3_endpoint)
    assert client.head_object(Bucket=s3_bucket, Key="big.bin")["ETag"].strip('"').endswith("-3")
    assert "-" not in client.head_object(Bucket=s3_bucket, Key="small.bin")["ETag"]
    assert read_bytes(f"s3://{s3_bucket}/big.bin") == payload


def test_atomic_output_publishes_only_on_success(root, tmp_path):
    uri = join(root, "video.mp4")
    with pytest.raises(RuntimeError, match="encoder crashed"), atomic_output(uri) as path:
        assert path.suffix == ".mp4"
        path.write_bytes(b"partial")
        raise RuntimeError("encoder crashed")
    assert not exists(uri) and list_uris(root) == []
    with atomic_output(uri) as path:
        path.write_bytes(b"complete")
    assert read_bytes(uri) == b"complete" and list_uris(root) == [uri]


# --- cache and pyarrow ----------------------------------------------------------------------------


def test_download_to_cache_hit_and_miss(s3_endpoint, s3_bucket, tmp_path):
    uri = f"s3://{s3_bucket}/models/net.pth"
    write_bytes_atomic(uri, b"version-1")
    cache = tmp_path / "cache"
    first = download_to_cache(uri, cache)
    assert first.read_bytes() == b"version-1" and first.name == "net.pth"
    stamp = first.stat().st_mtime_ns, first.stat().st_ino
    second = download_to_cache(uri, cache)
    assert second == first and (second.stat().st_mtime_ns, second.stat().st_ino) == stamp  # hit
    write_bytes_atomic(uri, b"version-2")  # same size, new ETag
    assert download_to_cache(uri, cache).read_bytes() == b"version-2"  # miss
    missing = f"s3://{s3_bucket}/models/missing.pth"
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        download_to_cache(missing, cache)


def test_download_cache_is_capped_and_evicts_least_recently_used(s3_bucket, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("TALKINGFACE_CACHE_MAX_GB", str(2500 / 1024**3))  # room for two 1000-byte files
    uris = [f"s3://{s3_bucket}/videos/{name}.mp4" for name in "abc"]
    for uri in uris:
        write_bytes_atomic(uri, uri[-5].encode() * 1000)
    a, b = (download_to_cache(uri, cache) for uri in uris[:2])
    # The grace period protects fresh entries: age them, 'a' least recently used, then hit 'b'.
    for path, age in ((a, 300), (b, 200)):
        os.utime(path.parent.parent / "meta.json", (time.time() - age,) * 2)
    assert download_to_cache(uris[1], cache) == b
    c = download_to_cache(uris[2], cache)
    assert not a.exists() and b.read_bytes() == b"b" * 1000 and c.read_bytes() == b"c" * 1000
    assert sum(f.stat().st_size for f in cache.rglob("data/*")) == 2000
    assert download_to_cache(uris[0], cache).read_bytes() == b"a" * 1000  # evicted -> downloaded again
    # Everything is in its grace period now: nothing more is evicted, even above the cap.
    assert evict(cache, 0) == 0 and a.exists() and b.exists() and c.exists()


def test_download_to_cache_default_dir_and_local_passthrough(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("TALKINGFACE_CACHE", str(tmp_path / "envcache"))
    uri = f"s3://{s3_bucket}/a/b.wav"
    write_bytes_atomic(uri, b"RIFF")
    assert download_to_cache(uri).is_relative_to(tmp_path / "envcache")
    local = tmp_path / "local.wav"
    local.write_bytes(b"local")
    assert download_to_cache(str(local)) == local
    assert download_to_cache(local.as_uri()) == local
    assert sorted(p.name for p in (tmp_path / "envcache").rglob("*") if p.is_file()) == ["b.wav", "meta.json"]


def test_arrow_filesystem_interoperates_with_boto3(s3_bucket, tmp_path):
    fs, path = arrow_filesystem(f"s3://{s3_bucket}/arrow/x.bin")
    assert isinstance(fs, pafs.S3FileSystem) and path == f"{s3_bucket}/arrow/x.bin"
    with fs.open_output_stream(path) as out:
        out.write(b"from pyarrow")
    assert read_bytes(f"s3://{s3_bucket}/arrow/x.bin") == b"from pyarrow"
    write_bytes_atomic(f"s3://{s3_bucket}/arrow/y.bin", b"from boto3")
    with fs.open_input_stream(f"{s3_bucket}/arrow/y.bin") as stream:
        assert stream.read() == b"from boto3"
    local_fs, local_path = arrow_filesystem(Path("rel") / "x")
    assert isinstance(local_fs, pafs.LocalFileSystem) and local_path == os.path.abspath("rel/x")


def test_list_uris_skips_in_flight_local_writes(tmp_path):
    done = tmp_path / "done.parquet"
    write_bytes_atomic(str(done), b"complete")
    with local_atomic_path(tmp_path / "busy.parquet") as staging:
        staging.write_bytes(b"partial")
        assert staging.suffix == ".parquet"
        assert list_uris(str(tmp_path)) == [str(done)]
    assert list_uris(str(tmp_path)) == [str(tmp_path / "busy.parquet"), str(done)]
