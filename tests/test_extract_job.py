"""The extraction job end to end on real local Ray, local dirs and the moto S3 server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile

import storage
from distributed.extract.config import ExtractConfig
from distributed.extract.pipeline import run_extract
from distributed.extract.preflight import ConfigurationError
from talkingface.synth import make_corpus
from talkingface.video import probe, write_video

REPO = Path(__file__).resolve().parents[1]
GOOD = {
    "cremad-1001_DFA_ANG_XX": ("cremad", "angry"),
    "cremad-1002_DFA_DIS_XX": ("cremad", "disgust"),
    "ravdess-01-01-01-01-01-01": ("ravdess", "neutral"),
    "ravdess-01-02-01-01-01-02": ("ravdess", "calm"),
}
BAD = {
    "cremad-1003_DFA_FEA_XX": "cannot open media file",
    "ravdess-01-03-01-01-01-03": "no audio track",
    "cremad-1005_DFA_SAD_XX": "no face found",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """2 good CREMA-D + 2 good RAVDESS clips (30 fps), a corrupt flv, an mp4 without audio, a faceless one."""
    root = tmp_path_factory.mktemp("corpus")
    make_corpus(root, n_clips_per_dataset=2, seconds=1.0, seed=0, bad_files=True)
    gray = np.full((25, 240, 320, 3), 128, np.uint8)
    tone = (0.1 * np.sin(np.arange(16000) / 10)).astype(np.float32)
    write_video(root / "CREMA-D" / "VideoFlash" / "1005_DFA_SAD_XX.flv", iter(gray), tone, 16000)
    return root


def offline_config(corpus: str | Path, out: str | Path, **overrides) -> ExtractConfig:
    """The default offline stack (dlib detector + 68-point predictor), stand-in recon weights."""
    values = {"detector": "dlib", "landmarks": "dlib", "batch_size": 8, "stand_in_weights": True}
    return ExtractConfig(corpus=str(corpus), out=str(out), **values | overrides)


def expected_frames(clip_id: str, corpus: Path) -> int:
    """T = floor(samples / 640) of the clip's audio at 16 kHz, measured without our decoder."""
    if clip_id.startswith("cremad"):
        wav = corpus / "CREMA-D" / "AudioWAV" / (clip_id.removeprefix("cremad-") + ".wav")
        info = soundfile.info(wav)
        assert info.samplerate == 16000
        return info.frames // 640
    mp4 = next(corpus.rglob("01-" + clip_id.removeprefix("ravdess-") + ".mp4"))
    return int(probe(mp4).audio_duration * 25 + 1e-6)


def check_outputs(out: str, corpus: Path) -> None:
    betas = storage.read_table(storage.join(out, "betas"), storage.BETAS_SCHEMA)
    storage.validate_betas_table(betas)
    rows = {row["clip_id"]: row for row in betas.to_pylist()}
    assert set(rows) == set(GOOD)
    for clip_id, (dataset, emotion) in GOOD.items():
        row = rows[clip_id]
        assert (row["dataset"], row["emotion"]) == (dataset, emotion)
        assert abs(row["n_frames"] - expected_frames(clip_id, corpus)) <= (0 if dataset == "cremad" else 1)
        assert row["n_frames"] == row["audio_samples"] // 640
        full = np.asarray(row["full"], np.float32)
        assert full.shape == (row["n_frames"], 257) and np.isfinite(full).all()
        np.testing.assert_array_equal(np.asarray(row["exp"]), full[:, 80:144])
        assert np.asarray(row["mels"]).shape == (row["n_frames"], 80 * 16)
        assert all(row["face_found"])
    clips = storage.read_table(storage.join(out, "clips"), storage.CLIPS_SCHEMA).to_pylist()
    assert {c["clip_id"] for c in clips} == set(GOOD)
    assert all(c["fps"] == pytest.approx(30.0) for c in clips)
    assert {c["clip_id"]: c["n_frames"] for c in clips} == {k: r["n_frames"] for k, r in rows.items()}
    errors = storage.read_table(storage.join(out, "errors"), storage.ERRORS_SCHEMA).to_pylist()
    reasons = {e["clip_id"]: e["reason"] for e in errors}
    assert set(reasons) == set(BAD)
    for clip_id, words in BAD.items():
        assert words in reasons[clip_id] and str(corpus) in reasons[clip_id]


def check_provenance(out: Path) -> None:
    """Run log and every Parquet file name the weights, detector and landmark backend."""
    (log,) = (out / "_runs").glob("*.json")
    recorded = json.loads(log.read_text())["provenance"]
    assert (recorded["recon_weights"], recorded["detector"], recorded["landmarks"]) == (
        "stand-in",
        "dlib",
        "dlib",
    )
    assert recorded["face_models"]["dlib-68"].startswith("shape_predictor_68_face_landmarks.dat sha256:")
    assert recorded["code_version"] and recorded["job_config"]["corpus"]
    files = list(out.rglob("*.parquet"))
    assert files
    for path in files:
        meta = pq.read_schema(path).metadata
        assert json.loads(meta[b"talkingface.provenance"]) == recorded, path
        assert meta[b"schema"]  # the schema's own metadata is kept


def committed_files(out: Path) -> dict[str, float]:
    return {str(p.relative_to(out)): p.stat().st_mtime for p in out.rglob("*.parquet")}


def test_extract_local_is_idempotent_and_resumable(ray_session, corpus, tmp_path, capsys):
    out = tmp_path / "features"
    first = run_extract(offline_config(corpus, out))
    assert (first.succeeded, first.failed, first.failed_infrastructure) == (4, 3, 0), first.errors
    assert sum(first.failure_reasons.values()) == 3 and len(first.failure_reasons) == 3
    assert any("no face found" in reason for reason in first.failure_reasons)
    check_outputs(str(out), corpus)
    check_provenance(out)
    before = committed_files(out)
    assert not [p for p in out.rglob("*") if ".tmp" in p.name], "temp files left behind"

    again = run_extract(offline_config(corpus, out))
    assert (again.processed, again.skipped_done) == (0, 7)
    assert committed_files(out) == before, "a rerun rewrote committed outputs"

    grown = tmp_path / "grown"
    shutil.copytree(corpus, grown)
    for sub, ext in (("VideoFlash", ".flv"), ("AudioWAV", ".wav")):
        src = grown / "CREMA-D" / sub / f"1001_DFA_ANG_XX{ext}"
        shutil.copy(src, src.with_name(f"1004_DFA_HAP_XX{ext}"))
    (out / "betas" / "cremad" / "angry" / ".stale.tmp-dead.parquet").write_bytes(b"half a file")
    time.sleep(0.01)
    third = run_extract(offline_config(grown, out))
    assert (third.processed, third.succeeded, third.skipped_done) == (1, 1, 7), third.errors
    betas = storage.read_table(str(out / "betas"), storage.BETAS_SCHEMA)
    assert sorted(betas.column("clip_id").to_pylist()) == sorted([*GOOD, "cremad-1004_DFA_HAP_XX"])

    from jobs.extract import EXIT_CLIPS_FAILED, main

    argv = ["--corpus", str(grown), "--out", str(out), "--detector", "dlib", "--landmarks", "dlib"]
    capsys.readouterr()
    assert main([*argv, "--batch-size", "8", "--stand-in-weights", "--retry-errors"]) == EXIT_CLIPS_FAILED
    retried = json.loads(capsys.readouterr().out)  # failed clips: their own exit code, not a crash
    assert (retried["processed"], retried["failed"]) == (3, 3) and len(retried["failure_reasons"]) == 3

    with pytest.raises(ConfigurationError, match="different provenance"):
        run_extract(offline_config(grown, out, landmarks="template", retry_errors=True))
    mixed = run_extract(offline_config(grown, out, landmarks="template", allow_mixed_provenance=True))
    assert mixed.processed == 0
    check_compaction(out)


def check_compaction(out: Path) -> None:
    """Tiny parts first (one clip each), then one part per partition: stale parts go, every row once."""
    from jobs.compact import main as compact

    per_clip = storage.read_table(str(out / "betas"), storage.BETAS_SCHEMA)
    assert compact(["--out", str(out), "--target-mb", "0.0001"]) == 0
    assert compact(["--out", str(out)]) == 0
    parts = sorted((out / "compact" / "betas").rglob("*.parquet"))
    partitions = {p.parent.relative_to(out / "compact" / "betas").as_posix() for p in parts}
    assert len(parts) == len(partitions) and "dataset=cremad/emotion=angry" in partitions
    rows = [r for p in parts for r in pq.read_table(p).to_pylist()]
    assert sorted(r["clip_id"] for r in rows) == sorted(per_clip.column("clip_id").to_pylist())
    meta = pq.read_schema(parts[0]).metadata
    assert json.loads(meta[b"talkingface.provenance"])["landmarks"] == "dlib"
    clips = [r for p in (out / "compact" / "clips").rglob("*.parquet") for r in pq.read_table(p).to_pylist()]
    assert len(clips) == per_clip.num_rows


def test_missing_weights_stop_the_job_before_any_clip(ray_session, corpus, tmp_path, monkeypatch, capsys):
    from jobs.extract import EXIT_CONFIGURATION, main

    out = tmp_path / "never"
    with pytest.raises(ConfigurationError, match="--stand-in-weights"):
        run_extract(offline_config(corpus, out, stand_in_weights=False))
    with pytest.raises(ConfigurationError, match=r"epoch_20\.pth.*not-there"):
        run_extract(offline_config(corpus, out, weights=str(tmp_path / "not-there")))
    empty = tmp_path / "face-weights"
    empty.mkdir()
    argv = ["--corpus", str(corpus), "--out", str(out), "--stand-in-weights", "--face-weights", str(empty)]
    assert main([*argv, "--landmarks", "fan"]) == EXIT_CONFIGURATION
    err = capsys.readouterr().err
    assert "2DFAN4-11f355bf06.pth.tar" in err and str(empty) in err and "--face-weights" in err
    monkeypatch.setenv("TALKINGFACE_DLIB_MODELS", str(empty))
    assert main(argv) == EXIT_CONFIGURATION  # auto: no FAN files -> dlib, whose model is missing too
    assert "shape_predictor_68_face_landmarks.dat" in capsys.readouterr().err
    assert not out.exists(), "a configuration error must stop the job before any output"


def test_a_configuration_error_exits_before_ray_starts(corpus, tmp_path):
    """The command line a user runs: no weights -> exit code 2 and one message, Ray never started."""
    out = tmp_path / "never"
    cmd = [sys.executable, "-m", "jobs.extract", "--corpus", str(corpus), "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "configuration error: no SadTalker checkpoints given" in done.stderr
    assert "Started a local Ray instance" not in done.stderr and not out.exists()


def test_extract_from_and_to_s3(ray_session, s3_bucket, corpus):
    prefix = f"s3://{s3_bucket}/corpus"
    for path in corpus.rglob("*"):
        if path.is_file():
            storage.put_file_atomic(path, storage.join(prefix, str(path.relative_to(corpus))))
    out = f"s3://{s3_bucket}/features"
    summary = run_extract(offline_config(prefix, out))
    assert (summary.succeeded, summary.failed, summary.failed_infrastructure) == (4, 3, 0), summary.errors
    betas = storage.read_table(storage.join(out, "betas"), storage.BETAS_SCHEMA)
    storage.validate_betas_table(betas)
    assert sorted(betas.column("clip_id").to_pylist()) == sorted(GOOD)
    errors = storage.read_table(storage.join(out, "errors"), storage.ERRORS_SCHEMA).to_pylist()
    assert {e["clip_id"] for e in errors} == set(BAD)
    for error in errors:  # reasons name the S3 source, not the local cache copy that was decoded
        assert error["source_uri"].startswith(prefix) and error["source_uri"] in error["reason"]
    assert run_extract(offline_config(prefix, out)).processed == 0


def test_decode_and_commit_workers_do_not_import_torch():
    """What a decode or commit task unpickles (its UDF module, the config) loads no torch: a new worker
    process would spend seconds of CPU on it."""
    script = "import sys, distributed.extract.udfs, distributed.extract.config; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
