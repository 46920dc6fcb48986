"""Beta files on disk: ``.pt`` tensors or ``.npy`` arrays, paired across folders by relative path and stem.

A file may hold bare expression betas [T, 64] or whole coefficient rows (70 / 73 / 257 wide: SadTalker's
``coeff_3dmm`` rows or Deep3DFaceRecon outputs); the 64 expression columns are taken by layout. Files are
never unpickled: ``.pt`` goes through ``torch.load(weights_only=True)``, ``.npy`` through
``np.load(allow_pickle=False)``.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from talkingface.coeffs import COEFF_70, COEFF_73, FULL_257
from talkingface.corpus import Rejection, parse
from talkingface.emotion.data import BetaClip, check_betas

SUFFIXES = (".pt", ".npy")
LAYOUTS = {layout.dim: layout for layout in (COEFF_70, COEFF_73, FULL_257)}


def load_betas(path: str | Path) -> Tensor:
    """Expression betas [T, 64] (float32) from a ``.pt`` or ``.npy`` file."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ValueError(f"{path}: beta files must be {' or '.join(SUFFIXES)}")
    try:
        if path.suffix == ".pt":
            data = torch.load(path, map_location="cpu", weights_only=True)
        else:
            data = torch.from_numpy(np.load(path, allow_pickle=False))
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{path}: refused to load (it holds more than tensors and plain data): {err}"
        ) from err
    except (EOFError, RuntimeError, ValueError) as err:  # truncated, not a tensor file, pickled .npy objects
        raise ValueError(f"{path}: unreadable beta file ({err})") from None
    if not isinstance(data, Tensor) or data.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D tensor [T, 64|70|73|257], got {_describe(data)}")
    if data.shape[1] in LAYOUTS:
        data = LAYOUTS[data.shape[1]].get(data, "exp")
    betas = data.detach().float().contiguous()
    check_betas(betas, str(path))
    return betas


def save_betas(path: str | Path, betas: Tensor) -> Path:
    """Write betas [T, 64] to ``path`` (``.pt`` or ``.npy``), creating parent folders."""
    path = Path(path)
    check_betas(betas, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".pt":
        torch.save(betas.detach().cpu().contiguous().clone(), path)
    elif path.suffix == ".npy":
        np.save(path, betas.detach().cpu().numpy())
    else:
        raise ValueError(f"{path}: beta files must be {' or '.join(SUFFIXES)}")
    return path


def find_beta_files(root: str | Path) -> dict[str, Path]:
    """Beta files under ``root`` keyed by relative path without suffix (``"sub/1001_DFA_ANG_XX"``)."""
    root = Path(root)
    if root.is_file():
        return {root.stem: root}
    if not root.is_dir():
        raise FileNotFoundError(f"beta folder {str(root)!r} does not exist")
    found: dict[str, Path] = {}
    for path in sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES and p.is_file()):
        key = path.relative_to(root).with_suffix("").as_posix()
        if key in found:
            raise ValueError(f"{root}: both {found[key].name} and {path.name} hold clip {key!r}")
        found[key] = path
    return found


@dataclass(frozen=True)
class Skipped:
    """A beta file (or pair) left out, and why."""

    path: str
    reason: str

    def to_json(self) -> dict:
        return {"status": "skipped", "path": self.path, "reason": self.reason}


def load_clip_pairs(
    source_root: str | Path,
    target_root: str | Path,
    dataset: str = "auto",
    unknown_intensity: float = 2 / 3,
    max_length_diff: int = 0,
) -> tuple[list[BetaClip], list[Skipped]]:
    """Pair source and target beta files by relative path and stem into labelled ``BetaClip``s.

    Labels come from the corpus parser of each name; an ungraded clip (intensity ``None``) gets
    ``unknown_intensity``. Pairs whose lengths differ by more than ``max_length_diff`` frames are
    skipped, smaller differences are trimmed to the shorter one.
    """
    sources, targets = find_beta_files(source_root), find_beta_files(target_root)
    clips: list[BetaClip] = []
    skipped = [
        Skipped(str(targets[k]), "no source file with this name") for k in sorted(targets.keys() - sources)
    ]
    for key, source_path in sources.items():
        if key not in targets:
            skipped.append(Skipped(str(source_path), "no target file with this name"))
            continue
        label = parse(key + source_path.suffix, dataset, media=False)  # folders count for MEAD's layout
        if isinstance(label, Rejection):
            skipped.append(Skipped(str(source_path), label.reason))
            continue
        source, target = load_betas(source_path), load_betas(targets[key])
        diff = abs(len(source) - len(target))
        if diff > max_length_diff:
            lengths = f"source {len(source)} frames, target {len(target)}"
            skipped.append(
                Skipped(str(source_path), f"length mismatch: {lengths} (max diff {max_length_diff})")
            )
            continue
        n = min(len(source), len(target))
        intensity = unknown_intensity if label.intensity is None else label.intensity
        clips.append(
            BetaClip(key, source[:n], target[:n], label.emotion, intensity, f"{label.dataset}/{label.actor}")
        )
    return clips, skipped


def _describe(data: object) -> str:
    return f"shape {tuple(data.shape)}" if isinstance(data, Tensor) else type(data).__name__
