"""Head training pairs: ExpNet's betas for every extracted clip's audio vs the clip's video betas.

A Ray Data actor stage runs ExpNet (loaded once per actor) on each clip's mel windows, with the clip's
first video frame as reference expression and SadTalker's seeded blink ratio, and commits one
``head_pairs`` Parquet file per clip under a cache prefix keyed by the ExpNet weights' hash::

    <cache>/<dataset>/<clip_id>.parquet       default cache: <features>/head_pairs/<hash>/

Reruns reuse committed clips and compute only new ones (a grown corpus, a crashed run).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import ray

import storage
from distributed.extract.layout import PARQUET, clip_files, clips_uri
from storage.schemas import CLIPS_SCHEMA, HEAD_PAIRS_SCHEMA, to_table
from talkingface.training.expnet import STAND_IN, load_expnet_source, predict_clip, state_hash

BETAS_COLUMNS = ["clip_id", "dataset", "emotion", "intensity", "n_frames", "exp", "mels"]


def expnet_id(expnet_checkpoint: str | None) -> str:
    """The cache key of an ExpNet: sha256 of its weights, or ``'stand-in'``."""
    return STAND_IN if expnet_checkpoint is None else state_hash(load_expnet_source(expnet_checkpoint))


class PairsActor:
    """Actor: ExpNet on one clip per call, committing its head_pairs row; returns a status row."""

    def __init__(self, features: str, cache: str, expnet_checkpoint: str | None, expnet: str, device: str):
        self.features, self.cache, self.expnet = features, cache, expnet
        self.net = load_expnet_source(expnet_checkpoint).to(device)

    def __call__(self, batch: pa.Table) -> dict:
        import torch

        status = {"clip_id": [], "status": [], "error": []}
        for row in storage.from_table(batch):
            clip_id = row["clip_id"]
            try:
                labels = storage.read_table(clips_uri(self.features, row["dataset"], clip_id), CLIPS_SCHEMA)
                exp = torch.from_numpy(np.asarray(row["exp"], np.float32))
                mels = torch.from_numpy(np.asarray(row["mels"], np.float32))
                source = predict_clip(self.net, mels, exp).numpy()
                pair = {k: row[k] for k in ("clip_id", "dataset", "emotion", "intensity", "n_frames")}
                pair.update(actor=labels["actor"][0].as_py(), source_exp=source, target_exp=row["exp"])
                pair["expnet"] = self.expnet
                uri = storage.join(self.cache, row["dataset"], clip_id + PARQUET)
                storage.write_table_atomic(to_table([pair], HEAD_PAIRS_SCHEMA), uri)
                status["status"].append("ok")
                status["error"].append("")
            except Exception as err:  # one bad clip is reported, the others go on
                status["status"].append("error")
                status["error"].append(f"{clip_id}: {type(err).__name__}: {err}")
            status["clip_id"].append(clip_id)
        return status


def ensure_head_pairs(
    features: str,
    expnet_checkpoint: str | None,
    cache: str | None = None,
    *,
    concurrency: int = 1,
    num_cpus: float = 0.5,
    num_gpus: float = 0.0,
) -> str:
    """The URI of the head_pairs table of ``features`` for this ExpNet (computing missing clips first).

    ``expnet_checkpoint``: None = the seeded stand-in ExpNet, else a fine-tuned file or official weights.
    Raises ``RuntimeError`` listing the clips that failed (committed clips stay for the rerun).
    """
    expnet = expnet_id(expnet_checkpoint)
    cache = cache or storage.join(features, "head_pairs", expnet)
    clips = clip_files(storage.join(features, "clips"))  # the clips row commits a clip (jobs.extract)
    betas = {c: uri for c, uri in clip_files(storage.join(features, "betas")).items() if c in clips}
    if not betas:
        raise FileNotFoundError(
            f"no extracted betas under {storage.join(features, 'betas')} (run jobs.extract)"
        )
    done = clip_files(cache)
    pending = sorted(uri for clip, uri in betas.items() if clip not in done)
    if pending:
        fs, _ = storage.arrow_filesystem(pending[0])
        paths = [storage.arrow_filesystem(uri)[1] for uri in pending]
        device = "cuda" if num_gpus > 0 else "cpu"
        ds = ray.data.read_parquet(paths, filesystem=fs, columns=BETAS_COLUMNS)
        ds = ds.map_batches(
            PairsActor,
            fn_constructor_args=(features, cache, expnet_checkpoint, expnet, device),
            batch_size=4,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=concurrency),
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            max_restarts=2,
            max_task_retries=2,
        )
        failed = [row["error"] for row in ds.iter_rows() if row["status"] != "ok"]
        if failed:
            raise RuntimeError(f"ExpNet pairs failed for {len(failed)} clip(s): {failed[:5]}")
    return cache
