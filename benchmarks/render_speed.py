"""Face-renderer frames/s: SadTalker's way (batch 1, float32) against the best of a small settings grid.

    .venv/bin/python benchmarks/render_speed.py                      # tiny config, 256, CPU (seconds)
    .venv/bin/python benchmarks/render_speed.py --full --frames 4    # official size (minutes on CPU)
    .venv/bin/python benchmarks/render_speed.py --full --frames 2 --batch-sizes 2 --autocast off bfloat16
    .venv/bin/python benchmarks/render_speed.py --full --device cuda --frames 64

With ``--full`` and the oracle folder present, the weights are the oracle rule weights and the inputs
the golden source image (resized to ``--size``) and keypoints, jittered per frame, so the differences
printed are meaningful; otherwise seeded random weights and inputs (speed does not depend on them).
The grid is batch size x CPU threads x channels_last, plus bf16 autocast of the SPADE decoder on CUDA
(on a CPU with bf16 support, ask for it with ``--autocast``). Each setting prepares the source once
(cached, as in ``FaceRenderer``), renders one warm-up frame, then times ``FaceRenderer.frames`` over
``--frames`` driving frames, uint8 conversion and the copy to host included. Prints one row per setting
with its frames' difference from the batch-1 float32 frames, then the speed-up of the best float32
setting (and of the fastest one) over batch 1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch.nn import functional as F

from talkingface.render.animate import FaceRenderer, RenderOptions
from talkingface.render.configs import OFFICIAL, TINY, build_renderer, load_renderer
from talkingface.weights.rule import load_weight_rule, rule_state

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ORACLE = Path(os.environ.get("TALKINGFACE_ORACLE_DIR", REPO.parent / "shared" / "oracle"))


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


@dataclass(frozen=True)
class Inputs:
    image: torch.Tensor  # [1, 3, S, S]
    kp_source: torch.Tensor | None  # [1, K, 3]; None = the source's canonical keypoints
    kp_driving: torch.Tensor  # [T, K, 3] offsets from kp_source when kp_source is None, else absolute


def oracle_setup(oracle: Path, frames: int, size: int) -> tuple[tuple, Inputs] | None:
    """Rule weights and the golden source/keypoints (jittered per frame), if the oracle folder is there."""
    if not (oracle / "golden_A.safetensors").is_file():
        return None
    manifest = json.loads((oracle / "manifest.json").read_text())
    rule = load_weight_rule(oracle / "weight_rule.py")
    nets = load_renderer(
        OFFICIAL, rule_state(manifest, rule, "kp_extractor"), rule_state(manifest, rule, "generator")
    )
    golden = load_file(str(oracle / "golden_A.safetensors"))
    image = F.interpolate(golden["fr.source_image"], size=(size, size), mode="bilinear", antialias=True)
    jitter = 0.01 * torch.randn(frames, 15, 3, generator=torch.Generator().manual_seed(0))
    kp_driving = golden["fr.kp_driving"][torch.arange(frames) % 2] + jitter
    return nets, Inputs(image.clamp(0, 1), golden["fr.kp_source"], kp_driving)


def random_setup(full: bool, frames: int, size: int) -> tuple[tuple, Inputs]:
    gen = torch.Generator().manual_seed(0)
    nets = build_renderer(OFFICIAL if full else TINY, seed=0)
    return nets, Inputs(
        torch.rand(1, 3, size, size, generator=gen), None, 0.05 * torch.randn(frames, 15, 3, generator=gen)
    )


def render(nets, inputs: Inputs, setting: Setting, device: torch.device) -> tuple[float, np.ndarray]:
    """(frames/s, the frames [T, S, S, 3] uint8) of one setting."""
    torch.set_num_threads(setting.threads)
    options = RenderOptions(setting.batch_size, setting.autocast, setting.channels_last)
    renderer = FaceRenderer(*nets, options, device=device)
    source = renderer.prepare(inputs.image)
    kp_source = source.kp_canonical.cpu() if inputs.kp_source is None else inputs.kp_source
    kp_driving = inputs.kp_driving + (kp_source if inputs.kp_source is None else 0)
    next(renderer.frames(source, kp_source, kp_driving[:1]))  # warm-up
    start = time.perf_counter()
    out = np.stack(list(renderer.frames(source, kp_source, kp_driving)))
    return len(out) / (time.perf_counter() - start), out


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
    parser.add_argument(
        "--oracle", type=Path, default=DEFAULT_ORACLE, help="for --full: rule weights, golden inputs"
    )
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    threads = args.threads or sorted({1, torch.get_num_threads(), os.cpu_count() or 1})
    autocasts = args.autocast or (["off", "bfloat16"] if device.type == "cuda" else ["off"])
    batch_sizes = sorted({1, *args.batch_sizes})
    setup = oracle_setup(args.oracle, args.frames, args.size) if args.full else None
    nets, inputs = setup or random_setup(args.full, args.frames, args.size)
    name = "official" if args.full else "tiny"
    weights = "oracle rule weights, golden source and keypoints" if setup else "random weights and inputs"
    print(
        f"# {name} renderer ({weights}), {args.size}x{args.size}, {device}, {args.frames} frames per setting"
    )
    print("# diff = max / mean |frame - baseline frame| in uint8 levels")

    fps: dict[Setting, float] = {}
    baseline = Setting(1, threads[-1], False, None)
    reference = None
    grid = itertools.product(batch_sizes, threads, (False, True), autocasts)
    settings = sorted(
        (Setting(b, t, cl, None if a == "off" else a) for b, t, cl, a in grid), key=lambda s: s != baseline
    )
    for setting in settings:
        fps[setting], frames = render(nets, inputs, setting, device)
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
