"""Ray Data UDFs that cut training examples out of per-clip rows (pyarrow batches -> numpy columns)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import torch

import storage
from distributed.train.splits import actor_key
from talkingface.emotion.windows import sliding_windows, strided_windows
from talkingface.training.posevae import pose_chunks

UNKNOWN_INTENSITY = 2 / 3  # an ungraded emotional clip (CREMA-D XX) counts as medium, as `heads train`


def _f32(value) -> torch.Tensor:
    return torch.from_numpy(np.asarray(value, np.float32))


def _stack(parts: list[np.ndarray], empty: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros((0, *empty), dtype)


def head_windows(
    batch: pa.Table, frame_len: int, emotions: list[str], actors: list[str]
) -> dict[str, np.ndarray]:
    """head_pairs rows of ``actors`` -> one example per frame: FRAME_LEN window of ExpNet betas
    [N, L, 64], the video beta of its last frame [N, 64], emotion id [N] and intensity [N]."""
    keep, ids = set(actors), {name: i for i, name in enumerate(emotions)}
    win, tgt, emo, level = [], [], [], []
    for row in storage.from_table(batch):
        if actor_key(row["dataset"], row["actor"]) not in keep or row["emotion"] not in ids:
            continue
        n = int(row["n_frames"])
        win.append(sliding_windows(_f32(row["source_exp"]), frame_len).numpy())
        tgt.append(np.asarray(row["target_exp"], np.float32))
        emo.append(np.full(n, ids[row["emotion"]], np.int64))
        intensity = UNKNOWN_INTENSITY if row["intensity"] is None else row["intensity"]
        level.append(np.full(n, intensity, np.float32))
    return {
        "window": _stack(win, (frame_len, 64)),
        "target": _stack(tgt, (64,)),
        "emotion": _stack(emo, (), np.int64),
        "intensity": _stack(level, ()),
    }


def classifier_windows(batch: pa.Table, window: int, stride: int, emotions: list[str], actors: list[str]):
    """head_pairs rows of ``actors`` -> strided windows of video betas [N, W, 64] and emotion ids [N]."""
    keep, ids = set(actors), {name: i for i, name in enumerate(emotions)}
    wins, labels = [], []
    for row in storage.from_table(batch):
        if actor_key(row["dataset"], row["actor"]) in keep and row["emotion"] in ids:
            w = strided_windows(_f32(row["target_exp"]), window, stride).numpy()
            wins.append(w)
            labels.append(np.full(len(w), ids[row["emotion"]], np.int64))
    return {"windows": _stack(wins, (window, 64)), "labels": _stack(labels, (), np.int64)}


def expnet_chunks(batch: pa.Table, chunk: int, clips: dict[str, str], split: str) -> dict[str, np.ndarray]:
    """betas rows of ``split`` -> chunks of ``chunk`` consecutive frames: mel windows [N, S, 1280], the
    clip's first-frame exp [N, 64] (SadTalker's reference) and the video exp [N, S, 64]."""
    mels, refs, targets = [], [], []
    for row in storage.from_table(batch):
        if clips.get(row["clip_id"]) != split:
            continue
        exp = _f32(row["exp"])
        both = torch.cat([_f32(row["mels"]), exp], dim=1)  # [T, 1280 + 64]
        w = strided_windows(both, chunk, chunk).numpy()  # [N, S, 1344]
        mels.append(w[..., :-64])
        targets.append(w[..., -64:])
        refs.append(np.repeat(exp[:1].numpy(), len(w), axis=0))
    return {
        "mels": _stack(mels, (chunk, 1280)),
        "ref": _stack(refs, (64,)),
        "target": _stack(targets, (chunk, 64)),
    }


def pose_examples(
    batch: pa.Table, seq_len: int, clips: dict[str, str], split: str, styles: dict[str, int]
) -> dict[str, np.ndarray]:
    """betas rows of ``split`` -> PoseVAE chunks: ref pose [N, 6], motion [N, S, 6] (pose minus the first
    frame's), mel windows [N, S, 1280] and the pose-style class [N] of the clip."""
    refs, motions, mels, classes = [], [], [], []
    for row in storage.from_table(batch):
        if clips.get(row["clip_id"]) != split or row["clip_id"] not in styles:
            continue
        pose = torch.cat([_f32(row["angle"]), _f32(row["trans"])], dim=1)  # [T, 6]
        ref, motion, mel = pose_chunks(pose, _f32(row["mels"]), seq_len)
        refs.append(ref.numpy())
        motions.append(motion.numpy())
        mels.append(mel.numpy())
        classes.append(np.full(len(ref), styles[row["clip_id"]], np.int64))
    return {
        "ref": _stack(refs, (6,)),
        "motion": _stack(motions, (seq_len, 6)),
        "mels": _stack(mels, (seq_len, 1280)),
        "cls": _stack(classes, (), np.int64),
    }
