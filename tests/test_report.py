"""The demo report renders every section, and its figures and videos load in headless Chromium."""

from __future__ import annotations

import numpy as np
from browser import probe_page, screenshot
from PIL import Image

from talkingface.report import SECTIONS, ClipVideo, ReportData, Search, render_report
from talkingface.video.writer import write_video


def sample_report(tmp_path) -> ReportData:
    rng = np.random.default_rng(0)
    frames = [np.full((64, 64, 3), 10 * i, np.uint8) for i in range(25)]
    (tmp_path / "clips").mkdir()
    write_video(tmp_path / "clips" / "a.mp4", frames, audio=np.zeros(16_000, np.float32))
    curve = [{"epoch": e, "train_loss": 1 / (e + 1), "val_loss": 1.2 / (e + 1)} for e in range(4)]
    return ReportData(
        title="talking-face demo",
        stand_in_weights=True,
        clips=[{"dataset": "crema-d", "emotion": e, "n_frames": 30} for e in ("happy", "sad", "sad")],
        errors=[{"source_uri": "corpus/bad.flv", "stage": "decode", "reason": "InvalidDataError: <bad>"}],
        exp_by_emotion={"happy": rng.normal(size=(20, 64)), "sad": rng.normal(1, size=(20, 64))},
        curves={"head": curve, "expnet": curve},
        metrics={"head": {"happy": {"head_l1": 0.1, "identity_l1": 0.2}}},
        search=Search(rows=[{"trial": "t1", "family": "mlp", "val_loss": 0.5}], baselines={"ridge": 0.7}),
        videos=[ClipVideo(video="clips/a.mp4", params={"emotion": "happy", "alpha": 1.0})],
        stage_seconds={"extract": 10.0, "train": 5.0},
    )


def test_report_sections_and_media_load(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_report(sample_report(tmp_path)))
    text = page.read_text()
    assert "stand-in-banner" in text and "&lt;bad&gt;" in text  # banner shown, error text escaped

    loaded = probe_page(page)
    assert loaded["sections"] == list(SECTIONS)
    assert len(loaded["images"]) == 2 and all(i["ok"] for i in loaded["images"])  # betas + curves
    [video] = loaded["videos"]
    assert video["error"] is None and video["ready"] >= 1 and video["width"] == 64
    assert abs(video["duration"] - 1.0) < 0.05
    shot = Image.open(screenshot(page, tmp_path / "report.png"))
    low, high = shot.convert("L").getextrema()
    assert shot.size == (1200, 2400) and high - low > 100  # not a blank page


def test_missing_video_is_detected(tmp_path):
    data = sample_report(tmp_path)
    page = tmp_path / "report.html"
    page.write_text(render_report(ReportData(**{**data.__dict__, "videos": [ClipVideo("nope.mp4", {})]})))
    [video] = probe_page(page)["videos"]
    assert video["error"] is not None  # the probe can fail: a broken link is reported
