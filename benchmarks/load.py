"""Load: a 200-row render-batch (tiny renderer) and a 200-clip extraction on this machine, every row
accounted for, memory flat across the run.

    .venv/bin/python benchmarks/load.py [--rows 200] [--clips 200] [--seconds 0.4] [--only render|extract]

Each job runs once on a local Ray instance while a sampler records (rows finished, summed PSS of this
process and its descendants, the local Ray included) every 0.5 s. Rows finished = committed files
(extraction: clips + error rows; render: mp4 files). Printed: rows accounted for (results / committed
files vs the input), wall time, rows/s, and the peak PSS while the first quarter of the rows finished
(the baseline) vs while the last quarter did: a job that held on to finished rows would grow between
the two. Faces: OpenCV boxes + template landmarks; every network runs on stand-in weights.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import skimage.data
import soundfile
from peak_memory import Timeline, tree_pss_mib
from PIL import Image

import storage
from distributed.extract.config import ExtractConfig
from distributed.extract.pipeline import run_extract
from distributed.render import RenderBatchConfig, run_render
from distributed.runtime import init_ray
from talkingface.synth import make_corpus

FACES = {"detector": "haar", "landmarks": "template"}


def _count(folder: Path, pattern: str) -> Callable[[], int]:
    return lambda: sum(1 for _ in folder.glob(pattern)) if folder.exists() else 0


def _memory_figures(timeline: Timeline, total: int) -> dict:
    quarter = max(1, total // 4)
    first = timeline.peak_between(0, quarter)
    last = timeline.peak_between(total - quarter, total + 1)
    ratio = round(last / max(first, 1e-9), 3)
    return {"peak_pss_mib": round(timeline.peak), "first_quarter_peak_mib": round(first),
            "last_quarter_peak_mib": round(last), "last_vs_first": ratio}  # fmt: skip


def render_load(root: Path, rows: int, seconds: float) -> dict:
    Image.fromarray(skimage.data.astronaut()).save(root / "face.png")
    t = np.arange(int(seconds * 16000)) / 16000
    soundfile.write(root / "a.wav", 0.2 * np.sin(2 * np.pi * 160 * t) * np.sin(9 * t), 16000)
    manifest = root / "manifest.csv"
    lines = [f"r{i:04d},{root / 'a.wav'},{root / 'face.png'},{i}" for i in range(rows)]
    manifest.write_text("id,audio,image,seed\n" + "\n".join(lines) + "\n")
    out = root / "render-out"
    config = RenderBatchConfig(manifest=str(manifest), out=str(out), model_config="tiny", size=128, **FACES)
    start = time.perf_counter()
    with Timeline(tree_pss_mib, _count(out, "*.mp4")) as timeline:
        summary = run_render(config)
    wall = time.perf_counter() - start
    results = storage.read_table(summary.results).to_pylist()
    return {"job": "render-batch", "rows": rows, "results": len(results),
            "distinct_ids": len({r["id"] for r in results}), "rendered": summary.rendered,
            "failed": summary.failed, "mp4_files": _count(out, "*.mp4")(), "wall_s": round(wall, 1),
            "rows_per_s": round(rows / wall, 2), **_memory_figures(timeline, rows)}  # fmt: skip


def extract_load(root: Path, clips: int, seconds: float) -> dict:
    corpus = root / "corpus"
    make_corpus(corpus, n_clips_per_dataset=clips // 2, seconds=seconds, seed=0)
    out = root / "extract-out"
    config = ExtractConfig(corpus=str(corpus), out=str(out), stand_in_weights=True, **FACES)
    done = _count(out, "clips/*/*.parquet")
    errors = _count(out, "errors/*.parquet")
    start = time.perf_counter()
    with Timeline(tree_pss_mib, lambda: done() + errors()) as timeline:
        summary = run_extract(config)
    wall = time.perf_counter() - start
    betas = len(list((out / "betas").rglob("*.parquet")))
    return {"job": "extract", "clips": clips, "scanned": summary.scanned, "succeeded": summary.succeeded,
            "failed": summary.failed + summary.failed_infrastructure, "clips_files": done(),
            "betas_files": betas, "error_files": errors(), "frames": summary.frames, "wall_s": round(wall, 1),
            "clips_per_s": round(clips / wall, 2), **_memory_figures(timeline, clips)}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=200, help="render-batch manifest rows")
    p.add_argument("--clips", type=int, default=200, help="extraction clips (half CREMA-D, half RAVDESS)")
    p.add_argument("--seconds", type=float, default=0.4, help="audio / clip length")
    p.add_argument("--only", choices=("render", "extract"))
    args = p.parse_args()
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    init_ray()
    runs = []
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        if args.only != "extract":
            runs.append(render_load(Path(tmp), args.rows, args.seconds))
        if args.only != "render":
            runs.append(extract_load(Path(tmp), args.clips, args.seconds))
    for r in runs:
        print(json.dumps(r))
    for r in runs:
        n = r.get("rows", r.get("clips"))
        first, last = r["first_quarter_peak_mib"], r["last_quarter_peak_mib"]
        print(
            f"{r['job']}: {n} rows in {r['wall_s']} s; peak PSS {first} MiB while the first quarter "
            f"finished (baseline) vs {last} MiB for the last (x{r['last_vs_first']})"
        )


if __name__ == "__main__":
    main()
