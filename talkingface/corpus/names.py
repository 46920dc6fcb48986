"""Helpers shared by the per-dataset name parsers."""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Mapping
from typing import TypeVar

T = TypeVar("T")


class BadName(ValueError):
    """A malformed or unknown file name; the message is the reason reported for it."""


def split_name(path: str) -> tuple[list[str], str, str]:
    """``path`` (local path or URI) -> (folder parts, stem, lower-case extension with dot)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    if not parts:
        raise BadName("empty path")
    stem, ext = posixpath.splitext(parts[-1])
    return parts[:-1], stem, ext.lower()


def check(key: str, allowed: Collection[str], what: str) -> str:
    """``key`` if it is in ``allowed``, else a ``BadName`` listing the accepted values."""
    if key not in allowed:
        raise BadName(f"unknown {what} {key!r} (expected one of {', '.join(allowed)})")
    return key


def lookup(table: Mapping[str, T], key: str, what: str) -> T:
    """``table[key]`` or a ``BadName`` listing the accepted keys."""
    return table[check(key, table, what)]
