"""Face-renderer frames/s: SadTalker's way (batch 1, float32) against the best of a small settings grid.

    .venv/bin/python benchmarks/render_speed.py                      # tiny config, 256, CPU (seconds)
    .venv/bin/python benchmarks/render_speed.py --full --frames 4    # official size (minutes on CPU)
    .venv/bin/python benchmarks/render_speed.py --full --frames 2 --batch-sizes 2 --autocast off bfloat16
    .venv/bin/python benchmarks/render_speed.py --full --device cuda --frames 64

Weights are seeded random ones (speed does not depend on them). The grid is batch size x CPU threads x
channels_last, plus bf16 autocast of the SPADE decoder on CUDA (on a CPU with bf16 support, ask for it
with ``--autocast``). Each setting prepares the source once (cached, as in ``FaceRenderer``), renders
one warm-up frame, then times ``FaceRenderer.frames`` over ``--frames`` driving frames, uint8 conversion
and the copy to host included. Prints one row per setting with its frames' difference from the batch-1
float32 frames, then the speed-up of the best float32 setting (and of the fastest one) over batch 1.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from talkingface.render.animate import FaceRenderer, RenderOptions
from talkingface.render.configs import OFFICIAL, TINY, build_renderer


@dataclass(frozen=True)
class Setting:
    batch_size: int
    threads: int
    channels_last: bool
    autocast: str | None

    def __str__(self) -> str:
        return (
            f"batch {self.batch_size:2d}  threads {self.threads:2d}  channels_last {self.channels_last!s:5}  "
            f"autocast {self.autocast or 'off':8s}"
        )


def render(nets, setting: Setting, size: int, frames: int, device: torch.device) -> tuple[float, np.ndarray]:
    """(frames/s, the frames [T, S, S, 3] uint8) of one setting; the same source and keypoints every time."""
    torch.set_num_threads(setting.threads)
    options = RenderOptions(setting.batch_size, setting.autocast, setting.channels_last)
    renderer = FaceRenderer(*nets, options, device=device)
    gen = torch.Generator().manual_seed(0)
    source = renderer.prepare(torch.rand(1, 3, size, size, generator=gen))
    kp_source = source.kp_canonical.cpu()
    kp_driving = kp_source + 0.05 * torch.randn(frames, *kp_source.shape[1:], generator=gen)
    next(renderer.frames(source, kp_source, kp_driving[:1]))  # warm-up
    start = time.perf_counter()
    out = np.stack(list(renderer.frames(source, kp_source, kp_driving)))
    return frames / (time.perf_counter() - start), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="official widths (default: the tiny config)")
    parser.add_argument("--size", type=int, default=256, help="source/frame side (256 or 512)")
    parser.add_argument("--frames", type=int, default=16, help="driving frames timed per setting")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument(
        "--threads", type=int, nargs="+", help="CPU thread counts (default: 1, torch's, all cores)"
    )
    parser.add_argument(
        "--autocast",
        nargs="+",
        choices=["off", "bfloat16", "float16"],
        help="decoder autocast dtypes to try (default: off, plus bfloat16 on CUDA)",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    threads = args.threads or sorted({1, torch.get_num_threads(), os.cpu_count() or 1})
    autocasts = args.autocast or (["off", "bfloat16"] if device.type == "cuda" else ["off"])
    batch_sizes = sorted({1, *args.batch_sizes})
    nets = build_renderer(OFFICIAL if args.full else TINY, seed=0)
    name = "official" if args.full else "tiny"
    print(f"# {name} renderer, {args.size}x{args.size}, {device}, {args.frames} frames per setting")
    print("# diff = max / mean |frame - baseline frame| in uint8 levels")

    fps: dict[Setting, float] = {}
    baseline = Setting(1, threads[-1], False, None)
    reference = None
    grid = itertools.product(batch_sizes, threads, (False, True), autocasts)
    settings = sorted(
        (Setting(b, t, cl, None if a == "off" else a) for b, t, cl, a in grid), key=lambda s: s != baseline
    )
    for setting in settings:
        fps[setting], frames = render(nets, setting, args.size, args.frames, device)
        reference = frames if reference is None else reference
        diff = np.abs(frames.astype(np.int16) - reference)
        print(
            f"{setting}  {fps[setting]:8.3f} frames/s  diff {diff.max():3d} / {diff.mean():.3f}", flush=True
        )

    exact = [s for s in fps if s.autocast is None]
    best = max(exact, key=fps.get)
    print(f"# baseline ({baseline}): {fps[baseline]:.3f} frames/s")
    print(f"# best float32 ({best}): {fps[best]:.3f} frames/s, speed-up {fps[best] / fps[baseline]:.2f}x")
    if len(exact) < len(fps):
        top = max(fps, key=fps.get)
        print(f"# fastest ({top}): {fps[top]:.3f} frames/s, speed-up {fps[top] / fps[baseline]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
