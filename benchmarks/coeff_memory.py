"""The render job's coefficient stage (audio file -> mel -> ExpNet + PoseVAE -> keypoints of every frame)
on long audio: peak memory and time for a short and a long clip, segment spans vs the whole-clip
baseline, in one run.

    PYTHONPATH=. .venv/bin/python benchmarks/coeff_memory.py [--short 60] [--long 600] [--segment 250]

Each measurement runs in a fresh process: the pipeline (stand-in weights, tiny renderer at 128 px,
OpenCV boxes + template landmarks) and the source image are prepared first, and the measured path runs
once on 30 s of audio; then the process's resident memory is sampled every 2 ms while the stage runs.
``peak`` is the peak minus the resident memory just before the stage; ``held`` is the resident memory
when the last keypoints are out minus the same baseline (what the stage keeps for the clip).
``segments`` is what the render job runs (``CoeffActor``): the audio decoded block by block into a raw
file, then each segment's keypoints from the samples its frames and their windows need; the packed
keypoints of every segment are kept (the job streams them out; this is the worst case). ``whole`` (the
baseline, the job before) loads the waveform, computes the clip's mel in blocks and runs Audio2Coeff and
the keypoints over the whole clip (windows cut batch by batch). Per-minute growth =
(long - short) / (minutes between them); the hour figure extrapolates it.
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


def stage(root: str, seconds: float, mode: str, segment: int, queue) -> None:
    import torch

    from talkingface.audio import audio_features
    from talkingface.audio.pcm import decode_pcm
    from talkingface.render.pipeline import ClipInputs, PipelineConfig, RenderRequest, TalkingFacePipeline

    torch.set_num_threads(2)
    config = PipelineConfig(model_config="tiny", detector="haar", landmarks="template")
    pipeline = TalkingFacePipeline(config)
    audio = Path(root) / f"{seconds:g}s.wav"
    request = RenderRequest(image=str(Path(root) / "face.png"), audio=str(audio), out="unused.mp4", size=128)
    source, _ = pipeline.source(request.image, request.size, request.preprocess)
    warm = Path(root) / "warm.wav"
    soundfile.write(warm, speechlike(30.0), 16000)
    # models loaded and the measured path run once on 30 s, so the allocator's working set of that path
    # (it plateaus within a few segments) is in the baseline, not counted as the clip's
    if mode == "whole":
        pipeline.keypoints(request, source, pipeline.coefficients(request, source, audio_features(warm)))
    else:
        features = decode_pcm(warm, Path(root) / f"warm-{seconds:g}.f32")
        for first in range(0, features.num_frames, segment):
            last = min(first + segment, features.num_frames)
            pipeline.keypoint_span(ClipInputs(request, source, features), first, last)
    gc.collect()
    before, peak, done = resident_mib(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], resident_mib())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    if mode == "whole":
        coeffs = pipeline.coefficients(request, source, audio_features(audio))
        frames = len(torch.cat(list(pipeline.keypoints(request, source, coeffs)[1])))
    else:
        features = decode_pcm(audio, Path(root) / f"{seconds:g}s-{mode}.f32")
        packed = []  # what Ray may hold of the yielded segment rows
        for first in range(0, features.num_frames, segment):
            last = min(first + segment, features.num_frames)
            _, kp = pipeline.keypoint_span(ClipInputs(request, source, features), first, last)
            packed.append(kp.numpy().tobytes())
        frames = sum(len(p) for p in packed) // (4 * kp[0].numel())
    elapsed = time.perf_counter() - start
    held = resident_mib()  # what the stage still holds when its last keypoints are out
    done.set()
    sampler.join()
    queue.put({"mode": mode, "audio_s": seconds, "frames": frames, "seconds": round(elapsed, 1),
               "peak_mib": round(max(peak[0] - before, 0.0), 1),
               "held_mib": round(held - before, 1)})  # fmt: skip


def measure(root: str, seconds: float, mode: str, segment: int) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=stage, args=(root, seconds, mode, segment, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--short", type=float, default=60.0, help="short audio, seconds")
    p.add_argument("--long", type=float, default=600.0, help="long audio, seconds")
    p.add_argument("--segment", type=int, default=250, help="frames per segment (the job's --segment-frames)")
    args = p.parse_args()
    import skimage.data
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="coeff-memory-bench-") as root:
        Image.fromarray(skimage.data.astronaut()).save(Path(root) / "face.png")
        for seconds in (args.short, args.long):
            soundfile.write(Path(root) / f"{seconds:g}s.wav", speechlike(seconds), 16000)
        modes = ("whole", "segments")
        runs = {(m, s): measure(root, s, m, args.segment) for m in modes for s in (args.short, args.long)}
    for r in runs.values():
        print(json.dumps(r))
    minutes = (args.long - args.short) / 60
    for mode in ("whole", "segments"):
        short, long = runs[mode, args.short], runs[mode, args.long]
        label = "whole clip (baseline)" if mode == "whole" else f"segments of {args.segment} (the render job)"
        for key, what in (("peak_mib", "peak"), ("held_mib", "held at the end")):
            per_minute = (long[key] - short[key]) / minutes
            print(
                f"coefficient stage, {label}, {what}: {short[key]:+.1f} MiB for {args.short:g} s of audio, "
                f"{long[key]:+.1f} MiB for {args.long:g} s ({per_minute:.1f} MiB per minute of audio, "
                f"about {per_minute * 60 / 1024:.2f} GiB for an hour)"
            )
        print(f"coefficient stage, {label}: {long['seconds']} s for {long['frames']} frames")


if __name__ == "__main__":
    main()
