"""Test-split evaluation as Ray Data stages (per-clip rows back to the driver, aggregated there)."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import ray
import torch

import storage
from distributed.train.splits import actor_key
from distributed.train.windows import UNKNOWN_INTENSITY
from talkingface.emotion.apply import predict
from talkingface.emotion.checkpoint import load_module
from talkingface.emotion.metrics import ALL, classify


def module_files(directory: Path) -> dict[str, bytes]:
    """The files of a saved module directory, to ship to actors."""
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def _restore(files: dict[str, bytes]):
    directory = Path(tempfile.mkdtemp(prefix="tf-module-"))
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return load_module(directory)


class HeadEvaluator:
    """Actor: per test clip, L1 of head and identity vs the video betas and the classifier's verdicts."""

    def __init__(self, head: dict[str, bytes], classifier: dict[str, bytes], actors: list[str]):
        self.head, self.classifier, self.actors = _restore(head), _restore(classifier), set(actors)

    def __call__(self, batch: pa.Table) -> dict:
        out = defaultdict(list)
        for row in storage.from_table(batch):
            if actor_key(row["dataset"], row["actor"]) not in self.actors:
                continue
            source = torch.from_numpy(np.asarray(row["source_exp"], np.float32))
            target = torch.from_numpy(np.asarray(row["target_exp"], np.float32))
            intensity = UNKNOWN_INTENSITY if row["intensity"] is None else row["intensity"]
            generated = predict(self.head, source, row["emotion"], intensity)
            out["emotion"].append(row["emotion"])
            out["frames"].append(len(target))
            for name, betas in (("head", generated), ("identity", source), ("target", target)):
                if name != "target":
                    out[f"l1_{name}"].append((betas - target).abs().mean(-1).sum().item())
                out[f"class_{name}"].append(classify(self.classifier, betas))
        return dict(out)


def head_report(rows: list[dict]) -> dict:
    """Per emotion (and ``all``): mean L1 per coefficient of head and identity, and Acc_emo of head,
    identity (ExpNet alone) and the video betas themselves (the classifier's ceiling)."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        for key in (row["emotion"], ALL):
            s = sums[key]
            s["frames"] += row["frames"]
            s["clips"] += 1
            for name in ("head", "identity"):
                s[f"l1_{name}"] += row[f"l1_{name}"]
            for name in ("head", "identity", "target"):
                s[f"hits_{name}"] += row[f"class_{name}"] == row["emotion"]
    table = {}
    for key, s in sorted(sums.items()):
        table[key] = {
            "clips": int(s["clips"]),
            "frames": int(s["frames"]),
            "l1_head": s["l1_head"] / s["frames"],
            "l1_identity": s["l1_identity"] / s["frames"],
            **{f"acc_emo_{n}": s[f"hits_{n}"] / s["clips"] for n in ("head", "identity", "target")},
        }
    return table


def evaluate_head(
    ds: ray.data.Dataset, head: dict[str, bytes], classifier: dict[str, bytes], actors: list[str]
):
    """The per-emotion test table of a head over the head_pairs dataset ``ds`` (test ``actors`` only)."""
    if not actors:
        return {}
    rows = ds.map_batches(
        HeadEvaluator,
        fn_constructor_args=(head, classifier, actors),
        batch_size=8,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=1),
        num_cpus=0.5,
    ).take_all()
    return head_report(rows)


def expnet_errors(batch: pa.Table, state: dict[str, np.ndarray], clips: dict[str, str]) -> dict:
    """Task: per test clip, ExpNet's L1 per coefficient vs the video exp (summed over frames)."""
    from talkingface.models.expnet import ExpNet
    from talkingface.training.expnet import predict_clip

    net = ExpNet()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    net.eval()
    out = defaultdict(list)
    for row in storage.from_table(batch):
        if clips.get(row["clip_id"]) != "test":
            continue
        exp = torch.from_numpy(np.asarray(row["exp"], np.float32))
        pred = predict_clip(net, torch.from_numpy(np.asarray(row["mels"], np.float32)), exp)
        out["emotion"].append(row["emotion"])
        out["frames"].append(len(exp))
        out["l1"].append((pred - exp).abs().mean(-1).sum().item())
    return dict(out)


def expnet_report(rows: list[dict]) -> dict:
    """Per emotion (and ``all``): mean L1 per coefficient of ExpNet vs the video exp on test clips."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for row in rows:
        for key in (row["emotion"], ALL):
            sums[key][0] += row["l1"]
            sums[key][1] += row["frames"]
    return {k: {"l1": s[0] / s[1], "frames": int(s[1])} for k, s in sorted(sums.items())}
