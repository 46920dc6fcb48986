"""Workers that die mid-batch (``os._exit``, ``ray.kill``) and poison rows, on real local Ray.

The test-only ``crash_on`` switch (``distributed.faults.CrashSwitch``) makes the recon / render actor that
picks a chosen row die; marker files count the attempts across processes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import skimage.data
import soundfile
from PIL import Image

import storage
from distributed.extract.config import ExtractConfig
from distributed.extract.pipeline import run_extract
from distributed.render import RenderBatchConfig, run_render
from talkingface.synth import make_corpus

ANGRY, DISGUST = "cremad-1001_DFA_ANG_XX", "cremad-1002_DFA_DIS_XX"
NEUTRAL, CALM = "ravdess-01-01-01-01-01-01", "ravdess-01-02-01-01-01-02"
MAX_RETRIES = 1
ATTEMPTS = 2 * (MAX_RETRIES + 1)  # retried tasks, then the last pass


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _attempts(markers: Path, row_id: str) -> int:
    return len(list(markers.glob(f"{row_id}.*")))


def test_extraction_actor_deaths_and_a_poison_clip_account_for_every_clip_once(ray_session, tmp_path):
    """disgust: the recon actor exits once; neutral: it is ray.kill-ed once; calm: it exits on every
    attempt (poison); angry: its betas cannot be written (a file sits where its folder goes)."""
    corpus = tmp_path / "corpus"
    make_corpus(corpus, n_clips_per_dataset=2, seconds=0.5, seed=0)
    out, markers = tmp_path / "out", tmp_path / "markers"
    blocked = out / "betas" / "cremad" / "angry"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("in the way")
    switches = [f"exit:{DISGUST}:1:{markers}", f"kill:{NEUTRAL}:1:{markers}", f"exit:{CALM}:-1:{markers}"]
    values = {"corpus": str(corpus), "out": str(out), "detector": "haar", "landmarks": "template"}
    values |= {"stand_in_weights": True, "max_retries": MAX_RETRIES}
    config = ExtractConfig(crash_on=",".join(switches), **values)

    summary = run_extract(config)
    counts = (summary.processed, summary.succeeded, summary.failed, summary.failed_infrastructure)
    assert counts == (4, 2, 1, 1)
    assert [_attempts(markers, clip) for clip in (DISGUST, NEUTRAL, CALM)] == [1, 1, ATTEMPTS]
    committed = {p.stem for p in (out / "clips").rglob("*.parquet")}
    assert committed == {DISGUST, NEUTRAL}  # the betas write of angry failed: no clips row without betas
    assert {p.stem for p in (out / "betas").rglob("*.parquet")} == {DISGUST, NEUTRAL}
    errors = {p.stem: pq.read_table(p).to_pylist()[0] for p in (out / "errors").glob("*.parquet")}
    assert set(errors) == {CALM}
    assert errors[CALM]["stage"] == "worker"
    assert f"died on each of {ATTEMPTS} attempts" in errors[CALM]["reason"]
    assert errors[CALM]["source_uri"] in errors[CALM]["reason"]
    assert "[commit]" in summary.errors[ANGRY] and str(blocked) in summary.errors[ANGRY]
    leftovers = [f for f in _files(out) if not f.endswith((".parquet", ".json"))]
    assert leftovers == ["betas/cremad/angry"]  # no temp file of a killed writer

    blocked.unlink()  # the outage is over; the poison clip is tried again (--retry-errors), now harmless
    healed = run_extract(ExtractConfig(retry_errors=True, **values))
    assert (healed.processed, healed.succeeded, healed.skipped_done) == (2, 2, 2)  # angry and calm
    assert {p.stem for p in (out / "clips").rglob("*.parquet")} == {ANGRY, DISGUST, NEUTRAL, CALM}
    assert not list((out / "errors").glob("*.parquet"))
    assert len(list((out / "betas").rglob("*.parquet"))) == 4  # each clip once


def test_render_actor_deaths_and_a_poison_row_account_for_every_row_once(ray_session, tmp_path):
    """Row b: its render actor exits once; c: ray.kill once; d: exits on every attempt (poison). One
    segment per row, so the attempts at a row are the attempts at its one render task."""
    Image.fromarray(skimage.data.astronaut()).save(tmp_path / "face.png")
    t = np.arange(int(0.4 * 16000)) / 16000
    soundfile.write(tmp_path / "a.wav", (0.2 * np.sin(2 * np.pi * 160 * t) * np.sin(9 * t)), 16000)
    ids = ("a", "b", "c", "d")
    manifest = tmp_path / "manifest.csv"
    rows = "".join(f"{i},{tmp_path / 'a.wav'},{tmp_path / 'face.png'}\n" for i in ids)
    manifest.write_text("id,audio,image\n" + rows)
    out, markers = tmp_path / "out", tmp_path / "markers"
    switches = f"exit:b:1:{markers},kill:c:1:{markers},exit:d:-1:{markers}"
    values = {"manifest": str(manifest), "out": str(out), "segment_frames": 10, "model_config": "tiny"}
    values |= {"detector": "haar", "landmarks": "template", "size": 128}
    config = RenderBatchConfig(max_retries=MAX_RETRIES, crash_on=switches, **values)

    summary = run_render(config)
    assert (summary.rendered, summary.failed) == (3, 1)
    assert [_attempts(markers, row) for row in "bcd"] == [1, 1, ATTEMPTS]
    results = {row["id"]: row for row in storage.read_table(summary.results).to_pylist()}
    assert sorted(results) == list(ids)  # one result per row
    assert results["d"]["status"] == "error"
    assert f"died on each of {ATTEMPTS} attempts" in results["d"]["error"]
    assert "manifest line 5 (d)" in results["d"]["error"]
    assert sorted(p.name for p in out.glob("*.mp4")) == ["a.mp4", "b.mp4", "c.mp4"]
    assert all(results[i]["frames"] == 10 for i in "abc")
    assert storage.list_uris(str(out / "_parts")) == []  # no part of a finished row is left

    healed = run_render(RenderBatchConfig(**values))
    assert (healed.rendered, healed.skipped) == (1, 3)
    assert sorted(p.name for p in out.glob("*.mp4")) == ["a.mp4", "b.mp4", "c.mp4", "d.mp4"]
