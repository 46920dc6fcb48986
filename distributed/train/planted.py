"""A synthetic extraction output with planted relations, for the training tests and benchmark.

The video exp follows the mel windows (``tanh(mels @ W)``), the pose drifts with an emotion-dependent
offset, and the stand-in ExpNet's head_pairs cache holds random source betas whose video betas are the
source plus a per-emotion offset: each model has something learnable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import storage
from distributed.extract.layout import betas_uri, clips_uri
from storage.schemas import BETAS_SCHEMA, CLIPS_SCHEMA, HEAD_PAIRS_SCHEMA, to_table

EMOTIONS = ["happy", "sad", "angry"]


def planted_features(root: str | Path, actors: int = 6, frames: int = 40) -> str:
    """clips + betas tables and the stand-in ExpNet's head_pairs cache, with planted relations:
    exp and pose follow the mel windows; the video betas are the source plus an emotion offset."""
    rng = np.random.default_rng(0)
    mel_to_exp = rng.normal(0, 0.05, (1280, 64)).astype(np.float32)
    offsets = {e: rng.normal(0, 1.0, 64).astype(np.float32) for e in EMOTIONS}
    for actor in (str(1001 + i) for i in range(actors)):
        for emotion in EMOTIONS:
            clip_id = f"cremad-{actor}_DFA_{emotion[:3].upper()}_XX"
            mels = rng.normal(0, 1, (frames, 1280)).astype(np.float32)
            exp = np.tanh(mels @ mel_to_exp)
            drift = np.cumsum(rng.normal(0, 0.01, (frames, 6)), 0).astype(np.float32)
            pose = drift + 0.1 * EMOTIONS.index(emotion)
            full = np.zeros((frames, 257), np.float32)
            full[:, 80:144] = exp
            clip = {"clip_id": clip_id, "dataset": "cremad", "actor": actor, "sentence": "DFA"}
            clip |= {"emotion": emotion, "intensity": 2 / 3, "intensity_label": "MD", "fps": 30.0}
            clip |= {"n_frames": frames, "audio_samples": frames * 640}
            clip["source_uri"] = f"/corpus/{clip_id}.flv"
            betas = {k: clip[k] for k in ("clip_id", "dataset", "emotion", "intensity", "n_frames")}
            betas |= {"audio_samples": frames * 640, "exp": exp, "angle": pose[:, :3], "trans": pose[:, 3:]}
            betas |= {"crop": np.zeros((frames, 3), np.float32), "full": full, "mels": mels}
            betas["face_found"] = np.ones(frames, bool)
            source = rng.normal(0, 1, (frames, 64)).astype(np.float32)
            pair = {k: clip[k] for k in ("clip_id", "dataset", "actor", "emotion", "intensity", "n_frames")}
            pair |= {"source_exp": source, "target_exp": source + offsets[emotion], "expnet": "stand-in"}
            out = str(root)
            storage.write_table_atomic(to_table([clip], CLIPS_SCHEMA), clips_uri(out, "cremad", clip_id))
            storage.write_table_atomic(
                to_table([betas], BETAS_SCHEMA), betas_uri(out, "cremad", emotion, clip_id)
            )
            uri = storage.join(out, "head_pairs", "stand-in", "cremad", clip_id + ".parquet")
            storage.write_table_atomic(to_table([pair], HEAD_PAIRS_SCHEMA), uri)
    return str(root)
