"""Parsing, validating and joining storage URIs: plain local paths, ``file://`` URIs and ``s3://bucket/key``.

A parsed URI keeps the form it was given in (plain path, ``file://`` or ``s3://``), so results derived
from it (``join``, listings) come back in the same form.

S3 keys are checked segment by segment: ``.``/``..`` segments, empty segments (``a//b``) and a leading
``/`` (``s3://bucket//other``) are rejected with :class:`UnsafeKeyError`, because the same key would
name a different object (or another bucket) once a client or a local cache normalises it. Plain local
paths given directly may contain ``..`` (they are chosen by the operator), but :func:`join` never lets a
part climb out of its base, for any scheme. :func:`safe_output_key` is the stricter gate for names that
come from data (manifest ids, clip names): they must stay below their output prefix in every reading.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import quote, unquote

Form = Literal["path", "file", "s3"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MAX_KEY_BYTES = 1024


class InvalidUriError(ValueError):
    """A URI that cannot be used (bad syntax, bad bucket name, no object key where one is needed)."""


class UnsupportedSchemeError(InvalidUriError):
    """A URI whose scheme is not one of: plain path, ``file://``, ``s3://``."""


class UnsafeKeyError(InvalidUriError):
    """A key or joined part that would traverse upwards or escape its bucket or base directory."""


@dataclass(frozen=True)
class Location:
    """A parsed storage URI.

    ``form`` is how it was written; ``bucket`` is empty for local locations; ``path`` is the S3 key
    (possibly empty = whole bucket) or the local filesystem path.
    """

    form: Form
    bucket: str
    path: str

    @property
    def is_s3(self) -> bool:
        return self.form == "s3"

    @property
    def uri(self) -> str:
        """The location written back in its original form."""
        if self.form == "s3":
            return f"s3://{self.bucket}/{self.path}"
        if self.form == "file":
            return "file://" + quote(os.path.abspath(self.path))
        return self.path

    @property
    def name(self) -> str:
        """Last path segment (the file name)."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def child(self, *parts: str) -> Location:
        """This location extended by relative ``parts`` (which may contain ``/``)."""
        segments = []
        for part in parts:
            if not isinstance(part, str):
                raise TypeError(
                    f"join parts must be str, got {type(part).__name__} ({part!r}) for {self.uri}"
                )
            if part.startswith("/"):
                raise UnsafeKeyError(f"absolute part {part!r} would escape {self.uri}")
            pieces = [p for p in part.split("/") if p]
            if any(p in (".", "..") for p in pieces):
                raise UnsafeKeyError(f"part {part!r} would traverse out of {self.uri}")
            segments.extend(pieces)
        if not segments:
            return self
        if self.is_s3:
            base = self.path if not self.path or self.path.endswith("/") else self.path + "/"
            key = base + "/".join(segments)
            _check_key(key, f"s3://{self.bucket}/{key}")
            return replace(self, path=key)
        return replace(self, path=os.path.join(self.path, *segments))

    def require_object(self) -> None:
        """Raise unless this names an object (an S3 key or a non-empty local path), not a bucket root."""
        if not self.path or (self.is_s3 and self.path.endswith("/")):
            raise InvalidUriError(f"{self.uri!r} names a bucket or prefix, not an object")


def _check_key(key: str, uri: str) -> None:
    if key.startswith("/"):
        raise UnsafeKeyError(f"key in {uri!r} starts with '/', which would escape the bucket")
    if len(key.encode()) > _MAX_KEY_BYTES:
        raise InvalidUriError(f"key in {uri!r} is longer than {_MAX_KEY_BYTES} bytes")
    if "\x00" in key or "\\" in key:
        raise UnsafeKeyError(f"key in {uri!r} contains a NUL byte or backslash")
    segments = key.split("/")
    if segments and segments[-1] == "":  # one trailing slash marks a prefix
        segments = segments[:-1]
    for segment in segments:
        if segment in ("", ".", ".."):
            raise UnsafeKeyError(f"key in {uri!r} has an unsafe segment {segment!r} (empty, '.' or '..')")


def parse_uri(uri: str | os.PathLike) -> Location:
    """Parse a local path, ``file://`` URI or ``s3://bucket/key`` URI; raise a clear error otherwise."""
    if isinstance(uri, os.PathLike):
        uri = os.fspath(uri)
    if not isinstance(uri, str):
        raise TypeError(f"expected a URI string or path, got {type(uri).__name__}: {uri!r}")
    if not uri:
        raise InvalidUriError("empty URI")
    match = _SCHEME.match(uri)
    if match is None:
        return Location("path", "", uri)
    scheme = match.group(1).lower()
    rest = uri[match.end() :]
    if scheme == "file":
        host, slash, path = rest.partition("/")
        if host not in ("", "localhost") or not slash:
            raise InvalidUriError(f"file URI {uri!r} must be file:///absolute/path (no remote host)")
        return Location("file", "", unquote("/" + path))
    if scheme == "s3":
        bucket, _, key = rest.partition("/")
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise InvalidUriError(f"invalid S3 bucket name {bucket!r} in {uri!r}")
        if key:
            _check_key(key, uri)
        return Location("s3", bucket, key)
    raise UnsupportedSchemeError(
        f"unsupported scheme {scheme!r} in {uri!r}; use a local path, file:// or s3://"
    )


def join(uri: str | os.PathLike, *parts: str) -> str:
    """Join relative ``parts`` onto ``uri``, keeping its form; traversal or absolute parts are rejected."""
    return parse_uri(uri).child(*parts).uri


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE_OR_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _name_problem(name: str) -> str | None:
    """Why ``name`` could leave its prefix when read as a relative key, or None."""
    if _CONTROL.search(name):
        return "contains a NUL or control character"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith(("/", "~")):
        return "is absolute"
    if _DRIVE_OR_SCHEME.match(name) or "://" in name:
        return "looks like a URL or drive (scheme:)"
    segments = name.split("/")
    if any(s in ("", ".", "..") for s in segments):
        return "has an empty, '.' or '..' segment"
    return None


def safe_output_key(prefix: str | os.PathLike, name: str) -> str:
    """``prefix`` joined with ``name`` (a relative key from untrusted data, e.g. a manifest's output name).

    Raises :class:`UnsafeKeyError` naming the input if ``name`` could resolve outside ``prefix`` in any
    layer that reads it: ``..``/``.``/empty segments, absolute paths, ``~``, URLs and drive letters
    (``s3://other/x``, ``file:``, ``C:``), backslashes, NUL and control characters, and the same tricks
    percent-encoded (``%2e%2e%2f``, also double-encoded) or as Unicode look-alikes (``．．``). A local
    result must also stay inside the prefix's real path (no escape through an existing symlink).
    """
    if not isinstance(name, str):
        raise TypeError(f"output name must be str, got {type(name).__name__} ({name!r})")
    if not name:
        raise UnsafeKeyError("empty output name")
    readings, current = [name], name
    for _ in range(3):  # percent-decoding, repeated: double-encoded names decode twice downstream
        decoded = unquote(current)
        if decoded == current:
            break
        readings.append(decoded)
        current = decoded
    readings += [unicodedata.normalize("NFKC", r) for r in list(readings)]
    for reading in readings:
        problem = _name_problem(reading)
        if problem is not None:
            shown = "" if reading == name else f" (read as {reading!r})"
            raise UnsafeKeyError(f"output name {name!r}{shown} {problem}; it must stay below {prefix}")
    base = parse_uri(prefix)
    target = base.child(name)
    if not target.is_s3:
        root = os.path.realpath(base.path)
        if os.path.commonpath([root, os.path.realpath(target.path)]) != root:
            raise UnsafeKeyError(f"output name {name!r} resolves outside {prefix} (through a symlink)")
    return target.uri
