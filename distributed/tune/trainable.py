"""The Tune function trainable: one head trained epoch by epoch, reporting the validation loss.

The clips arrive once through the object store (``tune.with_parameters``); the trial cuts its own
FRAME_LEN windows from them. Each epoch's report carries a checkpoint (the head as a model directory
plus the optimiser state), so a restored trial continues from its last epoch.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from ray import tune
from safetensors.torch import load_file

from distributed.tune.data import PairSet
from distributed.tune.space import trial_head_config, trial_train_config
from talkingface.emotion.checkpoint import WEIGHTS_FILE, save_module
from talkingface.emotion.heads import build_head
from talkingface.emotion.train import EVAL_BATCH, head_loss, make_optimizer, mean_loss, train_epoch

STATE_FILE = "trainer.pt"
METRIC = "val_loss"
WALL_TIME = "wall_time"  # seconds since the epoch at each report (Tune's own timestamp is whole seconds)


@dataclass(frozen=True)
class TrialSettings:
    """What every trial shares besides the data."""

    max_epochs: int
    seed: int
    threads: int = 1  # torch intra-op threads (the trial's CPU share)
    use_gpu: bool = False  # trials were given (fractional) GPUs


def _resume(head: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Load the last checkpoint of this trial, if any; returns the number of epochs already done."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return 0
    with checkpoint.as_directory() as directory:
        head.load_state_dict(load_file(str(Path(directory) / WEIGHTS_FILE)))
        state = torch.load(Path(directory) / STATE_FILE, weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"])


def head_trial(params: dict[str, Any], data: PairSet, settings: TrialSettings) -> None:
    """Train the head ``params`` describe for up to ``max_epochs``, reporting ``val_loss`` every epoch."""
    torch.set_num_threads(settings.threads)
    device = "cuda" if settings.use_gpu else "cpu"
    torch.manual_seed(settings.seed)
    head = build_head(trial_head_config(params)).to(device)
    train_config = trial_train_config(params, settings.seed, device)
    optimizer = make_optimizer(head, train_config)
    start = _resume(head, optimizer)
    frame_len = head.config.frame_len
    train, val = data.windows("train", frame_len).to(device), data.windows("val", frame_len).to(device)
    for epoch in range(start, settings.max_epochs):
        generator = torch.Generator().manual_seed(settings.seed * 100_003 + epoch)
        batches = train.batches(train_config.batch_size, generator)
        train_loss = train_epoch(head, optimizer, batches, head_loss, train_config.max_grad_norm)
        val_loss = mean_loss(head, val.batches(EVAL_BATCH), head_loss)
        with tempfile.TemporaryDirectory(prefix="head-trial-") as directory:
            save_module(head, directory)
            torch.save(
                {"optimizer": optimizer.state_dict(), "epoch": epoch + 1}, Path(directory) / STATE_FILE
            )
            tune.report(
                {METRIC: val_loss, "train_loss": train_loss, "epoch": epoch + 1, WALL_TIME: time.time()},
                checkpoint=tune.Checkpoint.from_directory(directory),
            )
