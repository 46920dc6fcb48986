"""Compaction job: ``python -m jobs.compact --out URI [--target-mb 256]`` (also ``talkingface compact``).

Rewrites the extraction job's per-clip Parquet files under OUT into partitioned files of about
``--target-mb`` each under ``OUT/compact/`` (see :mod:`distributed.extract.compact`).
"""

from __future__ import annotations

import json
import sys

from distributed.extract.compact import CompactConfig, compact
from jobs.options import job_parser, parse_job_config


def main(argv: list[str] | None = None) -> int:
    p = job_parser("talkingface compact", __doc__)
    p.add_argument("--out", help="the extraction job's output root (local dir, file:// or s3:// URI)")
    p.add_argument("--target-mb", type=float, help="Arrow size of one part file in MB")
    written = compact(parse_job_config(p, CompactConfig, argv))
    print(json.dumps({table: sum(parts.values()) for table, parts in written.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
