"""Face-renderer s/frame: SadTalker's way (fp32, batch 1, per-frame mapping, no source caching) vs ours.

    .venv/bin/python benchmarks/render_speed.py                        # official size, 256, 2 frames x 2
    .venv/bin/python benchmarks/render_speed.py --frames 4 --repeats 3 --batch-size 4 --compile
    .venv/bin/python benchmarks/render_speed.py --config tiny --frames 8   # plumbing only (seconds)
    .venv/bin/python benchmarks/render_speed.py --device cuda --size 512 --frames 32 --batch-size 8

Weights are the oracle's rule weights and the inputs golden set A's source image (resized to
``--size``) and driving semantics (MappingNet -> keypoints), so the frame differences are meaningful;
without the oracle, seeded random weights and inputs. In one run it measures:

* this machine's matmul rate (4096 x 4096, fp32 and each low precision; 512 where that precision is
  not native, whose reference kernels are very slow);
* the FLOPs of one frame each way (``torch.utils.flop_counter``), hence the achieved GFLOP/s and its
  share of the matmul rate of the setting's precision;
* s/frame of every setting, the settings run alternately ``--repeats`` times (median reported) to
  spread out the noise of a shared machine; the machine's load (``uptime``) before and after;
* each setting's uint8 frame difference from SadTalker's-way fp32 frames (mean / p99 / max).

Settings: SadTalker's way; ours fp32 (cached source, batched MappingNet, ``--batch-size``,
channels_last); ours in each native low precision; ours compiled (``--compile``). Low precision that
is not native here is run emulated (fp32 speed, native numerics) for its quality only, timed as n/a.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from talkingface.models.mapping_net import MappingConfig, MappingNet
from talkingface.precision import native_precisions
from talkingface.render.animate import FaceRenderer, RenderOptions, to_uint8
from talkingface.render.configs import OFFICIAL, TINY, build_renderer, load_renderer
from talkingface.render.keypoints import transform_keypoints
from talkingface.weights.load import load_state
from talkingface.weights.rule import load_weight_rule, rule_state

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ORACLE = Path(os.environ.get("TALKINGFACE_ORACLE_DIR", REPO.parent / "shared" / "oracle"))


@dataclass(frozen=True)
class Inputs:
    image: torch.Tensor  # [1, 3, S, S] in [0, 1]
    source_semantics: torch.Tensor  # [1, 70, 27]
    semantics: torch.Tensor  # [T, 70, 27] driving windows


def load(oracle: Path, config: str, frames: int, size: int) -> tuple[tuple, MappingNet, Inputs, str]:
    """Renderer nets, MappingNet, inputs and a description (oracle rule weights when available)."""
    mapping = MappingNet(MappingConfig(coeff_nc=70)).eval()
    if config == "official" and (oracle / "golden_A.safetensors").is_file():
        manifest = json.loads((oracle / "manifest.json").read_text())
        rule = load_weight_rule(oracle / "weight_rule.py")
        nets = load_renderer(
            OFFICIAL, rule_state(manifest, rule, "kp_extractor"), rule_state(manifest, rule, "generator")
        )
        load_state(mapping, rule_state(manifest, rule, "mapping"), "mapping")
        golden = load_file(str(oracle / "golden_A.safetensors"))
        image = golden["fr.source_image"]
        if size != image.shape[-1]:
            image = F.interpolate(image, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)
        windows = golden["fr.target_semantics"][0]
        semantics = windows[torch.arange(frames) % len(windows)]
        return nets, mapping, Inputs(image, golden["fr.source_semantics"], semantics), "oracle rule weights"
    gen = torch.Generator().manual_seed(0)
    nets = build_renderer(OFFICIAL if config == "official" else TINY, seed=0)
    semantics = 0.1 * torch.randn(frames + 1, 70, 27, generator=gen)
    inputs = Inputs(torch.rand(1, 3, size, size, generator=gen), semantics[:1], semantics[1:])
    return nets, mapping, inputs, "random weights"


def matmul_rate(dtype: torch.dtype, n: int, device: torch.device) -> float:
    """GFLOP/s of an n x n matmul (best of 2 after a warm-up)."""
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    best = float("inf")
    for _ in range(3):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime unavailable"


def sadtalker_way(nets, mapping, inputs: Inputs, device) -> Callable[[], np.ndarray]:
    """Per frame: MappingNet on one window, keypoints, the whole generator (source encoded every frame)."""
    renderer = FaceRenderer(*nets, RenderOptions(batch_size=1), device)
    image = inputs.image.to(device)

    @torch.inference_mode()
    def run() -> np.ndarray:
        kp_canonical = renderer.kp_detector(image)
        kp_source = transform_keypoints(kp_canonical, mapping(inputs.source_semantics.to(device)))
        frames = []
        for window in inputs.semantics:
            kp_driving = transform_keypoints(kp_canonical, mapping(window[None].to(device)))
            frames.append(to_uint8(renderer.generator(image, kp_driving, kp_source)).cpu().numpy())
        return np.concatenate(frames)

    return run


def ours(nets, mapping, inputs: Inputs, options: RenderOptions, device) -> Callable[[], np.ndarray]:
    """Source prepared once (as the pipeline's cache does), MappingNet batched, frames streamed."""
    renderer = FaceRenderer(*nets, options, device)
    source = renderer.prepare(inputs.image)
    renderer.predict(source, source.kp_canonical, source.kp_canonical.expand(options.batch_size, -1, -1))

    @torch.inference_mode()
    def run() -> np.ndarray:
        kp = source.kp_canonical
        kp_source = transform_keypoints(kp, mapping(inputs.source_semantics.to(device)))
        kp_driving = transform_keypoints(kp, mapping(inputs.semantics.to(device)))
        return np.stack(list(renderer.frames(source, kp_source, kp_driving)))

    return run


def frame_flops(fn: Callable[[], np.ndarray], frames: int) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", choices=("official", "tiny"), default="official")
    parser.add_argument("--size", type=int, default=256, choices=(256, 512))
    parser.add_argument("--frames", type=int, default=2, help="driving frames per timed run")
    parser.add_argument("--repeats", type=int, default=2, help="alternating timed runs of every setting")
    parser.add_argument("--batch-size", type=int, default=2, help="our frames per renderer call")
    parser.add_argument("--compile", action="store_true", help="also time ours with torch.compile")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--oracle", type=Path, default=DEFAULT_ORACLE)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.set_grad_enabled(False)
    print(f"# load before: {uptime()}")
    native = native_precisions(device)
    rates = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16)):
        n = 4096 if name in native else 512
        rates[name] = matmul_rate(dtype, n, device)
        note = "" if name in native else "  (not native here)"
        print(f"# matmul {n}: {name} {rates[name]:8.1f} GFLOP/s{note}", flush=True)

    nets, mapping, inputs, weights = load(args.oracle, args.config, args.frames, args.size)
    mapping = mapping.to(device)
    print(
        f"# {args.config} renderer ({weights}), {args.size}x{args.size}, {device}, {args.frames} frames x "
        f"{args.repeats} alternating runs, torch threads {torch.get_num_threads()}, native: {native}"
    )
    settings: dict[str, tuple[Callable[[], np.ndarray], str, bool]] = {}
    settings["sadtalker fp32 batch 1"] = (sadtalker_way(nets, mapping, inputs, device), "fp32", True)
    bs = args.batch_size
    for channels_last in (False, True):
        options = RenderOptions(batch_size=bs, channels_last=channels_last)
        settings[f"ours fp32 batch {bs} cl {channels_last}"] = (
            ours(nets, mapping, inputs, options, device),
            "fp32",
            True,
        )
    for low in ("bf16", "fp16"):
        options = RenderOptions(batch_size=bs, precision=low, channels_last=True, emulate=low not in native)
        settings[f"ours {low} batch {bs} cl True"] = (
            ours(nets, mapping, inputs, options, device),
            low,
            low in native,
        )
    if args.compile:
        precision = "bf16" if "bf16" in native else "fp32"
        options = RenderOptions(batch_size=bs, precision=precision, channels_last=True, compile=True)
        start = time.perf_counter()
        run = ours(nets, mapping, inputs, options, device)
        print(f"# compile (first batch, amortised once per worker): {time.perf_counter() - start:.1f} s")
        settings[f"ours {precision} batch {bs} cl True compiled"] = (run, precision, True)

    names = list(settings)
    flops = {
        "sadtalker": frame_flops(settings[names[0]][0], args.frames),
        "ours": frame_flops(settings[names[1]][0], args.frames),
    }
    print(
        f"# GFLOP per frame: SadTalker's way {flops['sadtalker'] / 1e9:.1f}, ours (source cached) "
        f"{flops['ours'] / 1e9:.1f}",
        flush=True,
    )
    times: dict[str, list[float]] = {name: [] for name in names}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for name in names:
            run, _, timed = settings[name]
            if not timed and name in outputs:
                continue
            sync(device)
            start = time.perf_counter()
            outputs[name] = run()
            sync(device)
            if timed:
                times[name].append((time.perf_counter() - start) / args.frames)
    reference = outputs[names[0]].astype(np.int16)
    base = statistics.median(times[names[0]])
    header = f"{'setting':36s} {'s/frame':>8s} {'speed-up':>8s} {'GFLOP/s':>8s} {'of matmul':>9s}"
    print(f"{header}  diff mean/p99/max")
    for name in names:
        _, precision, timed = settings[name]
        diff = np.abs(outputs[name].astype(np.int16) - reference)
        quality = f"{diff.mean():.3f} / {np.percentile(diff, 99):.0f} / {diff.max()}"
        if not timed:
            print(f"{name:36s} {'n/a':>8s} {'':>8s} {'':>8s} {'':>9s}  {quality}  (emulated: quality only)")
            continue
        per_frame = statistics.median(times[name])
        rate = flops["sadtalker" if name == names[0] else "ours"] / per_frame / 1e9
        print(
            f"{name:36s} {per_frame:8.3f} {base / per_frame:7.2f}x {rate:8.1f} "
            f"{rate / rates[precision]:8.0%}  {quality}"
        )
    print(f"# load after: {uptime()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
