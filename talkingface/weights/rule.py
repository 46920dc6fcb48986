"""Write "rule weights" checkpoints laid out exactly like SadTalker's official files (tests, demos).

The weights come from the oracle's ``weight_rule.py`` applied to ``manifest.json``; both paths are
explicit because the repository may be used without the oracle folder.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import torch
from safetensors.torch import save_file

from talkingface.weights.registry import layout_parts, part


def load_weight_rule(path: str | Path) -> ModuleType:
    """Import ``weight_rule.py`` from an explicit path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight_rule: no such file {path}")
    spec = importlib.util.spec_from_file_location("talkingface_weight_rule", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rule_state(manifest: dict, rule: ModuleType, name: str) -> dict[str, torch.Tensor]:
    """The rule state dict of one part (keys without prefix)."""
    if name not in manifest:
        known = sorted(k for k, v in manifest.items() if isinstance(v, dict) and "keys" in v)
        raise KeyError(f"manifest has no part {name!r}; it has {known}")
    return rule.make_state_dict(manifest[name])


def write_rule_checkpoints(
    out_dir: str | Path,
    manifest_path: str | Path,
    weight_rule_path: str | Path,
    *,
    size: int = 256,
    legacy: bool = False,
    parts: Iterable[str] | None = None,
) -> list[Path]:
    """Write the official files of a layout filled with rule weights; returns the files written.

    ``parts`` (default: every part of the layout) lets tests write small files holding a subset;
    parts that share an official file are written together into it.
    """
    manifest = json.loads(Path(manifest_path).read_text())
    rule = load_weight_rule(weight_rule_path)
    names = list(parts) if parts is not None else layout_parts(legacy)
    entries = {name: part(name).entry(size, legacy) for name in names}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for file in dict.fromkeys(entry.file for entry in entries.values()):
        in_file = {name: entry for name, entry in entries.items() if entry.file == file}
        path = out / file
        if file.endswith(".safetensors"):
            flat = {}
            for name, entry in in_file.items():
                _check_prefix(manifest, name, entry.prefix)
                flat.update({entry.prefix + k: v for k, v in rule_state(manifest, rule, name).items()})
            save_file(flat, str(path))
        else:
            torch.save(
                {entry.dict_key: rule_state(manifest, rule, name) for name, entry in in_file.items()}, path
            )
        written.append(path)
    return written


def _check_prefix(manifest: dict, name: str, prefix: str) -> None:
    found = manifest.get(name, {}).get("prefix")
    if found != prefix:
        raise ValueError(f"manifest prefix of {name!r} is {found!r}, expected {prefix!r}")
