r"""Bulk rendering: ``python -m jobs.render --manifest URI --out URI`` (also ``talkingface render-batch``).

The manifest (CSV, JSONL or Parquet; columns of ``storage.schemas.RENDER_MANIFEST_SCHEMA``) lists one
clip per row: id, audio, image and optional per-row settings; empty settings take this job's options.
Every row is validated first (bad rows are reported with their line and reason, the rest go on); each
good row becomes OUT/<output or id>.mp4 with a content hash in its metadata, so a rerun renders only
new or changed rows. Results: OUT/_results/<run start>.parquet. Submit to a cluster with::

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python -m jobs.render --manifest s3://bucket/manifest.csv --out s3://bucket/videos \
        --checkpoint-dir s3://bucket/sadtalker-weights --render-actors 8 --num-gpus-per-actor 0.5
"""

from __future__ import annotations

import json
import logging
import sys

from distributed.render import RenderBatchConfig, run_render
from distributed.render.plan import ConfigurationError
from jobs.options import job_parser, parse_job_config
from talkingface.face.detect import DETECTORS, LANDMARKS
from talkingface.precision import PRECISIONS

PROG = "talkingface render-batch"


def parse_args(argv: list[str] | None) -> RenderBatchConfig:
    p = job_parser(PROG, __doc__)
    p.add_argument("--manifest", help="CSV / JSONL / Parquet manifest: local path, file:// or s3:// URI")
    p.add_argument("--out", help="output prefix: local dir, file:// or s3:// URI")
    p.add_argument("--results", help="results Parquet URI (default OUT/_results/<run start>.parquet)")
    rows = p.add_argument_group("defaults of the manifest's optional columns")
    rows.add_argument("--emotion", help="emotion name the head steers towards")
    rows.add_argument("--intensity", type=float, help="emotion intensity in [0, 1]")
    rows.add_argument("--alpha", type=float, help="blend exp + alpha * (head - exp)")
    rows.add_argument("--ortho", action="store_true", help="keep only the change along each frame's exp")
    rows.add_argument("--head", help="directory of a saved emotion head")
    rows.add_argument("--pose-style", type=int, help="head-motion style 0..45")
    rows.add_argument("--expression-scale", type=float, help="multiply expressions")
    rows.add_argument("--still", action="store_true", help="keep the source's head pose")
    rows.add_argument("--size", type=int, help="render size 256 / 512 (128: stand-in weights only)")
    rows.add_argument("--preprocess", help="crop | extcrop | resize | full | extfull")
    rows.add_argument("--seed", type=int, help="blinks and head-motion latents")
    models = p.add_argument_group("models")
    models.add_argument("--checkpoint-dir", help="official SadTalker checkpoints (dir or URI); unset: RANDOM")
    models.add_argument("--model-config", choices=["official", "tiny"], help="renderer size")
    models.add_argument(
        "--detector", choices=DETECTORS, help="face boxes (auto: SFD with its weights, else dlib)"
    )
    models.add_argument(
        "--landmarks", choices=LANDMARKS, help="68 points (auto: FAN with its weights, else dlib)"
    )
    models.add_argument("--face-weights", help="local dir with face-alignment's weight files")
    models.add_argument("--align", help="3DMM alignment: auto, landmarks or standard")
    models.add_argument(
        "--precision", choices=PRECISIONS, help="renderer precision (unset: bf16 where native, else fp32)"
    )
    models.add_argument(
        "--compile", action="store_true", help="torch.compile each render actor's renderer (once per actor)"
    )
    stages = p.add_argument_group("stages")
    stages.add_argument("--source-actors", type=int, help="actors preparing distinct images")
    stages.add_argument("--coeff-actors", type=int, help="actors turning audio into keypoints")
    stages.add_argument("--render-actors", type=int, help="renderer actors")
    stages.add_argument("--num-gpus-per-actor", type=float, help="GPUs per renderer actor (fractional ok)")
    stages.add_argument("--num-cpus-per-actor", type=float, help="CPUs per renderer actor")
    stages.add_argument("--prep-num-gpus", type=float, help="GPUs per source / coefficient actor")
    stages.add_argument("--batch-size", type=int, help="frames per renderer call")
    stages.add_argument(
        "--segment-frames", type=int, help="frames per segment (long audio renders in parallel)"
    )
    stages.add_argument("--crf", type=int, help="H.264 quality, 0 = lossless")
    stages.add_argument("--preset", help="libx264 preset")
    stages.add_argument("--max-retries", type=int, help="retries of crashed actors and tasks")
    return parse_job_config(p, RenderBatchConfig, argv)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"{PROG}: %(message)s", stream=sys.stderr)
    try:
        summary = run_render(config)  # validates every row (and starts Ray) before any model loads
    except ConfigurationError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary.as_dict(), indent=1))
    return 0 if summary.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
