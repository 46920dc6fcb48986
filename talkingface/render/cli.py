"""``talkingface render``: one portrait + one speech clip -> a talking-face mp4 (prints a JSON summary).

    talkingface render --image face.png --audio speech.wav --out clip.mp4 \\
        --checkpoint-dir checkpoints/ --size 256 --preprocess full --still

Errors (missing input, no face, bad emotion or pose style, broken checkpoint) are printed as one line
naming the bad input, with exit status 1 (2 for unusable options).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from talkingface.audio2coeff import NUM_POSE_STYLES
from talkingface.face.crop import MODES
from talkingface.face.detect import DETECTORS, LANDMARKS, NoFaceError
from talkingface.face.paste import METHODS
from talkingface.face.reconstruct import ALIGN_MODES
from talkingface.precision import PRECISIONS
from talkingface.render.configs import CONFIGS
from talkingface.render.pipeline import SIZES, PipelineConfig, RenderRequest, TalkingFacePipeline
from talkingface.video import VideoError
from talkingface.weights.load import CheckpointError

PROG = "talkingface render"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="One portrait + one speech clip -> a talking-face mp4; prints a JSON summary."
    )
    io = p.add_argument_group("inputs and outputs (local paths or storage URIs)")
    io.add_argument("--image", required=True, help="source portrait (png/jpg)")
    io.add_argument("--audio", required=True, help="driving speech (wav/mp3/... or a video's audio track)")
    io.add_argument("--out", help="output mp4 (H.264 + AAC, 25 fps); optional with --save-betas")
    io.add_argument("--save-betas", help="write the predicted [T, 70] coefficients (.pt) and stop")
    io.add_argument("--override-betas", help="[T, D] tensor (.pt/.npy) replacing coefficients[:, :D]")
    io.add_argument("--ref-eyeblink", help="video whose expressions and blinks drive the eyes")
    io.add_argument("--ref-pose", help="video whose head motion is added to the predicted pose")

    look = p.add_argument_group("animation")
    look.add_argument("--size", type=int, choices=SIZES, default=256, help="render size (default 256)")
    look.add_argument("--preprocess", choices=MODES, default="crop", help="face crop mode (default crop)")
    look.add_argument("--still", action="store_true", help="keep the source's head pose")
    look.add_argument("--pose-style", type=int, default=0, help=f"head-motion style 0..{NUM_POSE_STYLES - 1}")
    look.add_argument("--expression-scale", type=float, default=1.0, help="multiply expressions (default 1)")
    look.add_argument("--seed", type=int, default=0, help="blinks and head-motion latents (default 0)")
    look.add_argument("--batch-size", type=int, default=2, help="frames per renderer call (default 2)")
    look.add_argument("--paste", choices=METHODS, default="seamless", help="full modes: paste-back blend")
    for axis in ("yaw", "pitch", "roll"):
        look.add_argument(
            f"--input-{axis}",
            type=float,
            nargs="+",
            metavar="DEG",
            help=f"free view: {axis} key angles (degrees)",
        )

    emo = p.add_argument_group("expression models")
    emo.add_argument("--expnet-checkpoint", help="fine-tuned ExpNet (.pth/.pt/.safetensors, fork format ok)")
    emo.add_argument("--posevae-checkpoint", help="trained PoseVAE export dir; --pose-style picks its class")
    emo.add_argument("--head", help="directory of a saved emotion head (with --emotion)")
    emo.add_argument("--emotion", help="emotion name the head is conditioned on")
    emo.add_argument("--intensity", type=float, default=1.0, help="emotion intensity (default 1)")
    emo.add_argument("--alpha", type=float, default=1.0, help="blend: exp + alpha * (head - exp)")
    emo.add_argument("--ortho", action="store_true", help="keep only the change along each frame's exp")

    run = p.add_argument_group("models and device")
    run.add_argument("--checkpoint-dir", help="official SadTalker checkpoints (dir or URI); none: RANDOM")
    run.add_argument("--model-config", choices=sorted(CONFIGS), default="official", help="renderer size")
    run.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1...)")
    run.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="renderer and recon net arithmetic (default: bf16 where the device has it natively, else fp32)",
    )
    run.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="torch.compile the renderer (CUDA graphs on GPU; compiles once, first frames slower)",
    )
    run.add_argument(
        "--detector",
        default="auto",
        choices=DETECTORS,
        help="face boxes: auto (face-alignment's SFD when its weights are present, else dlib), dlib, "
        "dlib-cnn, sfd, haar",
    )
    run.add_argument(
        "--landmarks",
        choices=LANDMARKS,
        default="auto",
        help="68 points: auto (FAN when its weights are present, else dlib), dlib, fan, or template (the "
        "mean face placed in the box: offline smoke runs only)",
    )
    run.add_argument("--face-weights", help="local dir with face-alignment's weight files")
    run.add_argument(
        "--align",
        choices=ALIGN_MODES,
        default="auto",
        help="3DMM alignment: detected landmarks, SadTalker's standard 5 points, or auto (standard "
        "where the crop shows no face, with a warning)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    logging.basicConfig(
        level=logging.WARNING, format=f"{PROG}: %(levelname)s: %(message)s", stream=sys.stderr
    )
    try:
        request = RenderRequest(
            image=args.image,
            audio=args.audio,
            out=args.out,
            size=args.size,
            preprocess=args.preprocess,
            still=args.still,
            pose_style=args.pose_style,
            expression_scale=args.expression_scale,
            batch_size=args.batch_size,
            ref_eyeblink=args.ref_eyeblink,
            ref_pose=args.ref_pose,
            seed=args.seed,
            emotion=args.emotion,
            intensity=args.intensity,
            alpha=args.alpha,
            ortho=args.ortho,
            head=args.head,
            expnet_checkpoint=args.expnet_checkpoint,
            posevae_checkpoint=args.posevae_checkpoint,
            save_betas=args.save_betas,
            override_betas=args.override_betas,
            paste=args.paste,
            yaw=tuple(args.input_yaw) if args.input_yaw else None,
            pitch=tuple(args.input_pitch) if args.input_pitch else None,
            roll=tuple(args.input_roll) if args.input_roll else None,
        )
        config = PipelineConfig(
            checkpoint_dir=args.checkpoint_dir,
            model_config=args.model_config,
            device=args.device,
            detector=args.detector,
            landmarks=args.landmarks,
            face_weights=args.face_weights,
            align=args.align,
            precision=args.precision,
            compile=args.compile,
        )
    except ValueError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    try:
        result = TalkingFacePipeline(config).render(request)
    except (FileNotFoundError, NoFaceError, ValueError, CheckpointError, VideoError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(result.summary()))
    return 0
