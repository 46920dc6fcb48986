"""Bulk rendering job: end-to-end frames/s with 1 vs 2 render actors, time share per stage, and peak memory
for a short vs a long audio (segments keep it flat), all in one run.

    .venv/bin/python benchmarks/render_batch.py [--short 10] [--long 60] [--size 128] [--model-config tiny]
        [--segment-frames 50] [--batch-size 4] [--checkpoint-dir DIR] [--num-gpus-per-actor 0]

Runs ``run_render`` on a local Ray instance three times, each into a fresh output folder:
  1. the short audio with 1 render actor (the baseline),
  2. the short audio with 2 render actors,
  3. the long audio with 2 render actors.
Frames/s = frames written / wall time of the run (validation, source prep, coefficients, rendering,
encoding, joins, results table: everything). Stage shares come from the results table's per-row seconds
(render and encode summed over segments, so with 2 actors they can exceed the wall time). Peak memory is
the summed PSS of this process and all its descendants (the local Ray processes), sampled every 0.2 s.
Faces: OpenCV boxes + template landmarks (no weights needed); without ``--checkpoint-dir`` every
network runs on stand-in weights.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
import soundfile
from peak_memory import PeakMemory, tree_pss_mib
from PIL import Image

import storage
from distributed.render import RenderBatchConfig, run_render
from distributed.runtime import init_ray

STAGES = ("source_s", "coeffs_s", "render_s", "encode_s", "join_s")


def speechlike(seconds: float) -> np.ndarray:
    """A voiced tone with syllable-rate loudness changes (16 kHz)."""
    t = np.arange(int(seconds * 16000)) / 16000
    pitch = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    voice = sum(np.sin(2 * np.pi * k * np.cumsum(pitch) / 16000) / k for k in (1, 2, 3))
    return (0.2 * voice * np.clip(np.sin(2 * np.pi * 4 * t), 0, None)).astype(np.float32)


def run(args: argparse.Namespace, root: Path, name: str, seconds: float, actors: int) -> dict:
    audio = root / f"{seconds:g}s.wav"
    if not audio.exists():
        soundfile.write(audio, speechlike(seconds), 16000)
    manifest = root / f"{name}.jsonl"
    manifest.write_text(json.dumps({"id": name, "audio": str(audio), "image": str(root / "face.png")}) + "\n")
    config = RenderBatchConfig(
        manifest=str(manifest),
        out=str(root / name),
        model_config=args.model_config,
        checkpoint_dir=args.checkpoint_dir,
        detector="haar",
        landmarks="template",
        size=args.size,
        render_actors=actors,
        segment_frames=args.segment_frames,
        batch_size=args.batch_size,
        num_gpus_per_actor=args.num_gpus_per_actor,
    )
    with PeakMemory(tree_pss_mib) as memory:
        start = time.perf_counter()
        summary = run_render(config)
        wall = time.perf_counter() - start
    row = storage.read_table(summary.results).to_pylist()[0]
    if row["status"] != "rendered":
        raise SystemExit(f"{name}: {row['status']}: {row['error']}")
    stage_total = sum(row[s] for s in STAGES)
    return {
        "run": name,
        "audio_s": seconds,
        "render_actors": actors,
        "frames": row["frames"],
        "wall_s": round(wall, 1),
        "frames_per_s": round(row["frames"] / wall, 2),
        "peak_pss_mib": round(memory.peak),
        "stage_share": {s.removesuffix("_s"): round(row[s] / stage_total, 3) for s in STAGES},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--short", type=float, default=10.0, help="short audio, seconds")
    p.add_argument("--long", type=float, default=60.0, help="long audio, seconds")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--model-config", default="tiny")
    p.add_argument("--checkpoint-dir")
    p.add_argument("--segment-frames", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--num-gpus-per-actor", type=float, default=0.0)
    args = p.parse_args()
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    init_ray(num_cpus=max(4, 2 * (os.cpu_count() or 1)))
    with tempfile.TemporaryDirectory(prefix="render-batch-bench-") as tmp:
        root = Path(tmp)
        Image.fromarray(skimage.data.astronaut()).save(root / "face.png")
        runs = [
            run(args, root, "short-1-actor", args.short, 1),
            run(args, root, "short-2-actors", args.short, 2),
            run(args, root, "long-2-actors", args.long, 2),
        ]
    for r in runs:
        print(json.dumps(r))
    base, two, long = runs
    print(
        f"render-batch ({args.model_config} renderer, {args.size}px, "
        f"segments of {args.segment_frames} frames): "
        f"{base['frames_per_s']} frames/s with 1 render actor (baseline) vs {two['frames_per_s']} with 2 "
        f"({two['frames_per_s'] / base['frames_per_s']:.2f}x); peak memory {two['peak_pss_mib']} MiB for "
        f"{args.short:g} s of audio vs {long['peak_pss_mib']} MiB for {args.long:g} s"
    )


if __name__ == "__main__":
    main()
