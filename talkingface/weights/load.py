"""Read SadTalker checkpoints (current or legacy layout) and load parts strictly into modules.

A *source* is a checkpoint directory or a single file, as a local path or a storage URI
(``s3://...``, ``file://...``). Every file is opened once for all requested parts: a safetensors
file's header size is bounded before it is read (``safetensors_header``), then the file is
memory-mapped and split by exact key prefix; a legacy ``.pth``/``.pth.tar`` goes through
``torch.load(weights_only=True)`` (never arbitrary unpickling).
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from talkingface.weights.registry import PARTS, Entry, layout_parts, part
from talkingface.weights.safetensors_header import UnsafeSafetensorsError, check_safetensors_header

CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".tar", ".pt")
StateDict = dict[str, torch.Tensor]


class CheckpointError(RuntimeError):
    """A checkpoint file that is missing, unreadable, truncated or lacks a requested part."""


class CheckpointMismatch(CheckpointError):
    """State dict keys/shapes that do not fit a module; lists every missing, unexpected and mis-shaped key."""

    def __init__(
        self,
        what: str,
        missing: list[str],
        unexpected: list[str],
        mis_shaped: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
    ) -> None:
        self.missing, self.unexpected, self.mis_shaped = missing, unexpected, mis_shaped
        lines = [f"checkpoint does not fit {what}:"]
        lines += [f"  missing: {key}" for key in missing]
        lines += [f"  unexpected: {key}" for key in unexpected]
        lines += [f"  shape: {key} checkpoint {got} != module {want}" for key, got, want in mis_shaped]
        super().__init__("\n".join(lines))


def load_state(module: nn.Module, state: Mapping[str, torch.Tensor], what: str = "module") -> None:
    """``module.load_state_dict(state, strict=True)``, but any mismatch raises one CheckpointMismatch."""
    expected = module.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    mis_shaped = [
        (key, tuple(state[key].shape), tuple(value.shape))
        for key, value in expected.items()
        if key in state and tuple(state[key].shape) != tuple(value.shape)
    ]
    if missing or unexpected or mis_shaped:
        raise CheckpointMismatch(what, missing, unexpected, mis_shaped)
    module.load_state_dict(state, strict=True)


def load_part(
    module: nn.Module, source: str | Path, name: str, *, size: int = 256, legacy: bool = False
) -> None:
    """Read part ``name`` from ``source`` and load it strictly into ``module``."""
    load_state(module, read_parts(source, [name], size=size, legacy=legacy)[name], what=f"part {name!r}")


def read_parts(
    source: str | Path, parts: Iterable[str] | None = None, *, size: int = 256, legacy: bool = False
) -> dict[str, StateDict]:
    """State dicts (keys without the part prefix) of ``parts`` from a checkpoint dir or file.

    For a directory, ``parts`` defaults to every part of the layout (``size``/``legacy`` pick the
    files). For a single file it defaults to every part that file holds: for a safetensors file the
    parts whose prefix occurs in it, for a torch file the parts the registry places in a file of
    that name.
    """
    names = list(parts) if parts is not None else None
    for name in names or ():
        part(name)
    if _is_file(source):
        path = _local_file(source)
        return _read_file(path, _entries_in_file(path, names))
    entries = {name: part(name).entry(size, legacy) for name in names or layout_parts(legacy)}
    out: dict[str, StateDict] = {}
    for file in dict.fromkeys(entry.file for entry in entries.values()):
        in_file = {name: entry for name, entry in entries.items() if entry.file == file}
        out.update(_read_file(_local_file(_child(source, file)), in_file))
    return out


def _entries_in_file(path: Path, names: list[str] | None) -> dict[str, Entry]:
    """Which entry each part has in the single file ``path``."""
    if path.name.endswith(".safetensors"):
        candidates = {name: p.current for name, p in PARTS.items() if p.current and p.current.is_safetensors}
        if names is None:
            keys = _safetensors_keys(path)
            names = [n for n, e in candidates.items() if any(k.startswith(e.prefix) for k in keys)]
        wrong = [n for n in names if n not in candidates]
        if wrong:
            raise CheckpointError(f"{path}: parts {wrong} are never stored in a safetensors checkpoint")
        return {name: candidates[name] for name in names}
    by_name = {
        name: entry
        for name, p in PARTS.items()
        for entry in (p.current, p.legacy)
        if entry and not entry.is_safetensors and entry.file == path.name
    }
    if not by_name:
        raise CheckpointError(
            f"{path}: not an official checkpoint file name; cannot tell which parts it holds"
        )
    wrong = [n for n in names or () if n not in by_name]
    if wrong:
        raise CheckpointError(f"{path}: holds parts {sorted(by_name)}, not {wrong}")
    return {name: by_name[name] for name in names or by_name}


def _read_file(path: Path, entries: Mapping[str, Entry]) -> dict[str, StateDict]:
    """Open ``path`` once and extract each entry's state dict."""
    if path.name.endswith(".safetensors"):
        return _read_safetensors(path, entries)
    return _read_torch(path, entries)


def _read_safetensors(path: Path, entries: Mapping[str, Entry]) -> dict[str, StateDict]:
    out = {}
    try:
        check_safetensors_header(path)
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
            for name, entry in entries.items():
                state = {k[len(entry.prefix) :]: f.get_tensor(k) for k in keys if k.startswith(entry.prefix)}
                if not state:
                    raise CheckpointError(f"{path}: no keys start with {entry.prefix!r} (part {name!r})")
                out[name] = state
    except (SafetensorError, UnsafeSafetensorsError) as err:
        raise _corrupt(path, err) from err
    return out


def _read_torch(path: Path, entries: Mapping[str, Entry]) -> dict[str, StateDict]:
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path}: refused to load (it holds more than tensors and plain data): {err}"
        ) from err
    except (EOFError, RuntimeError) as err:
        raise _corrupt(path, err) from err
    if not isinstance(blob, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(blob).__name__}")
    out = {}
    for name, entry in entries.items():
        if entry.dict_key not in blob:
            raise CheckpointError(f"{path}: no entry {entry.dict_key!r} (part {name!r}); has {sorted(blob)}")
        state = blob[entry.dict_key]
        out[name] = {k[len(entry.prefix) :]: v for k, v in state.items() if k.startswith(entry.prefix)}
    return out


def _safetensors_keys(path: Path) -> list[str]:
    try:
        check_safetensors_header(path)
        with safe_open(str(path), framework="pt") as f:
            return list(f.keys())
    except (SafetensorError, UnsafeSafetensorsError) as err:
        raise _corrupt(path, err) from err


def _corrupt(path: Path, err: Exception) -> CheckpointError:
    return CheckpointError(
        f"{path}: unreadable checkpoint, probably truncated or corrupted ({err}); "
        "re-download it with `talkingface models fetch`"
    )


def _is_uri(source: str | Path) -> bool:
    return isinstance(source, str) and "://" in source


def _is_file(source: str | Path) -> bool:
    if _is_uri(source):
        return str(source).rstrip("/").endswith(CHECKPOINT_SUFFIXES)
    return Path(source).is_file()


def _child(source: str | Path, name: str) -> str | Path:
    """A file inside a checkpoint directory (local dir or URI prefix)."""
    return f"{str(source).rstrip('/')}/{name}" if _is_uri(source) else Path(source) / name


def _local_file(source: str | Path) -> Path:
    """A local path for a checkpoint file; URIs go through the storage cache."""
    if _is_uri(source):
        from storage import download_to_cache

        try:
            return download_to_cache(str(source))
        except FileNotFoundError as err:
            raise CheckpointError(f"checkpoint file not found: {source} ({err})") from err
    path = Path(source)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path} (fetch it with `talkingface models fetch`)")
    return path
