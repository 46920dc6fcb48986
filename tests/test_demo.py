"""The README's first command (`make demo` -> `talkingface demo`): four jobs, then a report that loads."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from browser import probe_page, screenshot
from PIL import Image

import storage
from jobs.demo import main as demo
from talkingface.report import SECTIONS
from talkingface.video import probe


def test_demo_runs_every_job_and_its_report_loads(ray_session, tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["--out", str(out), "--offline", "--clips", "4", "--seconds", "1.0", "--head-epochs", "2"]
    assert demo([*argv, "--tune-samples", "2", "--tune-epochs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "STAND-IN" in printed

    betas = storage.read_table(str(out / "features" / "betas"), storage.BETAS_SCHEMA)
    storage.validate_betas_table(betas)
    assert betas.num_rows == 8
    for model in ("head", "expnet"):
        metrics = json.loads((out / model / "model" / "metrics.json").read_text())
        assert metrics["curves"] and set(metrics["split"]) == {"train", "val", "test"}
    assert len(pq.read_table(out / "tune" / "results.parquet")) == 2
    videos = sorted((out / "videos").glob("*.mp4"))
    names = {v.stem for v in videos}
    assert "expnet-only" in names and {n.rsplit("-", 2)[1] for n in names - {"expnet-only"}} == {
        "trained",
        "searched",
    }
    for video in videos:
        info = probe(video)
        assert (info.video_codec, info.audio_codec, info.fps) == ("h264", "aac", 25)

    page = out / "report.html"
    loaded = probe_page(page)
    assert loaded["sections"] == list(SECTIONS)
    assert loaded["images"] and all(i["ok"] for i in loaded["images"])  # betas, curves, search plot
    assert len(loaded["videos"]) == 3
    assert all(v["error"] is None and v["ready"] >= 1 and v["width"] > 0 for v in loaded["videos"])
    assert "stand-in-banner" in page.read_text()
    shot = Image.open(screenshot(page, tmp_path / "report.png"))
    low, high = shot.convert("L").getextrema()
    assert high - low > 100
