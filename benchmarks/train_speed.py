"""Training job throughput: head-training samples/s with 1 vs 2 Ray Train workers, and the data path's
rows/s (Ray Data read + window cut + ``iter_torch_batches`` vs in-memory tensors), in one run.

    PYTHONPATH=. .venv/bin/python benchmarks/train_speed.py [--actors 8] [--frames 100] [--epochs 3]

Data: the planted features of ``distributed.train.planted`` (one clip per actor and emotion). Samples/s
come from the job's own per-epoch timings (epochs after the first; worker start-up excluded) and count
FRAME_LEN windows; the baseline of the data path is ``WindowSet.batches`` over tensors already in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

import storage
from distributed.runtime import init_ray
from distributed.train import TrainJobConfig, run_training
from distributed.train.planted import planted_features
from distributed.train.run import read_files
from distributed.train.splits import actor_key
from distributed.train.windows import head_windows
from talkingface.corpus.labels import EMOTIONS
from talkingface.emotion.data import BetaClip, make_windows

BATCH = 256


def ray_data_rows_per_s(pairs: str, actors: list[str], frame_len: int) -> float:
    """Rows/s of one pass of FRAME_LEN windows through Ray Data (read, window cut, torch batches)."""
    start = time.perf_counter()
    ds = read_files(sorted(storage.list_uris(pairs))).map_batches(
        head_windows,
        fn_kwargs={"frame_len": frame_len, "emotions": list(EMOTIONS), "actors": actors},
        batch_format="pyarrow",
        batch_size=4,
    )
    rows = sum(len(b["target"]) for b in ds.iter_torch_batches(batch_size=BATCH))
    return rows / (time.perf_counter() - start)


def data_rows_per_s(pairs: str, actors: list[str], frame_len: int) -> tuple[float, float, float]:
    """(Ray Data rows/s of a first (cold: worker start-up) and a second pass, in-memory rows/s)."""
    cold = ray_data_rows_per_s(pairs, actors, frame_len)
    warm = ray_data_rows_per_s(pairs, actors, frame_len)
    table = storage.from_table(storage.read_table(pairs, storage.HEAD_PAIRS_SCHEMA))
    clips = [
        BetaClip(
            r["clip_id"],
            torch.from_numpy(r["source_exp"]),
            torch.from_numpy(r["target_exp"]),
            r["emotion"],
            2 / 3,
        )
        for r in table
        if actor_key(r["dataset"], r["actor"]) in set(actors)
    ]
    windows = make_windows(clips, frame_len, EMOTIONS)
    start = time.perf_counter()
    rows = sum(len(b) for b in windows.batches(BATCH, torch.Generator().manual_seed(0)))
    return cold, warm, rows / (time.perf_counter() - start)


def samples_per_s(metrics: dict) -> float:
    curves = metrics["curves"][1:] or metrics["curves"]
    return sum(c["samples"] for c in curves) / sum(c["seconds"] for c in curves)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--actors", type=int, default=8)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--head", default="transformer")
    args = parser.parse_args()
    init_ray()
    with tempfile.TemporaryDirectory() as tmp:
        features = planted_features(Path(tmp) / "features", actors=args.actors, frames=args.frames)
        pairs = storage.join(features, "head_pairs", "stand-in")
        actors = sorted({f"cremad/{1001 + i}" for i in range(args.actors)})
        cold, warm, memory_rate = data_rows_per_s(pairs, actors, 5)
        rates = {}
        for workers in (1, 2):
            config = TrainJobConfig(
                model="head", features=features, out=str(Path(tmp) / f"run{workers}"), head=args.head,
                epochs=args.epochs, num_workers=workers, batch_size=BATCH, classifier_epochs=1,
            )  # fmt: skip
            run_training(config)
            metrics = json.loads((Path(config.out) / "model" / "metrics.json").read_text())
            rates[workers] = samples_per_s(metrics)
    result = {
        "head": args.head,
        "windows_per_epoch": args.actors * 3 * args.frames,
        "train_samples_per_s": {"1_worker": round(rates[1], 1), "2_workers": round(rates[2], 1)},
        "speedup_2_vs_1": round(rates[2] / rates[1], 2),
        "data_rows_per_s": {
            "ray_data_first_pass": round(cold, 1),
            "ray_data_second_pass": round(warm, 1),
            "in_memory_baseline": round(memory_rate, 1),
        },
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
