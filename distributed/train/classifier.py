"""The expression classifier behind Acc_emo, trained in one Ray task on the train actors' video betas."""

from __future__ import annotations

import tempfile
from pathlib import Path

import ray
import torch

from distributed.train.evaluate import module_files
from distributed.train.windows import classifier_windows
from talkingface.emotion.checkpoint import save_module
from talkingface.emotion.classifier import ClassifierConfig, ExpressionClassifier
from talkingface.emotion.data import LabelledWindows
from talkingface.emotion.train import TrainConfig, classifier_loss, make_optimizer, train_epoch


@ray.remote(num_cpus=0.5, max_retries=1)
def train_classifier_task(
    ds: ray.data.Dataset, actors: list[str], epochs: int, seed: int
) -> dict[str, bytes]:
    """Train a classifier on strided windows of ``actors``' video betas; returns its saved files."""
    torch.manual_seed(seed)
    config = ClassifierConfig()
    windows = ds.map_batches(
        classifier_windows,
        fn_kwargs={
            "window": config.window,
            "stride": config.stride,
            "emotions": list(config.emotions),
            "actors": actors,
        },
        batch_format="pyarrow",
        batch_size=8,
    ).materialize()
    classifier = ExpressionClassifier(config)
    train = TrainConfig(epochs=epochs, seed=seed)
    optimizer = make_optimizer(classifier, train)
    for epoch in range(epochs):
        batches = (
            LabelledWindows(b["windows"], b["labels"])
            for b in windows.iter_torch_batches(
                batch_size=train.batch_size, local_shuffle_buffer_size=4096, local_shuffle_seed=seed + epoch
            )
        )
        train_epoch(classifier, optimizer, batches, classifier_loss, train.max_grad_norm)
    with tempfile.TemporaryDirectory() as tmp:
        return module_files(save_module(classifier, Path(tmp)))
