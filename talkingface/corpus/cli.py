"""``talkingface corpus scan URI [--dataset ...]``: one JSON line per clip or rejected file."""

from __future__ import annotations

import argparse
import json
import sys

from talkingface.corpus.labels import DATASETS, ClipLabel
from talkingface.corpus.scan import scan


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="talkingface corpus", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    scan_cmd = commands.add_parser("scan", help="list a CREMA-D / RAVDESS / MEAD tree as JSON lines")
    scan_cmd.add_argument("uri", help="local folder, file:// or remote URI (s3://bucket/prefix)")
    scan_cmd.add_argument("--dataset", choices=["auto", *DATASETS], default="auto")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the corpus CLI; returns the exit status (2 for a missing corpus root)."""
    args = build_parser().parse_args(argv)
    counts = {"ok": 0, "audio_only": 0, "rejected": 0}
    try:
        for item in scan(args.uri, args.dataset):
            record = item.to_json()
            counts[record["status"]] += 1
            if isinstance(item, ClipLabel) and item.modality == "audio":
                counts["audio_only"] += 1
            print(json.dumps(record))
    except FileNotFoundError as err:
        print(f"talkingface corpus scan: {err}", file=sys.stderr)
        return 2
    print(json.dumps(counts), file=sys.stderr)
    return 0
