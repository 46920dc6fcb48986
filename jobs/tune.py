r"""Head search: ``python -m jobs.tune --pairs URI --out URI`` (also ``talkingface tune``).

Ray Tune searches head family (linear, MLP, transformer, TCN), FRAME_LEN, width / depth / heads, lr,
weight decay, dropout, emotion embedding size and batch size with ASHA + Optuna (TPE). Rerunning the
same command resumes an interrupted search (finished trials are not run again). Submit with::

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python -m jobs.tune --pairs s3://bucket/head_pairs --out s3://bucket/search \
        --num-samples 64 --max-concurrent-trials 8 --gpus-per-trial 0.25
"""

from __future__ import annotations

import json
import os
import signal
import sys

from distributed.runtime import init_ray
from distributed.train.pairs import ensure_head_pairs
from distributed.tune import HeadSearchConfig, run_search
from jobs.options import job_parser, parse_job_config
from storage.objects import exists


def parse_args(argv: list[str] | None) -> HeadSearchConfig:
    p = job_parser("talkingface tune", __doc__)
    p.add_argument("--pairs", help="head_pairs table (Parquet file or directory, local or s3://)")
    p.add_argument("--features", help="extraction output; the pairs are built from it (needs the train job)")
    p.add_argument("--expnet-checkpoint", help="ExpNet checkpoint for --features (unset: stand-in weights)")
    p.add_argument("--out", help="output root: local dir, file:// or s3:// URI")
    p.add_argument("--name", help="experiment name under OUT/_tune; a rerun with the same name resumes")
    p.add_argument("--num-samples", type=int, help="number of trials")
    p.add_argument("--time-budget-s", type=float, help="stop the search after this many seconds")
    p.add_argument("--max-concurrent-trials", type=int, help="trials running at once")
    p.add_argument("--cpus-per-trial", type=float, help="CPUs per trial (> 0)")
    p.add_argument("--gpus-per-trial", type=float, help="fractional GPUs per trial")
    p.add_argument("--max-epochs", type=int, help="epochs of a trial ASHA never stops")
    p.add_argument("--grace-period", type=int, help="ASHA: epochs before a trial can be stopped")
    p.add_argument("--reduction-factor", type=int, help="ASHA reduction factor")
    p.add_argument("--families", nargs="+", help="head families to search")
    p.add_argument("--widths", type=int, nargs="+", help="widths searched (hidden / d_model / channels)")
    p.add_argument("--frame-len-min", type=int, help="smallest FRAME_LEN searched")
    p.add_argument("--frame-len-max", type=int, help="largest FRAME_LEN searched")
    p.add_argument("--lr-min", type=float, help="lr range (log-uniform), low end")
    p.add_argument("--lr-max", type=float, help="lr range (log-uniform), high end")
    p.add_argument("--val-fraction", type=float, help="fraction of the actors held out for validation")
    p.add_argument("--test-fraction", type=float, help="fraction of the actors held out for the test")
    p.add_argument("--seed", type=int, help="actor split, TPE and initialisation seed")
    return parse_job_config(p, HeadSearchConfig, argv)


def stop_on_sigterm() -> None:
    """``ray job stop`` sends SIGTERM: turn it into Tune's graceful stop (SIGUSR1), which saves the state."""
    signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGUSR1))


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    if config.pairs is not None and not exists(config.pairs):
        print(f"talkingface tune: error: --pairs {config.pairs}: no such file or directory", file=sys.stderr)
        return 2
    init_ray()
    pairs = config.pairs or ensure_head_pairs(config.features, config.expnet_checkpoint)
    stop_on_sigterm()
    summary = run_search(config, pairs)
    print(json.dumps(summary, indent=1, default=str))
    if summary["status"] == "interrupted":
        print("talkingface tune: interrupted; rerun the same command to resume", file=sys.stderr)
        return 1
    return 0 if summary["status"] == "complete" else 1


if __name__ == "__main__":
    sys.exit(main())
