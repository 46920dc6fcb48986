"""Training data for heads and the expression classifier: clips, splits by clip or actor, window sets."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import TypeVar

import torch
from torch import Tensor

from talkingface.coeffs import EXP_DIM
from talkingface.corpus.labels import EMOTIONS
from talkingface.emotion.windows import sliding_windows, strided_windows

T = TypeVar("T")


def check_betas(betas: Tensor, what: str) -> None:
    """Raise a ``ValueError`` naming ``what`` unless ``betas`` is a finite, non-empty [T, 64] tensor."""
    if not isinstance(betas, Tensor) or betas.ndim != 2 or betas.shape[0] == 0 or betas.shape[1] != EXP_DIM:
        shape = tuple(betas.shape) if isinstance(betas, Tensor) else type(betas).__name__
        raise ValueError(f"{what}: expected betas [T, {EXP_DIM}] with T >= 1, got {shape}")
    if not torch.isfinite(betas).all():
        raise ValueError(f"{what}: betas contain NaN or inf")


@dataclass(frozen=True)
class BetaClip:
    """One training clip: ExpNet betas (source) and the real emotional betas (target) of the same frames."""

    name: str
    source: Tensor  # [T, 64]
    target: Tensor  # [T, 64]
    emotion: str
    intensity: float
    actor: str | None = None

    def __post_init__(self) -> None:
        check_betas(self.source, f"clip {self.name!r} source")
        check_betas(self.target, f"clip {self.name!r} target")
        if self.source.shape != self.target.shape:
            raise ValueError(
                f"clip {self.name!r}: source has {self.source.shape[0]} frames, target {self.target.shape[0]}"
            )
        if self.emotion not in EMOTIONS:
            raise ValueError(f"clip {self.name!r}: emotion {self.emotion!r} is not in {EMOTIONS}")
        if not (math.isfinite(self.intensity) and 0.0 <= self.intensity <= 1.0):
            raise ValueError(f"clip {self.name!r}: intensity {self.intensity!r} is outside [0, 1]")


def split_by_group(
    items: Sequence[T], group: Callable[[T], str], val_fraction: float, seed: int = 0
) -> tuple[list[T], list[T]]:
    """(train, val): a seeded random ``val_fraction`` of the groups goes to val, whole groups only."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    groups = sorted({group(item) for item in items})
    random.Random(seed).shuffle(groups)
    n_val = round(val_fraction * len(groups))
    if val_fraction > 0 and len(groups) > 1:
        n_val = min(max(n_val, 1), len(groups) - 1)
    val_groups = set(groups[:n_val])
    return [i for i in items if group(i) not in val_groups], [i for i in items if group(i) in val_groups]


def split_clips(
    clips: Sequence[BetaClip], val_fraction: float, seed: int = 0, by: str = "clip"
) -> tuple[list[BetaClip], list[BetaClip]]:
    """(train, val) with whole clips (``by="clip"``) or whole actors (``by="actor"``) on one side only."""
    if by not in ("clip", "actor"):
        raise ValueError(f"split by must be 'clip' or 'actor', got {by!r}")
    check_unique(clips)
    if by == "clip":
        return split_by_group(clips, lambda c: c.name, val_fraction, seed)
    return split_by_group(clips, lambda c: c.actor or c.name, val_fraction, seed)


def check_unique(clips: Sequence[BetaClip], other: Sequence[BetaClip] = ()) -> None:
    """Raise if a clip name repeats within ``clips`` or appears in both ``clips`` and ``other``."""
    names = [c.name for c in clips]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"clip names repeat: {repeated[:5]}")
    leaked = sorted(set(names) & {c.name for c in other})
    if leaked:
        raise ValueError(f"clips in both train and validation (windows would leak): {leaked[:5]}")


@dataclass(frozen=True)
class WindowSet:
    """All per-frame training examples of some clips, as stacked tensors."""

    windows: Tensor  # [N, L, 64] source frames t-L+1..t
    targets: Tensor  # [N, 64] target beta of frame t
    emotion: Tensor  # [N] long
    intensity: Tensor  # [N] float

    def __len__(self) -> int:
        return self.targets.shape[0]

    def to(self, device: str | torch.device) -> WindowSet:
        return WindowSet(*(getattr(self, f.name).to(device) for f in fields(self)))

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[WindowSet]:
        """Minibatches in order, or shuffled by ``generator``."""
        order = (
            torch.randperm(len(self), generator=generator)
            if generator is not None
            else torch.arange(len(self))
        )
        for idx in order.to(self.targets.device).split(batch_size):
            yield WindowSet(*(getattr(self, f.name)[idx] for f in fields(self)))


def make_windows(clips: Sequence[BetaClip], frame_len: int, emotions: Sequence[str]) -> WindowSet:
    """Every frame of every clip as (window, target, emotion id, intensity), padded like inference."""
    if not clips:
        raise ValueError("no clips to make windows from")
    ids = {name: i for i, name in enumerate(emotions)}
    unknown = sorted({c.emotion for c in clips} - ids.keys())
    if unknown:
        raise ValueError(f"clip emotion(s) {unknown} are not in the head's vocabulary {tuple(emotions)}")
    return WindowSet(
        windows=torch.cat([sliding_windows(c.source.float(), frame_len) for c in clips]),
        targets=torch.cat([c.target.float() for c in clips]),
        emotion=torch.cat([torch.full((len(c.source),), ids[c.emotion]) for c in clips]),
        intensity=torch.cat([torch.full((len(c.source),), float(c.intensity)) for c in clips]),
    )


@dataclass(frozen=True)
class LabelledWindows:
    """Fixed-length beta windows with an emotion class each (expression-classifier examples)."""

    windows: Tensor  # [N, W, 64]
    labels: Tensor  # [N] long

    def __len__(self) -> int:
        return self.labels.shape[0]

    def to(self, device: str | torch.device) -> LabelledWindows:
        return LabelledWindows(self.windows.to(device), self.labels.to(device))

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[LabelledWindows]:
        """Minibatches in order, or shuffled by ``generator``."""
        order = (
            torch.randperm(len(self), generator=generator)
            if generator is not None
            else torch.arange(len(self))
        )
        for idx in order.to(self.labels.device).split(batch_size):
            yield LabelledWindows(self.windows[idx], self.labels[idx])


def make_labelled_windows(
    sequences: Sequence[tuple[Tensor, str]], window: int, stride: int, emotions: Sequence[str]
) -> LabelledWindows:
    """(betas [T, 64], emotion) sequences -> strided windows, each labelled with its sequence's emotion."""
    if not sequences:
        raise ValueError("no sequences to make classifier windows from")
    ids = {name: i for i, name in enumerate(emotions)}
    parts, labels = [], []
    for i, (betas, emotion) in enumerate(sequences):
        check_betas(betas, f"sequence {i}")
        if emotion not in ids:
            raise ValueError(f"sequence {i}: emotion {emotion!r} is not in {tuple(emotions)}")
        w = strided_windows(betas.float(), window, stride)
        parts.append(w)
        labels.append(torch.full((len(w),), ids[emotion]))
    return LabelledWindows(torch.cat(parts), torch.cat(labels))
