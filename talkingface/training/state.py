"""Resumable training state without pickle: tensors in ``state.safetensors``, the rest in ``state.json``.

Modules and optimisers are flattened to ``module.<name>.<key>`` and ``optim.<name>.<index>.<key>``
tensors; optimiser hyper-parameters, non-tensor state and any caller metadata go to JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

TENSORS, META = "state.safetensors", "state.json"


def save_state(
    directory: str | Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    meta: dict[str, Any],
) -> Path:
    """Write modules, optimisers and ``meta`` (JSON-ready) into ``directory``; returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"module.{name}.{key}"] = value.detach().cpu().contiguous()
    optim_json: dict[str, Any] = {}
    for name, optimizer in optimizers.items():
        state = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for index, entry in state["state"].items():
            for key, value in entry.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{name}.{index}.{key}"] = value.detach().cpu().contiguous()
                else:
                    scalars.setdefault(str(index), {})[key] = value
        optim_json[name] = {"param_groups": state["param_groups"], "scalars": scalars}
    save_file(tensors, str(directory / TENSORS))
    (directory / META).write_text(json.dumps({"meta": meta, "optimizers": optim_json}) + "\n")
    return directory


def load_state(
    directory: str | Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
) -> dict[str, Any]:
    """Load what :func:`save_state` wrote into ``modules`` and ``optimizers``; returns the metadata."""
    directory = Path(directory)
    tensors = load_file(str(directory / TENSORS))
    saved = json.loads((directory / META).read_text())
    for name, module in modules.items():
        prefix = f"module.{name}."
        module.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
    for name, optimizer in optimizers.items():
        entry = saved["optimizers"][name]
        state: dict[int, dict[str, Any]] = {}
        prefix = f"optim.{name}."
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, field = key[len(prefix) :].split(".", 1)
                state.setdefault(int(index), {})[field] = value
        for index, scalars in entry["scalars"].items():
            state.setdefault(int(index), {}).update(scalars)
        optimizer.load_state_dict({"state": state, "param_groups": entry["param_groups"]})
    return saved["meta"]
