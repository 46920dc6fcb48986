"""Extraction job: ``python -m jobs.extract --corpus URI --out URI`` (also ``talkingface extract``).

Submit to a cluster with::

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python -m jobs.extract --corpus s3://bucket/cremad --dataset cremad --out s3://bucket/features \
        --num-gpus-per-actor 0.5 --concurrency 4 --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import sys

from distributed.extract import ExtractConfig, run_extract
from distributed.runtime import init_ray


def parse_args(argv: list[str] | None) -> ExtractConfig:
    p = argparse.ArgumentParser(prog="talkingface extract", description=__doc__.splitlines()[0])
    p.add_argument("--corpus", required=True, help="corpus root: local dir, file:// or s3:// URI")
    p.add_argument("--out", required=True, help="output root: local dir, file:// or s3:// URI")
    p.add_argument("--dataset", default="auto", choices=["auto", "cremad", "ravdess", "mead"])
    p.add_argument(
        "--weights", help="dir/URI with official SadTalker checkpoints (default: stand-in weights)"
    )
    p.add_argument("--detector", default="sfd", help="face-alignment detector (sfd, ...) or 'haar'")
    p.add_argument(
        "--landmarks",
        default="fan",
        choices=["fan", "template"],
        help="template = mean face in the box (tests)",
    )
    p.add_argument("--face-weights", help="local dir with face-alignment weight files (no download)")
    p.add_argument("--num-gpus-per-actor", type=float, default=0.0, help="fractional GPUs per recon actor")
    p.add_argument("--num-cpus-per-actor", type=float, default=1.0)
    p.add_argument("--concurrency", type=int, default=1, help="number of recon actors")
    p.add_argument("--batch-size", type=int, help="frames per recon-net forward (default: 32 GPU, 4 CPU)")
    p.add_argument("--landmark-stride", type=int, default=1, help="landmarks every n-th frame (1 = exact)")
    p.add_argument("--min-face-ratio", type=float, default=0.5, help="fail clips with fewer face frames")
    p.add_argument("--retry-errors", action="store_true", help="reprocess clips that failed before")
    p.add_argument("--limit", type=int, help="process at most this many pending clips")
    args = vars(p.parse_args(argv))
    return ExtractConfig(**{k.replace("-", "_"): v for k, v in args.items()})


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    init_ray()
    summary = run_extract(config)
    print(json.dumps(summary.as_dict(), indent=1))
    return 0 if summary.failed_infrastructure == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
