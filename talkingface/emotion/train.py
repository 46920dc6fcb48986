"""Single-process training loops for emotion heads and the expression classifier (framework-free).

``train_epoch`` and ``mean_loss`` take any model (e.g. a DDP-wrapped one) and any batch iterator, so a
distributed loop can call them on its own shard; ``train_head`` / ``train_classifier`` are the
single-process drivers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from talkingface.emotion.classifier import ExpressionClassifier
from talkingface.emotion.data import (
    BetaClip,
    LabelledWindows,
    WindowSet,
    check_unique,
    make_labelled_windows,
    make_windows,
)
from talkingface.emotion.heads import Head

EVAL_BATCH = 4096


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None = None  # classifier only


@dataclass
class History:
    """Per-epoch losses; ``baseline_val_loss`` is the identity map's (heads) for reference."""

    epochs: list[EpochStats] = field(default_factory=list)
    baseline_val_loss: float | None = None

    def to_json(self) -> dict:
        return asdict(self)


def head_loss(head: nn.Module, batch: WindowSet) -> Tensor:
    """MSE between the head's prediction and the target beta of each window's last frame."""
    return F.mse_loss(head(batch.windows, batch.emotion, batch.intensity), batch.targets)


def classifier_loss(classifier: nn.Module, batch: LabelledWindows) -> Tensor:
    """Cross-entropy of the classifier's logits against the windows' emotion ids."""
    return F.cross_entropy(classifier(batch.windows), batch.labels)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable,
    loss_fn: Callable[[nn.Module, object], Tensor],
    max_grad_norm: float | None = None,
) -> float:
    """One pass of optimiser steps over ``batches``; returns the example-weighted mean training loss."""
    model.train()
    total, count = 0.0, 0
    for batch in batches:
        loss = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm:
            nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        total += loss.item() * len(batch)
        count += len(batch)
    if count == 0:
        raise ValueError("train_epoch got no batches")
    return total / count


@torch.no_grad()
def mean_loss(model: nn.Module, batches: Iterable, loss_fn: Callable[[nn.Module, object], Tensor]) -> float:
    """Example-weighted mean loss over ``batches`` in eval mode, without gradients."""
    model.eval()
    total, count = 0.0, 0
    for batch in batches:
        total += loss_fn(model, batch).item() * len(batch)
        count += len(batch)
    return total / max(count, 1)


@torch.no_grad()
def accuracy(classifier: nn.Module, data: LabelledWindows) -> float:
    """Fraction of windows whose arg-max class is their label."""
    classifier.eval()
    hits = sum((classifier(b.windows).argmax(-1) == b.labels).sum().item() for b in data.batches(EVAL_BATCH))
    return hits / max(len(data), 1)


def train_head(
    head: Head, train_clips: Sequence[BetaClip], val_clips: Sequence[BetaClip], config: TrainConfig
) -> History:
    """Train ``head`` in place with MSE + AdamW on every frame of ``train_clips``; validate per epoch."""
    check_unique(train_clips, val_clips)
    check_unique(val_clips)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    head.to(config.device)
    cfg = head.config
    train = make_windows(train_clips, cfg.frame_len, cfg.emotions).to(config.device)
    val = make_windows(val_clips, cfg.frame_len, cfg.emotions).to(config.device) if val_clips else None
    history = History()
    if val is not None:
        history.baseline_val_loss = F.mse_loss(val.windows[:, -1], val.targets).item()
    optimizer = make_optimizer(head, config)
    for epoch in range(config.epochs):
        batches = train.batches(config.batch_size, generator)
        train_loss = train_epoch(head, optimizer, batches, head_loss, config.max_grad_norm)
        val_loss = mean_loss(head, val.batches(EVAL_BATCH), head_loss) if val is not None else None
        history.epochs.append(EpochStats(epoch, train_loss, val_loss))
    return history


def train_classifier(
    classifier: ExpressionClassifier,
    train_sequences: Sequence[tuple[Tensor, str]],
    val_sequences: Sequence[tuple[Tensor, str]],
    config: TrainConfig,
) -> History:
    """Train the expression classifier in place on (real betas [T, 64], emotion) sequences."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    classifier.to(config.device)
    cfg = classifier.config
    train = make_labelled_windows(train_sequences, cfg.window, cfg.stride, cfg.emotions).to(config.device)
    val = None
    if val_sequences:
        val = make_labelled_windows(val_sequences, cfg.window, cfg.stride, cfg.emotions).to(config.device)
    history = History()
    optimizer = make_optimizer(classifier, config)
    for epoch in range(config.epochs):
        batches = train.batches(config.batch_size, generator)
        train_loss = train_epoch(classifier, optimizer, batches, classifier_loss, config.max_grad_norm)
        if val is None:
            history.epochs.append(EpochStats(epoch, train_loss, None))
            continue
        val_loss = mean_loss(classifier, val.batches(EVAL_BATCH), classifier_loss)
        history.epochs.append(EpochStats(epoch, train_loss, val_loss, accuracy(classifier, val)))
    return history
