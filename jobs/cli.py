"""The ``talkingface`` console script: one subcommand per job or tool.

Each subcommand lives in its own module exposing ``main(argv) -> int``; modules are imported
only when their subcommand runs, so ``talkingface --help`` stays fast.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
from pathlib import Path

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("jobs.demo", "run the main job end to end on a bundled sample (local Ray, local dir)"),
    "extract": (
        "jobs.extract",
        "Ray Data job: emotional video corpus -> per-frame betas + mel windows (Parquet)",
    ),
    "compact": (
        "jobs.compact",
        "rewrite extract's per-clip Parquet files into partitioned files for training",
    ),
    "train": (
        "jobs.train",
        "Ray Train job: ExpNet, emotion heads or PoseVAE from the extracted Parquet -> exported model",
    ),
    "tune": ("jobs.tune", "Ray Tune job: search emotion-head families and hyper-parameters (ASHA + Optuna)"),
    "render": ("talkingface.render.cli", "one image + one audio -> talking-face mp4 with sound"),
    "render-batch": ("jobs.render", "Ray job: render manifest (audio + portraits) -> mp4s on S3, idempotent"),
    "models": ("talkingface.weights.cli", "fetch / verify the official SadTalker checkpoints"),
    "corpus": ("talkingface.corpus.cli", "scan CREMA-D / RAVDESS / MEAD layouts, one JSON line per file"),
    "faces": ("talkingface.face.cli", "images / video frames -> faces + 68 landmarks, one JSON line each"),
    "get-betas": ("talkingface.betas.cli", "video -> per-frame 257 3DMM coefficients (Parquet and .pt)"),
    "heads": ("talkingface.emotion.cli", "train / evaluate / apply emotion heads on beta files"),
}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = ["usage: talkingface [--version] <command> [options]", "", "commands:"]
    lines += [f"  {name:{width}s}  {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines.append("\n'talkingface <command> --help' describes a command's options.")
    return "\n".join(lines)


def git_commit() -> str | None:
    """The short commit of the checkout this package runs from, when it is a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def version() -> str:
    """``talkingface <version>`` from the installed metadata, plus the git commit when there is one."""
    try:
        number = importlib.metadata.version("talkingface")
    except importlib.metadata.PackageNotFoundError:
        number = "unknown (not installed)"
    commit = git_commit()
    return f"talkingface {number}" + (f" (git {commit})" if commit else "")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(version())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"talkingface: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    from storage.redact import install_log_redaction

    install_log_redaction()  # no credential reaches a log record of any subcommand
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
