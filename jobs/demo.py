"""``talkingface demo``: the main job end to end on a bundled sample, no cluster, S3 or weights needed.

1. synthesise a small CREMA-D / RAVDESS-style corpus (espeak-ng speech, a moving astronaut face);
2. run the extraction job on it with a local Ray instance (dlib's pip-shipped detector and 68-point
   landmarks, or face-alignment's SFD + FAN where ``--face-weights`` holds their weights), on stand-in
   recon weights unless ``--weights`` is given;
3. render a talking-face mp4 from the astronaut and one corpus voice (the tiny renderer: a reduced-width
   face renderer with random weights, so the frames show the pipeline, not a real animation).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from distributed.extract import ExtractConfig, run_extract
from distributed.runtime import init_ray
from talkingface.render.pipeline import PipelineConfig, RenderRequest, TalkingFacePipeline
from talkingface.synth import make_corpus


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="talkingface demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="out/demo", help="output folder (local path or s3:// URI for features)")
    p.add_argument("--clips", type=int, default=3, help="synthetic clips per dataset")
    p.add_argument("--seconds", type=float, default=1.5)
    p.add_argument(
        "--face-weights", help="dir with face-alignment weights: real landmarks instead of a template"
    )
    p.add_argument("--weights", help="dir/URI of the official SadTalker checkpoints")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    corpus = out / "corpus"
    print(f"[demo] synthesising {2 * args.clips} clips into {corpus}", flush=True)
    make_corpus(corpus, n_clips_per_dataset=args.clips, seconds=args.seconds, seed=0)
    init_ray()
    config = ExtractConfig(
        corpus=str(corpus),
        out=str(out / "features"),
        face_weights=args.face_weights,
        weights=args.weights,
        stand_in_weights=args.weights is None,
    )
    print(f"[demo] extracting betas with Ray Data into {config.out}", flush=True)
    summary = run_extract(config)
    print(json.dumps({"extract": summary.as_dict()}, indent=1))

    face = out / "face.png"
    Image.fromarray(np.asarray(data.astronaut())[0:300, 100:400]).save(face)
    voice = sorted(corpus.rglob("*.wav"))[0]
    print(f"[demo] rendering {voice.name} on {face} (tiny renderer, stand-in weights)", flush=True)
    pipeline = TalkingFacePipeline(
        PipelineConfig(
            checkpoint_dir=args.weights,
            model_config="tiny",
            detector="auto",
            landmarks="auto",
            face_weights=args.face_weights,
        )
    )
    video = pipeline.render(RenderRequest(image=str(face), audio=str(voice), out=str(out / "talking.mp4")))
    print(json.dumps({"render": video.summary()}, indent=1))
    return 0 if summary.failed == summary.failed_infrastructure == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
