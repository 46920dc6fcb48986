"""Train / val / test split by actor: no speaker is in two splits. Shared by the train and tune jobs."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import storage

SPLITS = ("train", "val", "test")


def actor_key(dataset: str, actor: str) -> str:
    """A corpus-wide actor id (actor ids repeat across datasets)."""
    return f"{dataset}/{actor}"


@dataclass(frozen=True)
class ActorSplit:
    """Sorted actor keys (``dataset/actor``) of each split."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def of(self, key: str) -> str | None:
        """The split holding actor ``key`` (None: an actor the split has never seen)."""
        return next((name for name in SPLITS if key in getattr(self, name)), None)

    def to_json(self) -> dict[str, list[str]]:
        return {name: list(keys) for name, keys in asdict(self).items()}


def split_actors(
    keys: Iterable[str], val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> ActorSplit:
    """A seeded split of whole actors. With 3+ actors val and test get at least one each (when their
    fraction is > 0) and train keeps at least one; with fewer, train comes first, then test."""
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise ValueError(
            f"val/test fractions must be >= 0 and sum below 1, got {val_fraction}, {test_fraction}"
        )
    actors = sorted(set(keys))
    if not actors:
        raise ValueError("no actors to split")
    random.Random(seed).shuffle(actors)
    n = len(actors)
    n_test = round(test_fraction * n) or (1 if test_fraction > 0 and n >= 2 else 0)
    n_val = round(val_fraction * n) or (1 if val_fraction > 0 and n >= 3 else 0)
    while n_test + n_val > n - 1:  # train keeps at least one actor
        if n_val:
            n_val -= 1
        else:
            n_test -= 1
    test, val, train = actors[:n_test], actors[n_test : n_test + n_val], actors[n_test + n_val :]
    return ActorSplit(tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(test)))


def clip_actors(features: str) -> dict[str, str]:
    """clip_id -> actor key, from the extraction output's clips table (labels only)."""
    table = storage.read_table(storage.join(features, "clips"), columns=["clip_id", "dataset", "actor"])
    rows = table.to_pydict()
    return {
        clip: actor_key(dataset, actor)
        for clip, dataset, actor in zip(rows["clip_id"], rows["dataset"], rows["actor"], strict=True)
    }


def split_clips(
    features: str, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> tuple[ActorSplit, dict[str, str]]:
    """The actor split of an extraction output and each clip's split name (clip_id -> split)."""
    actors = clip_actors(features)
    split = split_actors(actors.values(), val_fraction, test_fraction, seed)
    return split, {clip: split.of(key) for clip, key in actors.items()}


def split_pairs(
    pairs: str, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> ActorSplit:
    """The actor split of a head_pairs table (``ensure_head_pairs``' URI), read from its label columns."""
    labels = storage.read_table(pairs, columns=["dataset", "actor"]).to_pydict()
    keys = (actor_key(d, a) for d, a in zip(labels["dataset"], labels["actor"], strict=True))
    return split_actors(keys, val_fraction, test_fraction, seed)
