"""Which renderer modules cause most of the bf16 error: a per-module fp32 fallback sweep on golden set A.

    .venv/bin/python benchmarks/precision_sweep.py [--size 256] [--precision bf16] [--oracle DIR]

Rule weights and the golden source image / keypoints of set A. The frames are rendered in float32 (the
reference), with every module in low precision, and then once per candidate with only that candidate
kept in float32 (all else low precision). Prints the uint8 frame difference from float32 (mean / p99 /
max) of each, the candidates sorted by how much of the error they remove. Low precision is emulated
(``talkingface.precision.EmulatedLowPrecision``) where the CPU has no native bf16/fp16, so this runs
anywhere at float32 speed with the numerics of a native run. ``--size 128`` (the source downscaled)
runs the sweep 4x faster with the same ranking.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from talkingface.parity.golden import GoldenSet
from talkingface.precision import native_precisions
from talkingface.render.animate import FP32_ISLANDS, FaceRenderer, RenderOptions, to_uint8
from talkingface.render.configs import RendererConfig, load_renderer

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ORACLE = Path(os.environ.get("TALKINGFACE_ORACLE_DIR", REPO.parent / "shared" / "oracle"))
ENCODER = "generator.first,generator.down_blocks,generator.second,generator.resblocks_3d"
MIDDLE = ",".join(["generator.decoder.fc"] + [f"generator.decoder.G_middle_{i}" for i in range(6)])
CANDIDATES = (  # comma-separated module names kept in fp32 together
    "kp_detector",
    ENCODER,
    "generator.dense_motion_network",
    "generator.dense_motion_network.mask,generator.dense_motion_network.occlusion",
    "generator.third,generator.fourth",
    MIDDLE,
    "generator.decoder.up_0,generator.decoder.up_1",
    "generator.decoder.conv_img",
)


def frame_diff(frames: np.ndarray, reference: np.ndarray) -> tuple[float, float, int]:
    """(mean, 99th percentile, max) |uint8 difference|."""
    diff = np.abs(frames.astype(np.int16) - reference.astype(np.int16))
    return float(diff.mean()), float(np.percentile(diff, 99)), int(diff.max())


def golden_inputs(golden: GoldenSet, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    image = golden.tensors["fr.source_image"]
    if size != image.shape[-1]:
        image = F.interpolate(image, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)
    return image, golden.tensors["fr.kp_source"], golden.tensors["fr.kp_driving"]


def render(nets, inputs, precision: str, islands: tuple[str, ...], emulate: bool) -> np.ndarray:
    image, kp_source, kp_driving = inputs
    options = RenderOptions(
        batch_size=len(kp_driving), precision=precision, emulate=emulate, fp32_islands=islands
    )
    renderer = FaceRenderer(*nets, options)
    source = renderer.prepare(image)
    return to_uint8(renderer.predict(source, kp_source, kp_driving)).numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=256, choices=(128, 256, 512))
    parser.add_argument("--precision", default="bf16", choices=("bf16", "fp16"))
    parser.add_argument("--oracle", type=Path, default=DEFAULT_ORACLE)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    golden = GoldenSet.load(args.oracle / "golden_A.safetensors")
    config = RendererConfig.from_manifest(golden.manifest)
    nets = load_renderer(config, golden.weights("kp_extractor"), golden.weights("generator"))
    inputs = golden_inputs(golden, args.size)
    emulate = args.precision not in native_precisions("cpu")
    print(f"# golden set A, rule weights, {args.size}x{args.size}, 2 frames, {args.precision}")
    print(f"# emulated: {emulate}; torch threads {torch.get_num_threads()}; load: {load}")
    print(f"# current FP32_ISLANDS: {FP32_ISLANDS}")
    reference = render(nets, inputs, "fp32", (), False)
    start = time.perf_counter()
    low = frame_diff(render(nets, inputs, args.precision, (), emulate), reference)
    print(f"{'all ' + args.precision:50s} mean {low[0]:6.3f}  p99 {low[1]:5.1f}  max {low[2]:3d}", flush=True)
    islands = frame_diff(render(nets, inputs, args.precision, FP32_ISLANDS, emulate), reference)
    print(f"{'FP32_ISLANDS in fp32':50s} mean {islands[0]:6.3f}  p99 {islands[1]:5.1f}  max {islands[2]:3d}")
    print(f"# one low-precision render: {time.perf_counter() - start:.1f} s", flush=True)
    rows = []
    for name in args.candidates:
        d = frame_diff(render(nets, inputs, args.precision, tuple(name.split(",")), emulate), reference)
        rows.append((name, d))
        print(f"{name[:42] + ' in fp32':50s} mean {d[0]:6.3f}  p99 {d[1]:5.1f}  max {d[2]:3d}", flush=True)
    print("# ranked by mean error removed:")
    for name, d in sorted(rows, key=lambda row: row[1][0]):
        print(f"{name[:50]:50s} removes {low[0] - d[0]:6.3f} of {low[0]:.3f} mean levels")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
