"""A golden set: the tensors, their JSON description, the checkpoint manifest and the weight rule."""

from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import torch
from safetensors.torch import load_file


@dataclass
class GoldenSet:
    """Everything in an oracle folder that a parity check needs.

    ``tensors`` maps golden names (``a2e.exp``...) to tensors; ``meta`` is the ``.json`` beside the
    golden file (seeds, pose style, landmark parameters, input file names).
    """

    path: Path
    tensors: dict[str, torch.Tensor]
    meta: dict
    manifest: dict
    weight_rule: ModuleType
    _weights: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, golden_file: str | Path) -> GoldenSet:
        path = Path(golden_file).resolve()
        folder = path.parent
        meta_file = path.with_suffix(".json")
        for needed in (path, meta_file, folder / "manifest.json", folder / "weight_rule.py"):
            if not needed.is_file():
                raise FileNotFoundError(
                    f"parity needs {needed} (golden file, its .json, manifest.json, weight_rule.py)"
                )
        return cls(
            path=path,
            tensors=load_file(str(path)),
            meta=json.loads(meta_file.read_text()),
            manifest=json.loads((folder / "manifest.json").read_text()),
            weight_rule=_load_module(folder / "weight_rule.py"),
        )

    @property
    def folder(self) -> Path:
        return self.path.parent

    def input_file(self, key: str) -> Path:
        """An input named in the golden json (``wav``, ``png``), resolved next to the golden file."""
        return self.folder / self.meta[key]

    def weights(self, part: str) -> dict[str, torch.Tensor]:
        """The rule-generated state dict of a manifest part (keys without the part prefix), cached."""
        if part not in self._weights:
            self._weights[part] = self.weight_rule.make_state_dict(self.manifest[part])
        return self._weights[part]

    def checkpoint_state(self, part: str) -> dict[str, torch.Tensor]:
        """The part's rule weights keyed as in the official file (prefix included)."""
        prefix = self.manifest[part]["prefix"]
        return {prefix + k: v for k, v in self.weights(part).items()}


@functools.cache
def _load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_weight_rule_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
