"""Reading per-clip Parquet files with Ray Data: the V2 datasource (Ray's default) vs V1 (the jobs' choice).

    .venv/bin/python benchmarks/parquet_read.py [--files 8] [--frames 25] [--repeats 3]

Writes ``--files`` betas-like tables (one per clip: 64 exp coefficients and 80x16 mel windows per frame),
then on one local Ray instance (2x the cores as logical CPUs, as ``init_ray``) reads them ``--repeats``
times with each datasource: ``read_parquet -> map_batches -> count``. It prints the seconds of every read
and the worker processes Ray started for them (V2 lists files with a pool of ``FooterReader`` actors,
each a fresh process). ``distributed.runtime.configure_data_context`` picks V1 for every job.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray
import ray.data

from distributed.runtime import init_ray


def write_clips(root: Path, files: int, frames: int) -> list[str]:
    """``files`` Parquet files of one clip row each; their paths."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(files):
        table = pa.table(
            {
                "clip_id": [f"clip{i}"],
                "exp": [rng.standard_normal((frames, 64), np.float32).tolist()],
                "mels": [rng.standard_normal((frames, 1280), np.float32).tolist()],
            }
        )
        path = root / f"clip{i}.parquet"
        pq.write_table(table, path)
        paths.append(str(path))
    return paths


def passthrough(batch: pa.Table) -> pa.Table:
    return batch


def worker_processes() -> int:
    """Worker processes this Ray instance has started so far (one log file each)."""
    logs = Path(ray._private.worker._global_node.get_logs_dir_path())
    return len(list(logs.glob("worker-*.out")))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--frames", type=int, default=25)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    init_ray()
    context = ray.data.DataContext.get_current()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_clips(Path(tmp), args.files, args.frames)
        for name, v2 in (("V2 (Ray's default)", True), ("V1 (the jobs')", False)):
            context.use_datasource_v2 = v2
            before, seconds = worker_processes(), []
            for _ in range(args.repeats):
                start = time.perf_counter()
                rows = ray.data.read_parquet(paths).map_batches(passthrough, batch_format="pyarrow").count()
                seconds.append(time.perf_counter() - start)
                assert rows == args.files
            started = worker_processes() - before
            print(
                f"{name}: {args.files} files, read s {[round(s, 1) for s in seconds]} "
                f"(median {statistics.median(seconds):.1f}), worker processes started {started}",
                flush=True,
            )


if __name__ == "__main__":
    main()
