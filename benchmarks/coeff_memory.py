"""The render job's coefficient stage (audio file -> mel -> ExpNet + PoseVAE -> keypoints of every frame)
on long audio: peak memory and time for a short and a long clip, bounded path vs the eager baseline, in
one run.

    PYTHONPATH=. .venv/bin/python benchmarks/coeff_memory.py [--short 60] [--long 600]

Each measurement runs in a fresh process: the pipeline (stand-in weights, tiny renderer at 128 px,
OpenCV boxes + template landmarks) and the source image are prepared first, then the process's resident
memory is sampled every 2 ms while the stage runs; the figure is the peak minus the resident memory just
before it. ``bounded`` is what the render job runs (``CoeffActor``): the mel computed in blocks, the
per-frame mel windows cut one audio-encoder batch at a time, the 27-frame semantic windows built per
MappingNet chunk. ``eager`` (the baseline, the way it was before) holds the whole clip's STFT, its
[T, 80, 16] mel windows and its [T, 73, 27] semantic windows at once. Per-minute growth = (long - short)
/ (minutes between them); the hour figure extrapolates it.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import tempfile
import threading
import time
from pathlib import Path

import soundfile
from render_batch import speechlike

PAGE_MIB = os.sysconf("SC_PAGE_SIZE") / 2**20


def resident_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE_MIB


def stage(root: str, seconds: float, mode: str, queue) -> None:
    import torch

    from talkingface.audio import audio_features, melspectrogram
    from talkingface.audio2coeff import Audio2CoeffConfig
    from talkingface.render.pipeline import PipelineConfig, RenderRequest, TalkingFacePipeline
    from talkingface.render.semantics import SemanticsConfig, driving_rows, semantic_windows

    torch.set_num_threads(2)
    config = PipelineConfig(model_config="tiny", detector="haar", landmarks="template")
    pipeline = TalkingFacePipeline(config)
    audio = Path(root) / f"{seconds:g}s.wav"
    request = RenderRequest(image=str(Path(root) / "face.png"), audio=str(audio), out="unused.mp4", size=128)
    source, _ = pipeline.source(request.image, request.size, request.preprocess)
    warm = Path(root) / "warm.wav"
    soundfile.write(warm, speechlike(2.0), 16000)
    pipeline.coefficients(request, source, audio_features(warm))  # models loaded, allocator warm
    gc.collect()
    before, peak, done = resident_mib(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], resident_mib())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    features = audio_features(audio)
    held = []
    if mode == "eager":  # the whole clip's STFT, mel windows and semantic windows at once
        melspectrogram(features.wav, block=1 << 40)
        held.append(features.windows)
    model = pipeline.models.audio2coeff(request.size, None, None)
    windows = features.windows if mode == "eager" else features.mel_windows
    coeffs = model.predict(windows, source.row, Audio2CoeffConfig()).coeffs
    if mode == "eager":
        cfg = SemanticsConfig(size=request.size, full=source.info.pastes_back)
        held.append(semantic_windows(driving_rows(coeffs, source.row, cfg), cfg.radius))
    _, chunks = pipeline.keypoints(request, source, coeffs)
    keypoints = torch.cat(list(chunks))
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    queue.put({"mode": mode, "audio_s": seconds, "frames": len(keypoints), "seconds": round(elapsed, 1),
               "peak_mib": round(max(peak[0] - before, 0.0), 1)})  # fmt: skip


def measure(root: str, seconds: float, mode: str) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=stage, args=(root, seconds, mode, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--short", type=float, default=60.0, help="short audio, seconds")
    p.add_argument("--long", type=float, default=600.0, help="long audio, seconds")
    args = p.parse_args()
    import skimage.data
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="coeff-memory-bench-") as root:
        Image.fromarray(skimage.data.astronaut()).save(Path(root) / "face.png")
        for seconds in (args.short, args.long):
            soundfile.write(Path(root) / f"{seconds:g}s.wav", speechlike(seconds), 16000)
        runs = {(m, s): measure(root, s, m) for m in ("eager", "bounded") for s in (args.short, args.long)}
    for r in runs.values():
        print(json.dumps(r))
    minutes = (args.long - args.short) / 60
    for mode in ("eager", "bounded"):
        short, long = runs[mode, args.short], runs[mode, args.long]
        per_minute = (long["peak_mib"] - short["peak_mib"]) / minutes
        label = "eager (baseline)" if mode == "eager" else "bounded (the render job)"
        print(
            f"coefficient stage, {label}: peak +{short['peak_mib']} MiB for {args.short:g} s of audio, "
            f"+{long['peak_mib']} MiB for {args.long:g} s ({per_minute:.1f} MiB per minute of audio, "
            f"about {per_minute * 60 / 1024:.2f} GiB for an hour); "
            f"{long['seconds']} s for {long['frames']} frames"
        )


if __name__ == "__main__":
    main()
