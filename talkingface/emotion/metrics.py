"""Per-emotion evaluation: expression L1/L2 against target betas and Acc_emo@3DMM (metrics.md 5.3, 5.4)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch
from torch import Tensor

from talkingface.emotion.apply import predict
from talkingface.emotion.classifier import ExpressionClassifier
from talkingface.emotion.data import BetaClip, check_betas
from talkingface.emotion.heads import Head
from talkingface.emotion.windows import strided_windows

ALL = "all"


def expression_errors(
    preds: Sequence[Tensor], targets: Sequence[Tensor], emotions: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per emotion and ``"all"``: ``l1`` mean |error| per coefficient, ``l2`` mean per-frame L2 distance.

    Frames are pooled, so long clips weigh more; ``frames`` counts them.
    """
    if not len(preds) == len(targets) == len(emotions):
        raise ValueError(f"got {len(preds)} predictions, {len(targets)} targets, {len(emotions)} emotions")
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for i, (pred, target, emotion) in enumerate(zip(preds, targets, emotions, strict=True)):
        if pred.shape != target.shape:
            raise ValueError(f"clip {i}: prediction {tuple(pred.shape)} vs target {tuple(target.shape)}")
        err = (pred.float() - target.float()).cpu()  # [T, 64]
        for key in (emotion, ALL):
            sums[key][0] += err.abs().mean(-1).sum().item()
            sums[key][1] += err.norm(dim=-1).sum().item()
            sums[key][2] += err.shape[0]
    return {k: {"l1": s[0] / s[2], "l2": s[1] / s[2], "frames": s[2]} for k, s in sorted(sums.items())}


@torch.no_grad()
def classify(classifier: ExpressionClassifier, betas: Tensor) -> str:
    """The emotion of a whole sequence [T, 64]: arg-max of the mean logits over its windows."""
    check_betas(betas, "betas")
    cfg = classifier.config
    param = next(classifier.parameters())
    windows = strided_windows(betas.to(param.device, param.dtype), cfg.window, cfg.stride)  # [N, W, 64]
    classifier.eval()
    return cfg.emotions[classifier(windows).mean(0).argmax().item()]


def emotion_accuracy(
    classifier: ExpressionClassifier, sequences: Sequence[tuple[Tensor, str]]
) -> dict[str, float]:
    """Acc_emo@3DMM: per requested emotion (and ``"all"``), the fraction of sequences classified as it."""
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for betas, emotion in sequences:
        correct = int(classify(classifier, betas) == emotion)
        for key in (emotion, ALL):
            hits[key][0] += correct
            hits[key][1] += 1
    return {k: h[0] / h[1] for k, h in sorted(hits.items())}


def evaluate_head(
    head: Head, clips: Sequence[BetaClip], classifier: ExpressionClassifier | None = None
) -> dict[str, dict]:
    """Errors vs the targets of the head's output and of the unchanged source; Acc_emo with a classifier."""
    if not clips:
        raise ValueError("no clips to evaluate")
    generated = [predict(head, c.source, c.emotion, c.intensity) for c in clips]
    emotions = [c.emotion for c in clips]
    targets = [c.target for c in clips]
    report: dict[str, dict] = {
        "head": expression_errors(generated, targets, emotions),
        "identity": expression_errors([c.source for c in clips], targets, emotions),
    }
    if classifier is not None:
        report["acc_emo"] = {
            name: emotion_accuracy(classifier, list(zip(betas, emotions, strict=True)))
            for name, betas in (
                ("generated", generated),
                ("target", targets),
                ("source", [c.source for c in clips]),
            )
        }
    return report
