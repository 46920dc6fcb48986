"""Distributed training (Ray Train): ExpNet, emotion heads and PoseVAE from the extracted Parquet."""

from distributed.train.config import TrainJobConfig
from distributed.train.pairs import ensure_head_pairs
from distributed.train.run import run_training
from distributed.train.splits import ActorSplit, split_actors, split_clips, split_pairs

__all__ = [
    "ActorSplit",
    "TrainJobConfig",
    "ensure_head_pairs",
    "run_training",
    "split_actors",
    "split_clips",
    "split_pairs",
]
