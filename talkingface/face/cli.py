"""``talkingface faces INPUT... [--detector ...] [--landmarks ...]``: faces and 68 landmarks, JSON lines.

One line per image, or per frame of a video: ``{"image", "faces": [{"box": [x1, y1, x2, y2], "score",
"landmarks": [[x, y] x 68]}], "picked"}`` (``picked`` is the main face's index, null without a face), or
``{"image", "error"}`` for an input that cannot be read. Exit code 1 when any input failed, 2 for a
configuration error (a missing model file).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from talkingface.face.detect import DETECTORS, LANDMARKS, DetectorConfig, LandmarkDetector
from talkingface.face.dlib_models import MissingWeightsError

VIDEO_SUFFIXES = (".mp4", ".avi", ".flv", ".mov", ".mkv", ".webm")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="talkingface faces", description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image or video files")
    p.add_argument(
        "--detector", choices=DETECTORS, default="auto", help="auto: sfd if its weights exist, else dlib"
    )
    p.add_argument(
        "--landmarks", choices=LANDMARKS, default="auto", help="auto: fan if its weights exist, else dlib"
    )
    p.add_argument("--face-weights", help="local dir with face-alignment's weight files")
    return p


def pictures(path: str) -> Iterator[tuple[str, np.ndarray]]:
    """(name, RGB uint8 image) for an image file, or per frame of a video (``path#frame``)."""
    if Path(path).suffix.lower() in VIDEO_SUFFIXES:
        from talkingface.video.reader import iter_frames

        for i, frame in enumerate(iter_frames(path)):
            yield f"{path}#{i}", np.ascontiguousarray(frame)
        return
    with Image.open(path) as image:
        yield path, np.ascontiguousarray(np.asarray(image.convert("RGB")))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = DetectorConfig(
        face_detector=args.detector,
        landmarks=args.landmarks,
        weights_dir=Path(args.face_weights) if args.face_weights else None,
    )
    try:
        detector = LandmarkDetector(config)
    except MissingWeightsError as err:
        print(f"talkingface faces: configuration error: {err}", file=sys.stderr)
        return 2
    failed = False
    for path in args.inputs:
        try:
            for name, image in pictures(path):
                found = detector.faces(image, name)
                faces = [
                    {
                        "box": [round(v, 2) for v in f.box],
                        "score": None if f.score is None else round(f.score, 4),
                        "landmarks": np.round(f.landmarks, 2).tolist(),
                    }
                    for f in found
                ]
                print(json.dumps({"image": name, "faces": faces, "picked": 0 if faces else None}), flush=True)
        except Exception as err:  # one bad input is reported and the rest go on
            failed = True
            print(json.dumps({"image": path, "error": f"{path}: {type(err).__name__}: {err}"}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
