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
    for flag, type_ in [
        ("--epochs", int), ("--batch-size", int), ("--lr", float), ("--weight-decay", float),
        ("--max-grad-norm", float), ("--seed", int), ("--val-fraction", float), ("--test-fraction", float),
        ("--num-workers", int), ("--cpus-per-worker", float), ("--num-to-keep", int),
        ("--max-failures", int), ("--shuffle-buffer", int), ("--frame-len", int),
        ("--classifier-epochs", int), ("--chunk", int), ("--temporal-weight", float),
        ("--kl-weight", float), ("--adv-weight", float),
    ]:  # fmt: skip
        p.add_argument(flag, type=type_)
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
