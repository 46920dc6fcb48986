"""``talkingface demo``: all four jobs end to end on a bundled sample, then ``report.html``.

1. weights: fetch SadTalker's official checkpoints (resumable, sha256-verified) unless ``--offline`` or
   ``--weights DIR``; where they cannot be had, say so and run every network on seeded stand-in weights;
2. synthesise a small CREMA-D / RAVDESS-style corpus (espeak-ng speech, a moving astronaut face);
3. extract: Ray Data job -> betas Parquet (dlib's pip-shipped face stack unless face-alignment's weights
   are present);
4. train: an emotion head (Ray Train) and a short ExpNet fine-tune;
5. tune: a tiny head search (Ray Tune, ASHA + Optuna) with its identity and ridge baselines;
6. render: a batch-render manifest (ExpNet alone, the trained head, the best searched head) -> mp4s;
7. ``OUT/report.html``: corpus and errors, betas by emotion, curves, the search, the clips, time per stage.

``--out`` is a local folder or an ``s3://`` URI (the corpus is then synthesised in a local temp folder).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

import storage
from distributed.extract.config import ExtractConfig
from distributed.extract.pipeline import run_extract
from distributed.render import RenderBatchConfig, run_render
from distributed.runtime import init_ray
from distributed.train import TrainJobConfig, run_training
from distributed.tune import HeadSearchConfig, run_search
from jobs.options import job_parser, parse_job_config
from talkingface.report import ClipVideo, ReportData, Search, render_report
from talkingface.synth import make_corpus
from talkingface.weights.download import DownloadError, fetch, official_files

DEFAULT_WEIGHTS_DIR = Path.home() / ".cache" / "talkingface" / "sadtalker"


@dataclass(frozen=True)
class DemoConfig:
    """Knobs of ``talkingface demo``."""

    out: str = "out/demo"
    clips: int = 4  # synthetic clips per dataset (CREMA-D and RAVDESS layouts)
    seconds: float = 1.5  # length of each synthetic clip
    weights: str | None = None  # dir/URI with the official checkpoints (skips the fetch)
    weights_dir: str = str(DEFAULT_WEIGHTS_DIR)  # where the fetch puts them
    offline: bool = False  # do not try to fetch the official weights
    face_weights: str | None = None  # face-alignment's weight files (else dlib)
    head_epochs: int = 6
    expnet_epochs: int = 2
    tune_samples: int = 4
    tune_epochs: int = 3


@dataclass
class Stages:
    """Wall-clock seconds of each stage, in order."""

    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, name: str, fn, *args, **kwargs):
        print(f"[demo] {name} ...", flush=True)
        start = time.time()
        result = fn(*args, **kwargs)
        self.seconds[name] = time.time() - start
        print(f"[demo] {name} done in {self.seconds[name]:.1f} s", flush=True)
        return result


def parse_args(argv: list[str] | None) -> DemoConfig:
    p = job_parser("talkingface demo", __doc__)
    p.add_argument("--out", help="output folder or s3:// URI")
    p.add_argument("--clips", type=int, help="synthetic clips per dataset")
    p.add_argument("--seconds", type=float, help="length of each synthetic clip in seconds")
    p.add_argument("--weights", help="dir/URI of the official SadTalker checkpoints (no fetch)")
    p.add_argument("--weights-dir", help="where the official checkpoints are fetched to")
    p.add_argument(
        "--offline", action="store_true", help="do not fetch the official weights: stand-in weights"
    )
    p.add_argument("--face-weights", help="dir with face-alignment's weights (SFD + FAN instead of dlib)")
    p.add_argument("--head-epochs", type=int, help="emotion-head training epochs")
    p.add_argument("--expnet-epochs", type=int, help="ExpNet fine-tune epochs")
    p.add_argument("--tune-samples", type=int, help="head-search trials")
    p.add_argument("--tune-epochs", type=int, help="epochs of a head-search trial that is never stopped")
    return parse_job_config(p, DemoConfig, argv)


def official_weights(config: DemoConfig) -> str | None:
    """The official checkpoints' dir: ``--weights``, or fetched; None (loudly) where they cannot be had."""
    if config.weights:
        return config.weights
    if config.offline:
        print("[demo] --offline: using seeded STAND-IN weights (not a real face animation)", flush=True)
        return None
    try:
        fetch(official_files(256, False), config.weights_dir, attempts=1, timeout=20, log=print)
    except (DownloadError, OSError) as err:
        print(
            f"[demo] the official SadTalker weights could not be fetched ({err}); using seeded STAND-IN "
            "weights: the clips show the pipeline working, NOT a real face animation",
            flush=True,
        )
        return None
    return config.weights_dir


def write_manifest(out: str, voices: list[Path], face: Path, edits: list[tuple[str, str, str]]) -> str:
    """A JSONL render manifest: ExpNet alone, then each (label, emotion, head) edit of another voice."""
    rows = [{"id": "expnet-only", "audio": str(voices[0]), "image": str(face)}]
    for i, (label, emotion, head) in enumerate(edits):
        rows.append(
            {
                "id": f"{emotion}-{label}-head",
                "audio": str(voices[(i + 1) % len(voices)]),
                "image": str(face),
                "emotion": emotion,
                "intensity": 1.0,
                "alpha": 1.0,
                "head": head,
            }
        )
    uri = storage.join(out, "manifest.jsonl")
    storage.write_bytes_atomic(uri, "".join(json.dumps(r) + "\n" for r in rows).encode())
    return uri


def read_rows(uri: str, schema=None) -> list[dict]:
    """Rows of a table (a Parquet file or a directory of them), or [] where the job wrote none."""
    if not storage.exists(uri) and not storage.list_uris(uri):
        return []
    return storage.read_table(uri, schema).to_pylist()


def exp_by_emotion(features: str, every: int = 3) -> dict[str, np.ndarray]:
    """Every ``every``-th frame's 64 expression coefficients of each clip, grouped by emotion."""
    table = storage.read_table(storage.join(features, "betas"), columns=["emotion", "exp"])
    groups: dict[str, list[np.ndarray]] = {}
    for emotion, exp in zip(table["emotion"].to_pylist(), table["exp"].to_pylist(), strict=True):
        groups.setdefault(emotion, []).append(np.asarray(exp, np.float32)[::every])
    return {k: np.concatenate(v) for k, v in groups.items()}


def read_json(uri: str) -> dict:
    return json.loads(storage.read_bytes(uri))


def gather(config: DemoConfig, paths: dict[str, str], stages: Stages, stand_in: bool, rendered) -> ReportData:
    """Everything the report shows, read back from the jobs' outputs."""
    features, out = paths["features"], config.out
    curves, metrics = {}, {}
    for name in ("head", "expnet"):
        m = read_json(storage.join(paths[name], "model", "metrics.json"))
        curves[name] = m["curves"]
        if m.get("test"):
            metrics[f"{name} (test actors)"] = m["test"]
    search = read_json(storage.join(paths["tune"], "summary.json"))
    results = read_rows(storage.join(paths["tune"], "results.parquet"))
    videos = [
        ClipVideo(
            video=row["output_uri"].removeprefix(out.rstrip("/") + "/"),
            params={k: v for k, v in manifest_row.items() if k not in ("audio", "image")}
            | {"frames": row["frames"], "status": row["status"]},
        )
        for row, manifest_row in rendered
        if row["status"] in ("rendered", "skipped")
    ]
    return ReportData(
        title="talking-face demo: extract -> train -> tune -> render",
        stand_in_weights=stand_in,
        clips=read_rows(storage.join(features, "clips")),
        errors=read_rows(storage.join(features, "errors")),
        exp_by_emotion=exp_by_emotion(features),
        curves=curves,
        metrics=metrics,
        search=Search(
            rows=[{k: v for k, v in r.items() if not isinstance(v, list | dict)} for r in results],
            plot_png=storage.read_bytes(storage.join(paths["tune"], "search.png")),
            baselines={k: v for k, v in search.get("baselines", {}).items() if isinstance(v, float)},
        ),
        videos=videos,
        stage_seconds=stages.seconds,
        notes=[f"outputs under {out}: " + ", ".join(f"{k} {v}" for k, v in paths.items())],
    )


def run_demo(config: DemoConfig, scratch: Path) -> int:
    """All four jobs into ``config.out``; returns the exit code (0: everything worked)."""
    stages = Stages()
    out = config.out
    paths = {name: storage.join(out, name) for name in ("features", "head", "expnet", "tune", "videos")}
    weights = stages.run("weights", official_weights, config)
    stand_in = weights is None
    corpus = scratch / "corpus" if out.startswith("s3://") else Path(out) / "corpus"
    stages.run(
        "synthesise corpus",
        make_corpus,
        corpus,
        n_clips_per_dataset=config.clips,
        seconds=config.seconds,
        seed=0,
    )
    init_ray()
    extract = stages.run(
        "extract",
        run_extract,
        ExtractConfig(
            corpus=str(corpus),
            out=paths["features"],
            weights=weights,
            stand_in_weights=stand_in,
            face_weights=config.face_weights,
        ),
    )
    print(json.dumps({"extract": extract.as_dict()}, indent=1, default=str), flush=True)
    common = {"features": paths["features"], "num_workers": 1, "val_fraction": 0.25, "test_fraction": 0.25}
    head = stages.run(
        "train head",
        run_training,
        TrainJobConfig(
            model="head", out=paths["head"], head="mlp", epochs=config.head_epochs, batch_size=128, **common
        ),
    )
    expnet = stages.run(
        "train expnet (fine-tune)",
        run_training,
        TrainJobConfig(
            model="expnet",
            out=paths["expnet"],
            weights=weights,
            epochs=config.expnet_epochs,
            batch_size=32,
            **common,
        ),
    )
    print(json.dumps({"train": [head, expnet]}, indent=1, default=str), flush=True)
    search = stages.run("tune", run_search, *_search_args(config, paths))
    print(
        json.dumps({"tune": {k: search.get(k) for k in ("status", "trials", "best")}}, indent=1, default=str),
        flush=True,
    )

    face = scratch / "face.png"
    Image.fromarray(np.asarray(data.astronaut())[0:300, 100:400]).save(face)
    emotions = [
        e
        for e, _ in Counter(
            r["emotion"] for r in read_rows(storage.join(paths["features"], "clips"))
        ).most_common(2)
    ]
    heads = [("trained", storage.join(paths["head"], "model")), ("searched", search["outputs"]["best_head"])]
    edits = [(label, emotion, head) for (label, head), emotion in zip(heads, emotions, strict=False)]
    manifest = write_manifest(out, sorted(corpus.rglob("*.wav")), face, edits)
    render = stages.run(
        "render",
        run_render,
        RenderBatchConfig(
            manifest=manifest,
            out=paths["videos"],
            checkpoint_dir=weights,
            model_config="tiny" if stand_in else "official",
            size=128 if stand_in else 256,
            face_weights=config.face_weights,
        ),
    )
    print(json.dumps({"render": render.as_dict()}, indent=1, default=str), flush=True)
    manifest_rows = {r["id"]: r for r in map(json.loads, storage.read_bytes(manifest).decode().splitlines())}
    rendered = [
        (row, manifest_rows.get(row["id"], {})) for row in storage.read_table(render.results).to_pylist()
    ]

    report = gather(config, paths, stages, stand_in, rendered)
    report_uri = storage.join(out, "report.html")
    storage.write_bytes_atomic(report_uri, render_report(report).encode())
    print(f"[demo] report: {report_uri}", flush=True)
    ok = extract.failed_infrastructure == 0 and render.failed == render.invalid == 0
    return 0 if ok and search.get("status") == "complete" else 1


def _search_args(config: DemoConfig, paths: dict[str, str]) -> tuple[HeadSearchConfig, str]:
    from distributed.train.pairs import ensure_head_pairs

    search = HeadSearchConfig(
        out=paths["tune"],
        features=paths["features"],
        num_samples=config.tune_samples,
        max_epochs=config.tune_epochs,
        grace_period=1,
        max_concurrent_trials=1,
        widths=(32, 64),
        val_fraction=0.25,
        test_fraction=0.25,
    )
    return search, ensure_head_pairs(paths["features"], None)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="talkingface-demo-") as scratch:
        return run_demo(config, Path(scratch))


if __name__ == "__main__":
    sys.exit(main())
