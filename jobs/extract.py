r"""Extraction job: ``python -m jobs.extract --corpus URI --out URI`` (also ``talkingface extract``).

Submit to a cluster with::

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python -m jobs.extract --corpus s3://bucket/cremad --dataset cremad --out s3://bucket/features \
        --weights s3://bucket/checkpoints --num-gpus-per-actor 0.5 --concurrency 4 --batch-size 32

Exit codes: 0 every clip extracted; 3 some clips failed (their reasons are in OUT/errors and in the
summary, grouped); 1 infrastructure failure (a commit could not be written); 2 configuration error
(missing weight file, stand-in weights not allowed, mixed provenance): nothing was processed.
"""

from __future__ import annotations

import json
import sys

from distributed.extract.config import ExtractConfig
from distributed.extract.pipeline import run_extract
from distributed.extract.preflight import ConfigurationError
from jobs.options import job_parser, parse_job_config
from talkingface.face.detect import DETECTORS, LANDMARKS
from talkingface.precision import PRECISIONS

EXIT_CLIPS_FAILED = 3
EXIT_INFRASTRUCTURE = 1
EXIT_CONFIGURATION = 2


def parse_args(argv: list[str] | None) -> ExtractConfig:
    p = job_parser("talkingface extract", __doc__)
    p.add_argument("--corpus", help="corpus root: local dir, file:// or s3:// URI")
    p.add_argument("--out", help="output root: local dir, file:// or s3:// URI")
    p.add_argument(
        "--dataset", choices=["auto", "cremad", "ravdess", "mead"], help="corpus layout (auto: detect)"
    )
    p.add_argument("--weights", help="dir/URI with official SadTalker checkpoints (required, or:)")
    p.add_argument(
        "--stand-in-weights",
        action="store_true",
        help="allow seeded random recon weights when --weights is unset (tests, demos: not real betas)",
    )
    p.add_argument(
        "--detector",
        choices=list(DETECTORS),
        help="auto: sfd where face-alignment's weights are present, else dlib (HOG, offline)",
    )
    p.add_argument(
        "--landmarks",
        choices=list(LANDMARKS),
        help="auto: fan where face-alignment's weights are present, else dlib; template = mean face (smoke)",
    )
    p.add_argument("--detect-every", type=int, help="video: detect every n-th frame, track in between")
    p.add_argument(
        "--allow-mixed-provenance",
        action="store_true",
        help="write into an output made with other weights / face backends",
    )
    p.add_argument("--face-weights", help="local dir with face-alignment weight files (no download)")
    p.add_argument("--num-gpus-per-actor", type=float, help="fractional GPUs per recon actor")
    p.add_argument("--num-cpus-per-actor", type=float, help="CPUs per recon actor")
    p.add_argument(
        "--concurrency", type=int, help="number of recon actors (the maximum with --min-concurrency)"
    )
    p.add_argument("--min-concurrency", type=int, help="autoscale the recon actor pool from this many actors")
    p.add_argument("--batch-size", type=int, help="frames per recon-net forward; unset: 32 on GPU, 4 on CPU")
    p.add_argument("--landmark-stride", type=int, help="landmarks every n-th frame (1 = exact)")
    p.add_argument("--min-face-ratio", type=float, help="fail clips with fewer face frames")
    p.add_argument("--retry-errors", action="store_true", help="reprocess clips that failed before")
    p.add_argument("--limit", type=int, help="process at most this many pending clips")
    p.add_argument(
        "--max-retries", type=int, help="retries of a clip whose worker died, before it becomes an error row"
    )
    p.add_argument(
        "--precision", choices=PRECISIONS, help="recon net arithmetic; unset: bf16 where native, else fp32"
    )
    return parse_job_config(p, ExtractConfig, argv)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        summary = run_extract(config)
    except ConfigurationError as err:
        print(f"talkingface extract: configuration error: {err}", file=sys.stderr)
        return EXIT_CONFIGURATION
    print(json.dumps(summary.as_dict(), indent=1))
    if summary.failed_infrastructure or summary.run_log_error:
        return EXIT_INFRASTRUCTURE
    return EXIT_CLIPS_FAILED if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
