"""A bound on a safetensors file's header, checked from its first 8 bytes before anything else is read.

A safetensors file starts with a little-endian u64 N, then N bytes of JSON header, then the tensor data.
An untrusted file can claim any N; we refuse one larger than :data:`MAX_HEADER_BYTES` (the official
SadTalker checkpoints' headers are about 0.2 MB for 1,743 tensors) or larger than the file itself, so a
hostile or truncated file fails at once with a clear error instead of a large read or allocation.
"""

from __future__ import annotations

import struct
from pathlib import Path

MAX_HEADER_BYTES = 16 * 1024 * 1024


class UnsafeSafetensorsError(ValueError):
    """A file whose safetensors header is missing, oversized or longer than the file."""


def check_safetensors_header(path: str | Path, max_header_bytes: int = MAX_HEADER_BYTES) -> int:
    """The header length of the safetensors file ``path``; raise before reading it if it is out of bounds."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8:
        raise UnsafeSafetensorsError(f"{path}: {size} bytes, too short for a safetensors header (truncated?)")
    (length,) = struct.unpack("<Q", head)
    if length > max_header_bytes:
        raise UnsafeSafetensorsError(
            f"{path}: safetensors header claims {length} bytes, over the {max_header_bytes}-byte limit "
            "(not a safetensors file, or a hostile one); refusing to read it"
        )
    if length > size - 8:
        raise UnsafeSafetensorsError(
            f"{path}: safetensors header claims {length} bytes but the file has only {size - 8} after "
            "the length field (truncated or not a safetensors file)"
        )
    return length
