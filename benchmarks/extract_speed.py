"""Extraction throughput: the Ray job with 1 and 2 recon actors vs the fork's per-frame loop, and memory.

    .venv/bin/python benchmarks/extract_speed.py [--clips 4] [--seconds 2] [--detector dlib|haar|sfd]
        [--landmarks dlib|template|fan] [--face-weights DIR] [--num-gpus-per-actor 0.5]

First, detection + landmarks in ms per frame for each face backend that can run here (the astronaut on
a 640x360 and a 1920x1080 frame), then the job comparison:

The same synthetic corpus (CREMA-D + RAVDESS names, 30 fps sources) is processed
  * by ``run_extract`` on a local Ray instance with ``--concurrency 1`` and ``2``, and
  * by a plain loop in the style of the seed fork's get_betas.py (decode, then for every frame: detect,
    crop, align and run the recon net on that single frame).
Frames/s count the 25 fps frames written. Then the corpus is doubled and the job re-run: the peak
memory (summed PSS of this process and its descendants, the local Ray included, sampled every 0.2 s)
should stay flat, because clips stream through the pipeline and nothing materialises the dataset.
Last, 2 clips per dataset at 640x360 and at 1920x1080 (``--hd-seconds`` long): frames/s and peak memory
of each (the decode stage cuts 256 px crops as frames decode, so 1080p should need no more memory).
Default backends are the offline dlib stack; ``--landmarks fan`` with ``--face-weights`` times
face-alignment's FAN instead.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch
from peak_memory import PeakMemory, tree_pss_mib

from distributed.extract.config import ExtractConfig
from distributed.extract.pipeline import run_extract
from distributed.runtime import init_ray
from talkingface.betas import decode_clip
from talkingface.betas.extractor import BetasExtractor
from talkingface.face.align import align_face
from talkingface.face.crop import apply_crop, plan_crop
from talkingface.synth import make_corpus


def fork_style_loop(corpus: Path, extractor: BetasExtractor) -> int:
    """The seed fork's way: one clip after another, every frame detected and reconstructed on its own."""
    frames_done = 0
    for video in sorted([*corpus.rglob("*.flv"), *corpus.rglob("*.mp4")]):
        wav = next(corpus.rglob(video.stem + ".wav"), None)
        media = decode_clip(video, wav)
        detector = extractor.faces.detector()
        info = plan_crop(detector.detect(media.frames[0]).landmarks, media.frames.shape[2:0:-1], "crop")
        for frame in media.frames:
            crop = apply_crop(frame, info)
            aligned = align_face(crop, detector.detect(crop).landmarks)
            extractor.faces.coefficients([aligned.crop])
            frames_done += 1
    return frames_done


def timed_job(config: ExtractConfig) -> tuple[float, int, float]:
    """(seconds, frames, peak MiB) of one extraction run into a fresh output dir."""
    with PeakMemory(tree_pss_mib) as memory:
        start = time.perf_counter()
        summary = run_extract(config)
        seconds = time.perf_counter() - start
    if summary.failed or summary.failed_infrastructure:
        raise RuntimeError(f"benchmark run failed: {summary.errors}")
    return seconds, summary.frames, memory.peak


def face_backend_ms(face_weights: str | None) -> None:
    """Print detection + landmarks ms/frame per backend on 360p and 1080p frames holding the astronaut."""
    import cv2
    import numpy as np
    import skimage.data

    from talkingface.face.detect import DetectorConfig, LandmarkDetector, NoFaceError
    from talkingface.face.dlib_models import MissingWeightsError

    face = cv2.resize(np.ascontiguousarray(skimage.data.astronaut()), (300, 300))
    backends = [("dlib", "dlib"), ("haar", "dlib"), ("haar", "template"), ("sfd", "fan")]
    for detector, landmarks in backends:
        try:
            faces = LandmarkDetector(
                DetectorConfig(face_detector=detector, landmarks=landmarks, weights_dir=face_weights)
            )
        except MissingWeightsError as err:
            print(f"face backend {detector}+{landmarks}: skipped ({str(err)[:80]}...)")
            continue
        for w, h in ((640, 360), (1920, 1080)):
            frame = np.full((h, w, 3), 90, np.uint8)
            frame[30:330, 170:470] = face
            try:
                faces.detect(frame)
            except NoFaceError:
                print(f"face backend {detector:5s}+{landmarks:8s} {w}x{h}: no face found")
                continue
            start, n = time.perf_counter(), 5
            for _ in range(n):
                faces.detect(frame)
            ms = (time.perf_counter() - start) / n * 1000
            print(
                f"face backend {detector:5s}+{landmarks:8s} {w}x{h}: {ms:7.1f} ms/frame (detect + landmarks)"
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=4, help="clips per dataset (x2 datasets)")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--hd-seconds", type=float, default=10.0, help="length of the 360p / 1080p clips")
    p.add_argument("--detector", default="dlib", choices=["dlib", "dlib-cnn", "haar", "sfd"])
    p.add_argument("--landmarks", default="dlib", choices=["dlib", "template", "fan"])
    p.add_argument("--face-weights")
    p.add_argument("--num-gpus-per-actor", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, help="recon batch (default: the job's, 32 GPU / 4 CPU)")
    args = p.parse_args()
    face_backend_ms(args.face_weights)

    work = Path(tempfile.mkdtemp(prefix="extract-bench-"))
    corpus = work / "corpus"
    make_corpus(corpus, n_clips_per_dataset=args.clips, seconds=args.seconds, seed=0)
    init_ray()

    def config(corpus_dir: Path, out: str, concurrency: int) -> ExtractConfig:
        return ExtractConfig(
            corpus=str(corpus_dir),
            out=str(work / out),
            detector=args.detector,
            landmarks=args.landmarks,
            face_weights=args.face_weights,
            stand_in_weights=True,
            concurrency=concurrency,
            num_gpus_per_actor=args.num_gpus_per_actor,
            num_cpus_per_actor=0.5,
            batch_size=args.batch_size,
        )

    device = "cuda" if args.num_gpus_per_actor > 0 and torch.cuda.is_available() else "cpu"
    built = time.perf_counter()
    extractor = BetasExtractor.create(
        detector=args.detector, landmarks=args.landmarks, face_weights=args.face_weights, device=device
    )
    start = time.perf_counter()
    loop_frames = fork_style_loop(corpus, extractor)
    loop_s = time.perf_counter() - start
    loop_rate = loop_frames / loop_s
    print(f"per-frame loop (fork style): {loop_rate:6.2f} frames/s ({loop_frames} frames, {loop_s:.1f} s)")
    with_build = loop_frames / (time.perf_counter() - built)  # the job's times include building models
    print(f"  the same loop counting its model build: {with_build:6.2f} frames/s")
    rates = {}
    for actors in (1, 2):
        seconds, frames, peak = timed_job(config(corpus, f"out-{actors}", actors))
        rates[actors] = frames / seconds
        print(
            f"Ray job, {actors} actor(s):      {rates[actors]:6.2f} frames/s ({frames} frames, "
            f"{seconds:.1f} s, peak {peak:.0f} MiB)"
        )
    print(
        f"speed-up of the Ray job (2 actors) over the loop: {rates[2] / loop_rate:.2f}x "
        "(includes Ray start-up of the pool and the Parquet commits)"
    )

    doubled = work / "corpus2"
    make_corpus(doubled, n_clips_per_dataset=2 * args.clips, seconds=args.seconds, seed=0)
    small = timed_job(config(corpus, "mem-1x", 2))
    large = timed_job(config(doubled, "mem-2x", 2))
    print(
        f"peak memory, corpus x1: {small[2]:.0f} MiB ({small[1]} frames); x2: {large[2]:.0f} MiB "
        f"({large[1]} frames); ratio {large[2] / small[2]:.2f}"
    )
    by_size = {}
    for w, h in ((640, 360), (1920, 1080)):
        sized = work / f"corpus-{h}p"
        make_corpus(sized, n_clips_per_dataset=2, seconds=args.hd_seconds, seed=0, frame_size=(w, h))
        by_size[h] = timed_job(config(sized, f"out-{h}p", 2))
        seconds, frames, peak = by_size[h]
        rate = frames / seconds
        print(f"{h}p clips of {args.hd_seconds:g} s, 2 actors: {rate:6.2f} frames/s, peak {peak:.0f} MiB")
    print(
        f"peak memory 1080p vs 360p (360p is the baseline): {by_size[1080][2] / by_size[360][2]:.2f}x "
        "(frames are cut to 256 px crops while they decode)"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
