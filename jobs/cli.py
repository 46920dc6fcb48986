"""The ``talkingface`` console script: one subcommand per job or tool.

Each subcommand lives in its own module exposing ``main(argv) -> int``; modules are imported
only when their subcommand runs, so ``talkingface --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("jobs.demo", "run the main job end to end on a bundled sample (local Ray, local dir)"),
    "extract": (
        "jobs.extract",
        "Ray Data job: emotional video corpus -> per-frame betas + mel windows (Parquet)",
    ),
    "tune": ("jobs.tune", "Ray Tune job: search emotion-head families and hyper-parameters (ASHA + Optuna)"),
    "render": ("talkingface.render.cli", "one image + one audio -> talking-face mp4 with sound"),
    "models": ("talkingface.weights.cli", "fetch / verify the official SadTalker checkpoints"),
    "corpus": ("talkingface.corpus.cli", "scan CREMA-D / RAVDESS / MEAD layouts, one JSON line per file"),
    "get-betas": ("talkingface.betas.cli", "video -> per-frame 257 3DMM coefficients (Parquet and .pt)"),
    "heads": ("talkingface.emotion.cli", "train / evaluate / apply emotion heads on beta files"),
}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = ["usage: talkingface <command> [options]", "", "commands:"]
    lines += [f"  {name:{width}s}  {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines.append("\n'talkingface <command> --help' describes a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"talkingface: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
