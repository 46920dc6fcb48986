"""``talkingface models fetch|verify|list``: the official SadTalker checkpoints on local disk."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from talkingface.weights.download import (
    FILE_TABLE,
    LOCK_NAME,
    DownloadError,
    fetch,
    load_file_table,
    locked_problem,
    official_files,
    read_lock,
)
from talkingface.weights.registry import PARTS, SIZES

DEFAULT_DIR = "checkpoints"
DIR_HELP = f"checkpoint directory (default {DEFAULT_DIR})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="talkingface models", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (
        ("fetch", "download missing or damaged files (resumable; sha256 recorded in " + LOCK_NAME + ")"),
        ("list", "print the files of a layout with their URLs and expected sizes"),
    ):
        cmd = sub.add_parser(name, help=help_)
        cmd.add_argument("--size", type=int, choices=SIZES, default=256, help="render size (default 256)")
        cmd.add_argument("--legacy", action="store_true", help="the old per-network .pth files instead")
        cmd.add_argument(
            "--parts", nargs="+", choices=sorted(PARTS), help="only the files holding these parts"
        )
        cmd.add_argument("--files", default=str(FILE_TABLE), help="file table JSON (names, URLs, sizes)")
        if name == "fetch":
            cmd.add_argument("--dir", default=DEFAULT_DIR, help=DIR_HELP)
            cmd.add_argument("--base-url", help="mirror: download <base-url>/<file name> instead")
    verify = sub.add_parser("verify", help=f"check every file recorded in {LOCK_NAME} (size and sha256)")
    verify.add_argument("--dir", default=DEFAULT_DIR, help=DIR_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "verify":
        return _verify(Path(args.dir))
    try:
        files = official_files(args.size, args.legacy, load_file_table(args.files), parts=args.parts)
    except (ValueError, KeyError, OSError) as err:
        parser.error(str(err))
    if args.command == "list":
        for f in files:
            size = f"{f.size} bytes" if f.size is not None else f"~{f.approx_size / 1e6:.0f} MB"
            print(f"{f.name:36s} {size:>18s}  {f.url}")
        return 0
    try:
        results = fetch(files, args.dir, base_url=args.base_url, log=lambda msg: print(msg, file=sys.stderr))
    except DownloadError as err:
        print(f"talkingface models fetch: {err}", file=sys.stderr)
        return 1
    for r in results:
        print(f"{r.action:10s} {r.path}  sha256 {r.sha256}")
    return 0


def _verify(directory: Path) -> int:
    lock = read_lock(directory)
    if not lock:
        print(f"talkingface models verify: no {LOCK_NAME} in {directory}", file=sys.stderr)
        return 1
    bad = 0
    for name, entry in sorted(lock.items()):
        problem = locked_problem(directory / name, entry)
        bad += problem is not None
        print(f"{'ok' if problem is None else 'BAD':4s} {name}" + (f": {problem}" if problem else ""))
    return 1 if bad else 0
