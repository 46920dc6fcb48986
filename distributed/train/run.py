"""The training job's driver: data plan -> TorchTrainer fit (resumable) -> export + metrics.json.

Layout under ``--out``::

    OUT/checkpoints/<name>/...   Ray Train run storage (checkpoints every epoch; rerun = resume)
    OUT/model/                   the export; ``metrics.json`` is written last and marks the run done
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ray
import ray.train
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

import storage
from distributed.extract.layout import clip_files
from distributed.train.classifier import train_classifier_task
from distributed.train.config import TrainJobConfig
from distributed.train.evaluate import evaluate_head, expnet_errors, expnet_report, module_files
from distributed.train.loops import LOOPS
from distributed.train.pairs import ensure_head_pairs
from distributed.train.provenance import code_version, data_hash
from distributed.train.splits import ActorSplit, clip_actors, split_actors, split_pairs
from distributed.train.windows import expnet_chunks, head_windows, pose_examples
from talkingface.corpus.labels import EMOTIONS
from talkingface.emotion.checkpoint import load_classifier, save_module
from talkingface.emotion.heads import build_head, head_config
from talkingface.models.expnet import ExpNet
from talkingface.models.posevae import Audio2Pose, PoseVAEConfig
from talkingface.training.expnet import load_expnet_source, save_expnet
from talkingface.training.posevae import save_posevae
from talkingface.training.state import load_state

METRICS = "metrics.json"
BETAS_COLUMNS = {
    "expnet": ["clip_id", "emotion", "exp", "mels"],
    "posevae": ["clip_id", "emotion", "angle", "trans", "mels"],
}


@dataclass
class Plan:
    """What a fit needs: datasets, extra loop config, the split, provenance, and the export step."""

    datasets: dict[str, ray.data.Dataset]
    loop_extra: dict
    split: ActorSplit
    data_hash: str
    export: Callable[[Path, Path, dict], dict]  # (checkpoint dir, export dir, history) -> extra metrics


def storage_path(uri: str) -> str:
    """Ray Train's ``storage_path`` for a URI: ``s3://...`` as is, local paths absolute."""
    loc = storage.parse_uri(uri)
    return loc.uri if loc.is_s3 else os.path.abspath(loc.path)


def read_files(uris: list[str], columns: list[str] | None = None) -> ray.data.Dataset:
    """A Ray dataset over the committed per-clip Parquet files ``uris`` (local or S3)."""
    if not uris:
        raise FileNotFoundError("no Parquet files to read")
    fs, _ = storage.arrow_filesystem(uris[0])
    return ray.data.read_parquet(
        [storage.arrow_filesystem(u)[1] for u in uris], filesystem=fs, columns=columns
    )


def _windows(ds: ray.data.Dataset, fn: Callable, **kwargs) -> ray.data.Dataset:
    return ds.map_batches(fn, fn_kwargs=kwargs, batch_format="pyarrow", batch_size=4, num_cpus=0.5)


def _numpy_state(state: dict) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in state.items()}


def head_plan(config: TrainJobConfig) -> Plan:
    pairs = ensure_head_pairs(config.features, config.expnet_checkpoint)
    files = sorted(clip_files(pairs).values())
    split = split_pairs(pairs, config.val_fraction, config.test_fraction, config.seed)
    ds = read_files(files)
    kw = {"frame_len": config.frame_len, "emotions": list(EMOTIONS)}
    datasets = {
        "train": _windows(ds, head_windows, actors=list(split.train), **kw),
        "val": _windows(ds, head_windows, actors=list(split.val), **kw),
    }

    def export(checkpoint: Path, directory: Path, history: dict) -> dict:
        head = build_head(head_config(config.head, frame_len=config.frame_len, **(config.head_options or {})))
        load_state(checkpoint, {"model": head}, {})
        save_module(head, directory)
        if config.classifier:
            classifier = module_files(Path(config.classifier))
            load_classifier(config.classifier)  # a clear error now if it is not one
        else:
            task = train_classifier_task.remote(ds, list(split.train), config.classifier_epochs, config.seed)
            classifier = ray.get(task)
        table = evaluate_head(ds, module_files(directory), classifier, list(split.test))
        return {"test": table, "expnet": Path(pairs).name, "head_pairs": pairs}

    return Plan(datasets, {}, split, data_hash(files, {"split": split.to_json()}), export)


def _betas_plan(config: TrainJobConfig) -> tuple[list[str], ActorSplit, dict[str, str], dict[str, str]]:
    actors = clip_actors(config.features)  # committed clips only: the clips row commits a clip
    betas = clip_files(storage.join(config.features, "betas"))
    files = sorted(uri for clip, uri in betas.items() if clip in actors)
    if not files:
        raise FileNotFoundError(f"no extracted betas under {config.features}/betas (run jobs.extract)")
    split = split_actors(actors.values(), config.val_fraction, config.test_fraction, config.seed)
    return files, split, actors, {clip: split.of(key) for clip, key in actors.items()}


def expnet_plan(config: TrainJobConfig) -> Plan:
    files, split, _, clips = _betas_plan(config)
    ds = read_files(files, BETAS_COLUMNS["expnet"])
    kw = {"chunk": config.chunk, "clips": clips}
    datasets = {name: _windows(ds, expnet_chunks, split=name, **kw) for name in ("train", "val")}
    init = _numpy_state(load_expnet_source(config.weights).state_dict()) if config.weights else None

    def export(checkpoint: Path, directory: Path, history: dict) -> dict:
        net = ExpNet()
        load_state(checkpoint, {"model": net}, {})
        save_expnet(net, directory)
        state = _numpy_state(net.state_dict())
        errors = read_files(files, ["clip_id", "emotion", "exp", "mels"]).map_batches(
            expnet_errors, fn_kwargs={"state": state, "clips": clips}, batch_format="pyarrow", batch_size=4
        )
        return {"test": expnet_report(errors.take_all()), "init": config.weights or "scratch"}

    return Plan(datasets, {"init_state": init}, split, data_hash(files, {"split": split.to_json()}), export)


def pose_styles(config: TrainJobConfig, split: ActorSplit, actors: dict[str, str]) -> tuple[list[str], dict]:
    """The pose-style class names and each clip's class (by emotion, or by train actor)."""
    if config.style_by == "emotion":
        return list(EMOTIONS), None
    classes = list(split.train)
    if len(classes) > PoseVAEConfig().num_classes:
        raise ValueError(
            f"style_by actor: {len(classes)} train actors > {PoseVAEConfig().num_classes} classes"
        )
    index = {key: i for i, key in enumerate(classes)}
    return classes, {clip: index[key] for clip, key in actors.items() if key in index}


def posevae_plan(config: TrainJobConfig) -> Plan:
    files, split, actors, clips = _betas_plan(config)
    classes, styles = pose_styles(config, split, actors)
    if styles is None:  # by emotion: read each clip's emotion from the betas rows' path
        emotion_of = {u.rsplit("/", 1)[-1][: -len(".parquet")]: u.rsplit("/", 2)[-2] for u in files}
        styles = {clip: classes.index(e) for clip, e in emotion_of.items() if e in classes}
    ds = read_files(files, BETAS_COLUMNS["posevae"])
    seq = PoseVAEConfig().seq_len
    kw = {"seq_len": seq, "clips": clips, "styles": styles}
    datasets = {name: _windows(ds, pose_examples, split=name, **kw) for name in ("train", "val")}
    if config.weights:
        from talkingface.weights.load import read_parts

        init = {k: v.numpy() for k, v in read_parts(config.weights, ["audio2pose"])["audio2pose"].items()}
    else:  # the render stand-in's PoseVAE (its frozen audio encoder included)
        import torch

        from talkingface.audio2coeff import Audio2Coeff

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            init = _numpy_state(Audio2Coeff().posevae.state_dict())

    def export(checkpoint: Path, directory: Path, history: dict) -> dict:
        net = Audio2Pose()
        load_state(checkpoint, {"posevae": net}, {})
        save_posevae(net, classes, config.style_by, directory)
        return {"style_by": config.style_by, "classes": classes, "init": config.weights or "stand-in"}

    extra = {"data": data_hash(files, {"split": split.to_json(), "style_by": config.style_by})}
    return Plan(datasets, {"init_state": init}, split, extra["data"], export)


PLANS: dict[str, Callable[[TrainJobConfig], Plan]] = {
    "head": head_plan,
    "expnet": expnet_plan,
    "posevae": posevae_plan,
}


def export_uri(config: TrainJobConfig) -> str:
    return storage.join(config.out, "model")


def run_training(config: TrainJobConfig) -> dict:
    """Train ``config.model`` (resuming an interrupted run) and export it; a finished run is a no-op."""
    start = time.time()
    export = export_uri(config)
    if storage.exists(storage.join(export, METRICS)):
        return {"status": "done", "model": config.model, "export": export, "note": "already finished; no-op"}
    plan = PLANS[config.model](config)
    loop_config = {**dataclasses.asdict(config), **plan.loop_extra}
    datasets = {k: v.materialize() for k, v in plan.datasets.items()} if config.materialize else plan.datasets
    trainer = TorchTrainer(
        LOOPS[config.model],
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(
            num_workers=config.num_workers,
            use_gpu=config.use_gpu,
            resources_per_worker={"CPU": config.cpus_per_worker, **({"GPU": 1} if config.use_gpu else {})},
        ),
        run_config=RunConfig(
            name=config.run_name,
            storage_path=storage_path(storage.join(config.out, "checkpoints")),
            checkpoint_config=CheckpointConfig(num_to_keep=config.num_to_keep),
            failure_config=FailureConfig(max_failures=config.max_failures),
        ),
        datasets=datasets,
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"training {config.model} ended without a checkpoint ({result.error})")
    with result.checkpoint.as_directory() as checkpoint, tempfile.TemporaryDirectory() as tmp:
        history = json.loads((Path(checkpoint) / "state.json").read_text())["meta"]["history"]
        out = Path(tmp) / "model"
        extra = plan.export(Path(checkpoint), out, history)
        metrics = {
            "model": config.model,
            "config": {k: v for k, v in dataclasses.asdict(config).items() if "crash" not in k},
            "curves": history,
            "split": plan.split.to_json(),
            "data_hash": plan.data_hash,
            "code_version": code_version(),
            **extra,
        }
        (out / METRICS).write_text(json.dumps(metrics, indent=1, default=str) + "\n")
        for path in sorted(out.iterdir(), key=lambda p: p.name == METRICS):  # metrics.json last: the marker
            storage.put_file_atomic(path, storage.join(export, path.name))
    last = history[-1]
    summary = {"status": "trained", "model": config.model, "export": export, "epochs": len(history)}
    return summary | {
        "train_loss": last["train_loss"],
        "val_loss": last["val_loss"],
        "seconds": round(time.time() - start, 1),
    }
