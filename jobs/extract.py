r"""Extraction job: ``python -m jobs.extract --corpus URI --out URI`` (also ``talkingface extract``).

Submit to a cluster with::

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python -m jobs.extract --corpus s3://bucket/cremad --dataset cremad --out s3://bucket/features \
        --num-gpus-per-actor 0.5 --concurrency 4 --batch-size 32
"""

from __future__ import annotations

import json
import sys

from distributed.extract import ExtractConfig, run_extract
from distributed.runtime import init_ray
from jobs.options import job_parser, parse_job_config
from talkingface.precision import PRECISIONS


def parse_args(argv: list[str] | None) -> ExtractConfig:
    p = job_parser("talkingface extract", __doc__)
    p.add_argument("--corpus", help="corpus root: local dir, file:// or s3:// URI")
    p.add_argument("--out", help="output root: local dir, file:// or s3:// URI")
    p.add_argument("--dataset", choices=["auto", "cremad", "ravdess", "mead"])
    p.add_argument("--weights", help="dir/URI with official SadTalker checkpoints; unset: stand-in weights")
    p.add_argument("--detector", help="face-alignment detector (sfd, ...) or 'haar'")
    p.add_argument(
        "--landmarks",
        choices=["fan", "template"],
        help="template = mean face in the box (tests)",
    )
    p.add_argument("--face-weights", help="local dir with face-alignment weight files (no download)")
    p.add_argument("--num-gpus-per-actor", type=float, help="fractional GPUs per recon actor")
    p.add_argument("--num-cpus-per-actor", type=float, help="CPUs per recon actor")
    p.add_argument("--concurrency", type=int, help="number of recon actors")
    p.add_argument("--batch-size", type=int, help="frames per recon-net forward; unset: 32 on GPU, 4 on CPU")
    p.add_argument("--landmark-stride", type=int, help="landmarks every n-th frame (1 = exact)")
    p.add_argument("--min-face-ratio", type=float, help="fail clips with fewer face frames")
    p.add_argument("--retry-errors", action="store_true", help="reprocess clips that failed before")
    p.add_argument("--limit", type=int, help="process at most this many pending clips")
    p.add_argument(
        "--precision", choices=PRECISIONS, help="recon net arithmetic; unset: bf16 where native, else fp32"
    )
    return parse_job_config(p, ExtractConfig, argv)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    init_ray()
    summary = run_extract(config)
    print(json.dumps(summary.as_dict(), indent=1))
    return 0 if summary.failed_infrastructure == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
