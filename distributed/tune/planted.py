"""A synthetic head_pairs table with a planted non-linear answer (tests and the speed benchmark).

Source frames are i.i.d. in time and low-rank like real betas: z @ B, z ~ N(0, I_4) per frame. The
target of frame t is the source frame plus ``v * (s**2 - 1)`` with s = z[0] of the previous frame (an
even function, so no linear map of the window can fit it), plus an emotion offset scaled by intensity,
plus noise.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from storage.schemas import EXP_DIM, HEAD_PAIRS_SCHEMA, to_table
from talkingface.corpus.labels import EMOTIONS
from talkingface.emotion.cli import UNKNOWN_INTENSITY

INTENSITIES = (1 / 3, 2 / 3, 1.0, None)
RANK = 4


def planted_pairs(
    n_actors: int = 10, clips_per_actor: int = 8, n_frames: int = 50, noise: float = 0.05, seed: int = 0
) -> pa.Table:
    """A head_pairs table of ``n_actors * clips_per_actor`` clips of ``n_frames`` frames."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(RANK, EXP_DIM)).astype(np.float32) / np.sqrt(RANK)  # [4, 64]
    direction = rng.normal(size=EXP_DIM).astype(np.float32) * 0.7  # [64]
    offsets = rng.normal(size=(len(EMOTIONS), EXP_DIM)).astype(np.float32) * 0.5  # [E, 64]
    rows = []
    for actor in range(n_actors):
        for clip in range(clips_per_actor):
            z = rng.normal(size=(n_frames, RANK)).astype(np.float32)  # [T, 4]
            source = z @ basis  # [T, 64]
            s = np.concatenate([z[:1], z[:-1]])[:, :1]  # [T, 1]: z[0] of frame t-1 (frame 0 repeats, as pads)
            emotion = int(rng.integers(len(EMOTIONS)))
            intensity = INTENSITIES[int(rng.integers(len(INTENSITIES)))]
            level = UNKNOWN_INTENSITY if intensity is None else intensity
            target = source + direction * (s**2 - 1) + offsets[emotion] * level
            target += rng.normal(scale=noise, size=target.shape).astype(np.float32)
            rows.append(
                {
                    "clip_id": f"planted/a{actor:02d}_c{clip:02d}",
                    "dataset": "planted",
                    "actor": f"a{actor:02d}",
                    "emotion": EMOTIONS[emotion],
                    "intensity": intensity,
                    "n_frames": n_frames,
                    "source_exp": source,
                    "target_exp": target.astype(np.float32),
                    "expnet": "planted",
                }
            )
    return to_table(rows, HEAD_PAIRS_SCHEMA)
