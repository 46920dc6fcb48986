"""The README's first command (`make demo` -> `talkingface demo`) works on a fresh output folder."""

from __future__ import annotations

import storage
from jobs.demo import main as demo
from talkingface.video import probe


def test_demo_extracts_and_renders(ray_session, tmp_path, capsys):
    assert demo(["--out", str(tmp_path), "--clips", "1", "--seconds", "1.0"]) == 0
    printed = capsys.readouterr().out
    assert '"succeeded": 2' in printed and "NOT a real face animation" in printed
    betas = storage.read_table(str(tmp_path / "features" / "betas"), storage.BETAS_SCHEMA)
    storage.validate_betas_table(betas)
    assert betas.num_rows == 2
    info = probe(tmp_path / "talking.mp4")
    assert (info.video_codec, info.audio_codec, info.fps) == ("h264", "aac", 25)
    assert info.n_frames == 25
