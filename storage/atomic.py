"""Atomic replacement of a local file: write a hidden sibling temp file, fsync, rename over the target."""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

_STAGING = re.compile(r"^\..*\.tmp-[0-9a-f]{12}(\.[^.]*)?$")


def is_staging_name(name: str) -> bool:
    """Whether a file name is an in-flight (or crashed) staging file of :func:`local_atomic_path`."""
    return _STAGING.match(name) is not None


@contextlib.contextmanager
def local_atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temp path next to ``final``; on success fsync and rename it over ``final``, else remove it.

    The temp name is hidden and keeps ``final``'s suffix (for tools that sniff the extension). Readers
    of ``final`` see the old content or the complete new content, never a mix.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(f".{final.stem}.tmp-{uuid.uuid4().hex[:12]}{final.suffix}")
    try:
        yield temp
        if not temp.is_file():
            raise FileNotFoundError(f"nothing was written to the staging file for {final}")
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
