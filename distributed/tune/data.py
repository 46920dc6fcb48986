"""The head-search data: a head_pairs table read once into flat per-clip arrays, split by actor.

``PairSet`` is what every trial shares (one object-store copy); ``windows`` cuts the FRAME_LEN windows
of one split inside a trial, padded like inference (``talkingface.emotion.windows.sliding_windows``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from distributed.train.splits import actor_key, split_actors
from storage.schemas import EXP_DIM, HEAD_PAIRS_SCHEMA, check_schema
from storage.tables import read_table
from talkingface.corpus.labels import EMOTIONS
from talkingface.emotion.cli import UNKNOWN_INTENSITY
from talkingface.emotion.data import WindowSet


@dataclass(frozen=True)
class PairSet:
    """All usable clips of a head_pairs table as flat arrays (frames of clip i: ``starts[i]:starts[i+1]``)."""

    clip_ids: tuple[str, ...]
    actors: tuple[str, ...]
    source: np.ndarray  # [F, 64] float32, F = total frames
    target: np.ndarray  # [F, 64] float32
    starts: np.ndarray  # [C+1] int64 clip offsets into the frame axis
    emotion: np.ndarray  # [C] int64 index into EMOTIONS
    intensity: np.ndarray  # [C] float32 on the [0, 1] scale
    split: tuple[str, ...]  # [C] "train" / "val" / "test"

    def clips(self, split: str) -> np.ndarray:
        """Indices of the clips in ``split``."""
        return np.array([i for i, s in enumerate(self.split) if s == split], dtype=np.int64)

    def frames(self, split: str) -> int:
        idx = self.clips(split)
        return int((self.starts[idx + 1] - self.starts[idx]).sum())

    def windows(self, split: str, frame_len: int) -> WindowSet:
        """Every frame of the clips in ``split`` as (window [N, L, 64], target, emotion, intensity)."""
        idx = self.clips(split)
        if len(idx) == 0:
            raise ValueError(f"the {split} split has no clips")
        first = np.concatenate([np.full(self.starts[i + 1] - self.starts[i], self.starts[i]) for i in idx])
        frame = np.concatenate([np.arange(self.starts[i], self.starts[i + 1]) for i in idx])  # [N]
        gather = np.maximum(frame[:, None] - (frame_len - 1) + np.arange(frame_len)[None, :], first[:, None])
        counts = self.starts[idx + 1] - self.starts[idx]
        return WindowSet(
            windows=torch.from_numpy(self.source[gather]),  # [N, L, 64]
            targets=torch.from_numpy(self.target[frame]),  # [N, 64]
            emotion=torch.from_numpy(np.repeat(self.emotion[idx], counts)),
            intensity=torch.from_numpy(np.repeat(self.intensity[idx], counts)),
        )


@dataclass(frozen=True)
class LoadedPairs:
    """The usable clips, and one readable reason per skipped clip (``clip_id -> reason``)."""

    pairs: PairSet
    skipped: dict[str, str]


def _frames(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A ``list<fixed_size_list<float32, 64>>`` column -> ([F, 64] frames, [C+1] row offsets)."""
    lists = column.combine_chunks()
    offsets = lists.offsets.to_numpy().astype(np.int64)
    flat = lists.flatten().flatten().to_numpy(zero_copy_only=False)  # honours slices at both levels
    return np.asarray(flat, np.float32).reshape(-1, EXP_DIM), offsets - offsets[0]


def _clip_problem(row: dict, source: np.ndarray, target: np.ndarray) -> str | None:
    if row["emotion"] not in EMOTIONS:
        return f"emotion {row['emotion']!r} is not in {EMOTIONS}"
    if len(source) != row["n_frames"] or len(target) != row["n_frames"]:
        return f"n_frames {row['n_frames']} but source has {len(source)}, target {len(target)} frames"
    if row["n_frames"] < 1:
        return "no frames"
    if not (np.isfinite(source).all() and np.isfinite(target).all()):
        return "source_exp or target_exp contain NaN or inf"
    intensity = row["intensity"]
    if intensity is not None and not (math.isfinite(intensity) and 0.0 <= intensity <= 1.0):
        return f"intensity {intensity!r} is outside [0, 1]"
    return None


def load_pairs(uri: str, val_fraction: float, test_fraction: float, seed: int = 0) -> LoadedPairs:
    """Read the head_pairs table at ``uri`` once; bad clips are skipped with a reason, the rest split."""
    table = read_table(uri)
    try:
        check_schema(table, HEAD_PAIRS_SCHEMA)
    except ValueError as err:
        raise ValueError(f"{uri}: {err}") from None
    if table.num_rows == 0:
        raise ValueError(f"{uri}: the head_pairs table has no rows")
    meta = table.select(["clip_id", "dataset", "actor", "emotion", "intensity", "n_frames"]).to_pylist()
    source, source_off = _frames(table["source_exp"])
    target, target_off = _frames(table["target_exp"])
    if pc.count_distinct(table["clip_id"]).as_py() != table.num_rows:
        raise ValueError(f"{uri}: clip_id values repeat (windows of one clip would be counted twice)")
    keep, skipped = [], {}
    for i, row in enumerate(meta):
        problem = _clip_problem(
            row, source[source_off[i] : source_off[i + 1]], target[target_off[i] : target_off[i + 1]]
        )
        if problem is None:
            keep.append(i)
        else:
            skipped[row["clip_id"]] = problem
    if not keep:
        raise ValueError(
            f"{uri}: no usable clips ({len(skipped)} skipped, e.g. {next(iter(skipped.items()))})"
        )
    actors = [actor_key(meta[i]["dataset"], meta[i]["actor"]) for i in keep]
    split = split_actors(actors, val_fraction, test_fraction, seed)
    lengths = np.array([meta[i]["n_frames"] for i in keep], dtype=np.int64)
    pairs = PairSet(
        clip_ids=tuple(meta[i]["clip_id"] for i in keep),
        actors=tuple(actors),
        source=np.concatenate([source[source_off[i] : source_off[i + 1]] for i in keep]),
        target=np.concatenate([target[target_off[i] : target_off[i + 1]] for i in keep]),
        starts=np.concatenate([[0], np.cumsum(lengths)]),
        emotion=np.array([EMOTIONS.index(meta[i]["emotion"]) for i in keep], dtype=np.int64),
        intensity=np.array(
            [UNKNOWN_INTENSITY if meta[i]["intensity"] is None else meta[i]["intensity"] for i in keep],
            dtype=np.float32,
        ),
        split=tuple(split.of(a) for a in actors),
    )
    return LoadedPairs(pairs, skipped)
