"""End to end, audio -> mp4: one clip through ``TalkingFacePipeline`` at the baseline and our best settings.

    .venv/bin/python benchmarks/clip_speed.py                         # official size, 1 s of speech
    .venv/bin/python benchmarks/clip_speed.py --seconds 3 --batch-size 4 --compile
    .venv/bin/python benchmarks/clip_speed.py --config tiny --seconds 3   # plumbing only (seconds)
    .venv/bin/python benchmarks/clip_speed.py --device cuda --seconds 10 --batch-size 16

The oracle's speech (cut to ``--seconds``) and source portrait; offline face boxes and template
landmarks (``haar`` / ``template``) and seeded stand-in weights, so it needs no downloads (speed does
not depend on the weights). Every setting renders the same clip with its own pipeline: a first
request (models loaded, source encoded, compile when asked) and then a second, timed one (source
cached, as in a long-running worker). Baseline: fp32, renderer batch 1. Prints seconds per clip and
per second of video, the speed-up, the first request's time (the per-worker cost) and the machine's
load (``uptime``) before and after.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import soundfile

from talkingface.precision import default_precision
from talkingface.render.pipeline import PipelineConfig, RenderRequest, TalkingFacePipeline

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ORACLE = Path(os.environ.get("TALKINGFACE_ORACLE_DIR", REPO.parent / "shared" / "oracle"))


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime unavailable"


def render_twice(config: PipelineConfig, request: RenderRequest) -> tuple[float, float, int]:
    """(first request s, second request s, frames) of one pipeline."""
    pipeline = TalkingFacePipeline(config)
    start = time.perf_counter()
    pipeline.render(request)
    first = time.perf_counter() - start
    start = time.perf_counter()
    result = pipeline.render(request)
    return first, time.perf_counter() - start, result.frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", choices=("official", "tiny"), default="official")
    parser.add_argument("--seconds", type=float, default=1.0, help="speech length rendered")
    parser.add_argument("--size", type=int, default=256, choices=(256, 512))
    parser.add_argument("--batch-size", type=int, default=4, help="renderer batch of our settings")
    parser.add_argument("--compile", action="store_true", help="also time our settings compiled")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--oracle", type=Path, default=DEFAULT_ORACLE)
    args = parser.parse_args(argv)
    print(f"# load before: {uptime()}")
    with tempfile.TemporaryDirectory() as tmp:
        wav, rate = soundfile.read(args.oracle / "speech.wav", dtype="float32")
        audio = Path(tmp) / "speech.wav"
        soundfile.write(audio, wav[: int(args.seconds * rate)], rate)
        request = RenderRequest(
            image=str(args.oracle / "source_A.png"),
            audio=str(audio),
            out=str(Path(tmp) / "clip.mp4"),
            size=args.size,
            batch_size=1,
        )
        base = dict(model_config=args.config, device=args.device, detector="haar", landmarks="template")
        best = default_precision(args.device)
        settings = {
            "baseline fp32 batch 1": (PipelineConfig(**base, precision="fp32"), 1),
            f"ours {best} batch {args.batch_size}": (PipelineConfig(**base, precision=best), args.batch_size),
        }
        if args.compile:
            settings[f"ours {best} batch {args.batch_size} compiled"] = (
                PipelineConfig(**base, precision=best, compile=True),
                args.batch_size,
            )
        what = f"{args.config} renderer (stand-in weights), {args.size}, {args.device}"
        print(f"# {what}, {args.seconds} s of speech")
        rows = {}
        for name, (config, batch) in settings.items():
            req = RenderRequest(**{**request.__dict__, "batch_size": batch})
            rows[name] = render_twice(config, req)
            first, second, frames = rows[name]
            print(
                f"{name:34s} {second:8.2f} s/clip  {second / (frames / 25):7.2f} s per video s  "
                f"{second / frames:6.3f} s/frame  first request {first:7.2f} s",
                flush=True,
            )
        baseline = rows["baseline fp32 batch 1"][1]
        for name, (_, second, _) in rows.items():
            print(f"# {name}: {baseline / second:.2f}x the baseline")
    print(f"# load after: {uptime()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
