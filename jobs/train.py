r"""Training job: ``python -m jobs.train {expnet,head,posevae} --features URI --out URI`` (also
``talkingface train ...``).

Ray Train fits the model on the extraction output's Parquet (Ray Data shards per worker), checkpoints
every epoch under OUT/checkpoints (rerun the same command to resume) and exports OUT/model::

    ray job submit --working-dir . -- python -m jobs.train head --features s3://bucket/features \
        --out s3://bucket/runs/head-tf --head transformer --num-workers 4 --use-gpu
"""

from __future__ import annotations

import argparse
import json
import sys

from distributed.runtime import init_ray
from distributed.train import TrainJobConfig, run_training
from distributed.train.config import MODELS
from jobs.options import job_parser, parse_job_config


def parse_args(argv: list[str] | None) -> TrainJobConfig:
    p = job_parser("talkingface train", __doc__)
    p.add_argument("model", choices=MODELS, help="what to train")
    p.add_argument("--features", help="extraction output: local dir, file:// or s3:// URI")
    p.add_argument("--out", help="run root: checkpoints + exported model")
    p.add_argument("--name", help="Ray Train run name (same name + out = resume)")
    for flag, type_, help_ in [
        ("--epochs", int, "epochs to train"),
        ("--batch-size", int, "examples per step and worker"),
        ("--lr", float, "AdamW learning rate"),
        ("--weight-decay", float, "AdamW weight decay"),
        ("--max-grad-norm", float, "gradient clipping norm"),
        ("--seed", int, "split, shuffling and initialisation seed"),
        ("--val-fraction", float, "fraction of the actors held out for validation"),
        ("--test-fraction", float, "fraction of the actors held out for the test report"),
        ("--num-workers", int, "Ray Train workers (DDP)"),
        ("--cpus-per-worker", float, "CPUs per worker (< 1 leaves CPUs for Ray Data on small machines)"),
        ("--num-to-keep", int, "checkpoints kept"),
        ("--max-failures", int, "worker-group restarts before the run fails"),
        ("--shuffle-buffer", int, "rows in each worker's local shuffle buffer"),
        ("--frame-len", int, "head: FRAME_LEN window of ExpNet betas"),
        ("--classifier-epochs", int, "head: epochs of the Acc_emo expression classifier"),
        ("--chunk", int, "ExpNet: consecutive frames per example (temporal term)"),
        ("--temporal-weight", float, "ExpNet: weight of the temporal loss"),
        ("--kl-weight", float, "PoseVAE: weight of the KL term"),
        ("--adv-weight", float, "PoseVAE: weight of the adversarial term"),
    ]:
        p.add_argument(flag, type=type_, help=help_)
    p.add_argument("--use-gpu", action="store_true", help="one GPU per worker")
    p.add_argument(
        "--materialize", action=argparse.BooleanOptionalAction, help="cut examples once, not every epoch"
    )
    p.add_argument("--head", choices=["linear", "mlp", "transformer", "tcn"], help="head family")
    p.add_argument("--head-options", type=json.loads, help="JSON head config overrides")
    p.add_argument("--expnet-checkpoint", help="ExpNet making the head inputs (file or weights dir)")
    p.add_argument("--classifier", help="saved expression classifier for Acc_emo (default: train one)")
    p.add_argument("--weights", help="official weights dir/URI to fine-tune ExpNet/PoseVAE from")
    p.add_argument("--style-by", choices=["emotion", "actor"], help="PoseVAE pose-style classes")
    return parse_job_config(p, TrainJobConfig, argv)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    init_ray()
    print(json.dumps(run_training(config), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
