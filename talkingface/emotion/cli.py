"""``talkingface heads train|eval|apply|classifier``: emotion heads over folders of beta files.

Source (ExpNet) and target (real video) betas live in two folders with matching relative paths and
stems (``.pt`` or ``.npy``); each clip's emotion and intensity come from the corpus parser of its name.
Output is JSON lines on stdout; skipped files are reported as ``{"status": "skipped", ...}`` lines.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from talkingface.corpus import DATASETS, Rejection, parse
from talkingface.emotion.apply import apply_head
from talkingface.emotion.betas_io import Skipped, find_beta_files, load_betas, load_clip_pairs, save_betas
from talkingface.emotion.checkpoint import load_classifier, load_head, save_module
from talkingface.emotion.classifier import ClassifierConfig, ExpressionClassifier
from talkingface.emotion.data import BetaClip, split_by_group, split_clips
from talkingface.emotion.heads import HEADS, build_head, head_config
from talkingface.emotion.metrics import emotion_accuracy, evaluate_head
from talkingface.emotion.train import TrainConfig, train_classifier, train_head

UNKNOWN_INTENSITY = 2 / 3  # an ungraded emotional clip (CREMA-D XX) counts as medium


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="talkingface heads", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def labelled(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--dataset", choices=["auto", *DATASETS], default="auto", help="naming of the files")
        cmd.add_argument("--unknown-intensity", type=float, default=UNKNOWN_INTENSITY)

    def paired(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--source", required=True, help="folder of ExpNet betas")
        cmd.add_argument("--target", required=True, help="folder of real betas, same relative names")
        cmd.add_argument("--max-length-diff", type=int, default=0, help="trim pairs differing by <= N frames")
        labelled(cmd)

    def training(cmd: argparse.ArgumentParser, epochs: int) -> None:
        cmd.add_argument("--out", required=True, help="directory to save into")
        cmd.add_argument("--epochs", type=int, default=epochs)
        cmd.add_argument("--batch-size", type=int, default=128)
        cmd.add_argument("--lr", type=float, default=3e-3)
        cmd.add_argument("--val-fraction", type=float, default=0.2)
        cmd.add_argument("--split", choices=["clip", "actor"], default="clip", help="what val holds out")
        cmd.add_argument("--seed", type=int, default=0)
        cmd.add_argument("--device", default="cpu")

    train = commands.add_parser("train", help="train a head on paired source/target betas")
    paired(train)
    training(train, epochs=30)
    train.add_argument("--model", choices=list(HEADS), default="transformer")
    train.add_argument("--frame-len", type=int, default=5)
    train.add_argument("--head-config", default="{}", help="JSON overrides, e.g. '{\"d_model\": 64}'")

    evaluate = commands.add_parser("eval", help="per-emotion L1/L2 (and Acc_emo with --classifier)")
    evaluate.add_argument("--head", required=True, help="saved head directory")
    evaluate.add_argument("--classifier", help="saved expression-classifier directory")
    paired(evaluate)

    apply = commands.add_parser("apply", help="write emotional betas for every source beta file")
    apply.add_argument("--head", required=True, help="saved head directory")
    apply.add_argument("--source", required=True, help="beta file or folder")
    apply.add_argument("--out", required=True, help="output folder (same relative names, .pt)")
    apply.add_argument("--emotion", help="emotion for every file (default: parsed from each name)")
    apply.add_argument("--intensity", type=float, help="intensity in [0, 1] (default: from each name)")
    apply.add_argument("--alpha", type=float, default=1.0)
    apply.add_argument("--ortho", action="store_true", help="keep only the change along each frame's beta")
    labelled(apply)

    classifier = commands.add_parser("classifier", help="train the expression-space emotion classifier")
    classifier.add_argument("--target", required=True, help="folder of real betas named after clips")
    classifier.add_argument("--window", type=int, default=25)
    training(classifier, epochs=30)
    classifier.add_argument("--dataset", choices=["auto", *DATASETS], default="auto")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    clips = _clips(args)
    config = head_config(args.model, frame_len=args.frame_len, **json.loads(args.head_config))
    train_clips, val_clips = split_clips(clips, args.val_fraction, args.seed, args.split)
    torch.manual_seed(args.seed)
    head = build_head(config)
    train_config = TrainConfig(args.epochs, args.batch_size, args.lr, seed=args.seed, device=args.device)
    history = train_head(head, train_clips, val_clips, train_config)
    out = save_module(head, args.out)
    split = {"train_clips": [c.name for c in train_clips], "val_clips": [c.name for c in val_clips]}
    (out / "history.json").write_text(json.dumps({**history.to_json(), **split}, indent=1) + "\n")
    last = history.epochs[-1]
    summary = {"status": "trained", "out": str(out), "model": args.model, "train_clips": len(train_clips)}
    summary |= {"val_clips": len(val_clips), "train_loss": last.train_loss, "val_loss": last.val_loss}
    print(json.dumps(summary | {"baseline_val_loss": history.baseline_val_loss}))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    head = load_head(args.head)
    classifier = load_classifier(args.classifier) if args.classifier else None
    clips = _clips(args)
    print(json.dumps({"status": "evaluated", "clips": len(clips), **evaluate_head(head, clips, classifier)}))
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    head = load_head(args.head)
    for key, path in find_beta_files(args.source).items():
        label = parse(key + path.suffix, args.dataset, media=False)
        if isinstance(label, Rejection) and (args.emotion is None or args.intensity is None):
            print(json.dumps(Skipped(str(path), label.reason).to_json()))
            continue
        emotion = args.emotion or label.emotion
        intensity = args.intensity
        if intensity is None:
            intensity = args.unknown_intensity if label.intensity is None else label.intensity
        betas = apply_head(head, load_betas(path), emotion, intensity, args.alpha, args.ortho)
        out = save_betas(Path(args.out) / f"{key}.pt", betas)
        record = {"status": "ok", "path": str(path), "out": str(out), "frames": len(betas)}
        print(json.dumps(record | {"emotion": emotion, "intensity": intensity, "alpha": args.alpha}))
    return 0


def cmd_classifier(args: argparse.Namespace) -> int:
    items = []  # (key, betas, emotion, actor)
    for key, path in find_beta_files(args.target).items():
        label = parse(key + path.suffix, args.dataset, media=False)
        if isinstance(label, Rejection):
            print(json.dumps(Skipped(str(path), label.reason).to_json()))
            continue
        items.append((key, load_betas(path), label.emotion, f"{label.dataset}/{label.actor}"))
    if not items:
        raise ValueError(f"no labelled beta files under {args.target}")
    group = (lambda it: it[0]) if args.split == "clip" else (lambda it: it[3])
    train, val = split_by_group(items, group, args.val_fraction, args.seed)
    torch.manual_seed(args.seed)
    classifier = ExpressionClassifier(ClassifierConfig(window=args.window))
    train_config = TrainConfig(args.epochs, args.batch_size, args.lr, seed=args.seed, device=args.device)
    history = train_classifier(classifier, [it[1:3] for it in train], [it[1:3] for it in val], train_config)
    out = save_module(classifier, args.out)
    (out / "history.json").write_text(json.dumps(history.to_json(), indent=1) + "\n")
    accuracy = emotion_accuracy(classifier, [it[1:3] for it in val]) if val else None
    summary = {"status": "trained", "out": str(out), "train_clips": len(train), "val_clips": len(val)}
    print(json.dumps(summary | {"val_clip_accuracy": accuracy}))
    return 0


def _clips(args: argparse.Namespace) -> list[BetaClip]:
    clips, skipped = load_clip_pairs(
        args.source, args.target, args.dataset, args.unknown_intensity, args.max_length_diff
    )
    for item in skipped:
        print(json.dumps(item.to_json()))
    if not clips:
        raise ValueError(f"no usable source/target pairs under {args.source} and {args.target}")
    return clips


COMMANDS = {"train": cmd_train, "eval": cmd_eval, "apply": cmd_apply, "classifier": cmd_classifier}


def main(argv: list[str] | None = None) -> int:
    """Run the heads CLI; returns the exit status (2 for bad input)."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, json.JSONDecodeError, TypeError) as err:
        print(f"talkingface heads {args.command}: {err}", file=sys.stderr)
        return 2
