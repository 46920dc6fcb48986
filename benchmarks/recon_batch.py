"""Batched 3DMM reconstruction vs SadTalker's one-frame-at-a-time loop, on the same aligned crops.

    .venv/bin/python benchmarks/recon_batch.py --frames 32 --batch 16 [--device cuda] [--oracle DIR]

The crops come from the oracle source image aligned with jittered copies of the golden landmarks
(the real alignment path); without the oracle folder, random crops. Weights are the oracle rule
weights when the oracle is there (timing does not depend on them). Prints frames/s of both ways,
the speed-up and the largest difference between their coefficients, then the batched net in each low
precision (``talkingface.precision``; the coefficient heads in fp32): frames/s where the precision is
native here (emulated for its quality only where not), the achieved GFLOP/s against this machine's
1024 x 1024 matmul rate of that precision (512 where not native), and the coefficients' difference
from fp32. The machine's load (``uptime``) is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file
from torch.utils.flop_counter import FlopCounterMode

from talkingface.face.align import align_face
from talkingface.face.reconstruct import RECON_FP32_ISLANDS, recon_input
from talkingface.models.recon_net import ReconNet
from talkingface.precision import DTYPES, clear_fp32_islands, native_precisions, region, set_fp32_islands
from talkingface.weights.load import load_state
from talkingface.weights.rule import load_weight_rule, rule_state

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ORACLE = Path(os.environ.get("TALKINGFACE_ORACLE_DIR", REPO.parent / "shared" / "oracle"))


@dataclass(frozen=True)
class Timing:
    seconds: float
    frames: int

    @property
    def fps(self) -> float:
        return self.frames / self.seconds


def make_crops(frames: int, oracle: Path, rng: np.random.Generator) -> np.ndarray:
    """[frames, 224, 224, 3] uint8 aligned crops (random ones without the oracle)."""
    if not (oracle / "golden_A.safetensors").is_file():
        return rng.integers(0, 256, (frames, 224, 224, 3), dtype=np.uint8)
    image = np.asarray(Image.open(oracle / "source_A.png").convert("RGB"))
    lm68 = load_file(str(oracle / "golden_A.safetensors"))["recon.lm68"].numpy()
    return np.stack([align_face(image, lm68 + rng.normal(0, 2, size=2)).crop for _ in range(frames)])


def make_net(oracle: Path, device: torch.device) -> ReconNet:
    net = ReconNet().eval()
    if (oracle / "manifest.json").is_file():
        manifest = json.loads((oracle / "manifest.json").read_text())
        rule = load_weight_rule(oracle / "weight_rule.py")
        load_state(net, rule_state(manifest, rule, "face_3drecon"), what="ReconNet")
    return net.to(device)


def timed(fn, device: torch.device) -> tuple[torch.Tensor, float]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def best_of(repeats: int, fn, device: torch.device) -> tuple[torch.Tensor, float]:
    return min((timed(fn, device) for _ in range(repeats)), key=lambda result: result[1])


def per_frame(net: ReconNet, crops: np.ndarray, device: torch.device) -> torch.Tensor:
    """SadTalker's way: one crop -> one tensor -> one forward."""
    return torch.cat([net(recon_input(crop).to(device)) for crop in crops])


def batched(net: ReconNet, crops: np.ndarray, batch: int, device: torch.device) -> torch.Tensor:
    return torch.cat([net(recon_input(crops[i : i + batch]).to(device)) for i in range(0, len(crops), batch)])


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime unavailable"


def matmul_rate(dtype: torch.dtype, device: torch.device, n: int = 1024) -> float:
    """GFLOP/s of an n x n matmul in ``dtype`` (best of 3)."""
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    return 2 * n**3 / best_of(3, lambda: a @ b, device)[1] / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each way (best is reported)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--oracle", type=Path, default=DEFAULT_ORACLE)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.set_grad_enabled(False)
    print(f"# load before: {uptime()}")
    crops = make_crops(args.frames, args.oracle, np.random.default_rng(0))
    net = make_net(args.oracle, device)
    batched(net, crops[: args.batch], args.batch, device)  # warm-up (allocator, cuDNN/oneDNN plans)
    per_frame(net, crops[:2], device)
    loop_out, loop_s = best_of(args.repeats, lambda: per_frame(net, crops, device), device)
    batch_out, batch_s = best_of(args.repeats, lambda: batched(net, crops, args.batch, device), device)
    loop, batch = Timing(loop_s, args.frames), Timing(batch_s, args.frames)
    print(f"device {device}, {args.frames} crops, torch threads {torch.get_num_threads()}")
    print(f"per-frame loop (SadTalker): {loop.fps:8.2f} frames/s  ({loop.seconds:.2f} s)")
    print(f"batched, batch {args.batch:3d}:      {batch.fps:8.2f} frames/s  ({batch.seconds:.2f} s)")
    diff = (batch_out - loop_out).abs().max().item()
    print(f"speed-up: {batch.fps / loop.fps:.2f}x; max |batched - per-frame| = {diff:.2e}")
    with FlopCounterMode(display=False) as counter:
        net(recon_input(crops[:1]).to(device))
    gflop = counter.get_total_flops() / 1e9
    native = native_precisions(device)
    print(f"# {gflop:.2f} GFLOP per crop; native precisions here: {native}")
    for precision in ("fp32", "bf16", "fp16"):
        emulate = precision not in native
        rate = matmul_rate(DTYPES[precision], device, 512 if emulate else 1024)
        clear_fp32_islands(net)
        if precision != "fp32":
            set_fp32_islands(net, RECON_FP32_ISLANDS, device.type)
        with region(precision, device, emulate):
            out, seconds = best_of(args.repeats, lambda: batched(net, crops, args.batch, device), device)
        d = (out.float() - batch_out).abs()
        quality = f"|diff| from fp32 mean {d.mean():.2e} max {d.max():.2e}"
        if emulate:
            print(f"{precision}: matmul {rate:7.1f} GFLOP/s (not native: emulated, quality only); {quality}")
            continue
        achieved = gflop * args.frames / seconds
        print(
            f"{precision}: {args.frames / seconds:7.2f} frames/s, {achieved:6.1f} GFLOP/s = "
            f"{achieved / rate:.0%} of its matmul rate {rate:.1f}; {quality}"
        )
    print(f"# load after: {uptime()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
