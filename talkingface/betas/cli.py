"""``talkingface get-betas VIDEO --out betas.parquet [--pt exp.pt]``: per-frame 3DMM coefficients of a video.

The video is resampled to 25 fps and cut to T = floor(samples/640) frames of its audio (its own track
or ``--audio``), exactly the frames ExpNet predicts for that audio, so source/target pairs line up.
The Parquet file holds one row of the betas table; ``--pt`` also saves the [T, 64] expression
tensor in the seed fork's format.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

import storage
from talkingface.betas.extractor import BetasExtractor
from talkingface.betas.media import decode_clip, frame_windows
from talkingface.betas.record import betas_record
from talkingface.corpus.auto import parse
from talkingface.corpus.labels import ClipLabel
from talkingface.face.detect import DETECTORS, LANDMARKS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="talkingface get-betas", description=__doc__.splitlines()[0])
    p.add_argument("video", help="video file or URI")
    p.add_argument("--audio", help="separate audio file (default: the video's own track)")
    p.add_argument("--out", required=True, help="output .parquet (local path or URI)")
    p.add_argument("--pt", help="also save the [T, 64] expression tensor here (.pt)")
    p.add_argument("--weights", help="dir/URI of official SadTalker checkpoints (required, or:)")
    p.add_argument(
        "--stand-in-weights", action="store_true", help="allow seeded random recon weights (tests only)"
    )
    p.add_argument(
        "--detector", default="auto", choices=DETECTORS, help="auto: sfd if its weights exist, else dlib"
    )
    p.add_argument(
        "--landmarks", default="auto", choices=LANDMARKS, help="auto: fan if its weights exist, else dlib"
    )
    p.add_argument("--face-weights", help="local dir with face-alignment weight files")
    p.add_argument("--landmark-stride", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p


def labels_of(path: str) -> dict:
    """Clip labels from a corpus file name, or 'unknown' ones for any other name."""
    label = parse(path)
    if isinstance(label, ClipLabel):
        return {
            "clip_id": label.take.replace("/", "-"),
            "dataset": label.dataset,
            "emotion": label.emotion,
            "intensity": label.intensity,
        }
    return {"clip_id": Path(path).stem, "dataset": "unknown", "emotion": "unknown", "intensity": None}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.weights is None and not args.stand_in_weights:
        parser.error(
            "no --weights given: pass the official checkpoints, or --stand-in-weights (not real betas)"
        )
    video = storage.download_to_cache(args.video)
    audio = storage.download_to_cache(args.audio) if args.audio else None
    extractor = BetasExtractor.create(
        weights=args.weights,
        detector=args.detector,
        face_weights=args.face_weights,
        device=args.device,
        batch_size=args.batch_size,
        landmark_stride=args.landmark_stride,
        landmarks=args.landmarks,
    )
    media = decode_clip(video, audio, detector=extractor.faces.detector(), name=args.video)
    betas = extractor.extract_crops(media.crop, name=args.video)
    row = betas_record(labels_of(args.video), betas, frame_windows(media.audio), len(media.audio))
    storage.write_table_atomic(storage.to_table([row], storage.BETAS_SCHEMA), args.out)
    if args.pt:
        with storage.atomic_output(args.pt) as path:
            torch.save(torch.from_numpy(row["exp"].copy()), path)
    summary = {
        "out": args.out,
        "pt": args.pt,
        "frames": row["n_frames"],
        "face_frames": int(betas.face_found.sum()),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
