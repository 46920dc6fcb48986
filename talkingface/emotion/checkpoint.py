"""Save / load a head or classifier as a directory: ``config.json`` (kind, config) + ``model.safetensors``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from talkingface.emotion.classifier import ClassifierConfig, ExpressionClassifier
from talkingface.emotion.heads import HEADS, Head
from talkingface.weights.safetensors_header import UnsafeSafetensorsError, check_safetensors_header

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MODULES: dict[str, tuple[type, type[nn.Module]]] = {
    **HEADS,
    "classifier": (ClassifierConfig, ExpressionClassifier),
}


def save_module(module: Head | ExpressionClassifier, directory: str | Path) -> Path:
    """Write ``module`` (config and weights) into ``directory`` (created if needed); returns it."""
    kind = next((k for k, (cfg, _) in MODULES.items() if type(module.config) is cfg), None)
    if kind is None:
        raise TypeError(f"cannot save a {type(module).__name__}: not a head or expression classifier")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {"kind": kind, "config": dataclasses.asdict(module.config)}
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE))
    return directory


def load_module(directory: str | Path, device: str | torch.device = "cpu") -> Head | ExpressionClassifier:
    """The module saved in ``directory``, in eval mode on ``device``."""
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for path in (config_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"{directory}: missing {path.name} (not a saved head or classifier)")
    saved = json.loads(config_path.read_text())
    kind = saved.get("kind")
    if kind not in MODULES:
        raise ValueError(f"{config_path}: unknown kind {kind!r} (known: {list(MODULES)})")
    config_cls, module_cls = MODULES[kind]
    names = {f.name for f in dataclasses.fields(config_cls)}
    extra = sorted(set(saved["config"]) - names)
    if extra:
        raise ValueError(f"{config_path}: unknown {kind} config field(s) {extra}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in saved["config"].items()}
    module = module_cls(config_cls(**values))
    try:
        check_safetensors_header(weights_path)
        state = load_file(str(weights_path))
    except (SafetensorError, UnsafeSafetensorsError) as err:
        raise ValueError(f"{weights_path}: unreadable weights ({err})") from None
    module.load_state_dict(state)
    return module.to(device).eval()


def load_head(directory: str | Path, device: str | torch.device = "cpu") -> Head:
    """A saved emotion head (any family)."""
    module = load_module(directory, device)
    if isinstance(module, ExpressionClassifier):
        raise ValueError(f"{directory} holds an expression classifier, not an emotion head")
    return module


def load_classifier(directory: str | Path, device: str | torch.device = "cpu") -> ExpressionClassifier:
    """A saved expression classifier."""
    module = load_module(directory, device)
    if not isinstance(module, ExpressionClassifier):
        raise ValueError(f"{directory} holds an emotion head, not an expression classifier")
    return module
