"""Bad input for the extraction job: every odd file gets a clear per-clip error naming it, or is handled,
and the other clips complete (real local Ray, real media files, the default dlib face stack)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

import storage
from distributed.extract import ExtractConfig, run_extract
from talkingface.synth import make_corpus

NON_UTF8_DIR = b"caf\xe9 dir"  # latin-1 bytes: not a valid UTF-8 file name


def _wav(path: Path, audio: np.ndarray, rate: int) -> None:
    soundfile.write(path, audio, rate, subtype="PCM_16")


@pytest.fixture(scope="module")
def odd_corpus(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A corpus under a path with spaces; returns (root, clip id -> what is odd about it)."""
    root = tmp_path_factory.mktemp("odd") / "my corpus"
    make_corpus(root, n_clips_per_dataset=5, seconds=1.0, seed=1)
    wavs = sorted((root / "CREMA-D" / "AudioWAV").glob("*.wav"))
    voice, rate = soundfile.read(wavs[0], dtype="float32")
    seconds = len(voice) / rate
    at = np.arange(len(voice)) / rate

    def resampled(new_rate: int) -> np.ndarray:
        return np.interp(np.arange(int(seconds * new_rate)) / new_rate, at, voice)

    _wav(wavs[0], np.stack([resampled(8000), 0.5 * resampled(8000)], axis=1), 8000)
    _wav(wavs[1], resampled(48000), 48000)
    _wav(wavs[2], np.zeros_like(voice), rate)  # digital silence
    loud, _ = soundfile.read(wavs[3], dtype="float32")
    _wav(wavs[3], np.clip(8 * loud, -1, 1), rate)  # clipped
    (root / "CREMA-D" / "VideoFlash" / f"{wavs[4].stem}.flv").write_bytes(b"")  # zero-length video
    odd = {f"cremad-{w.stem}": what for w, what in zip(wavs, CREMAD_ODDITIES, strict=True)}
    mp4s = sorted((root / "RAVDESS").rglob("*.mp4"))
    ids = [f"ravdess-{p.stem.removeprefix('01-')}" for p in mp4s]
    mp4s[0].write_bytes(mp4s[0].read_bytes()[: mp4s[0].stat().st_size // 3])  # truncated
    odd_dir = os.path.join(os.fsencode(mp4s[1].parent), NON_UTF8_DIR)
    os.makedirs(odd_dir)
    os.rename(os.fsencode(mp4s[1]), os.path.join(odd_dir, os.fsencode(mp4s[1].name)))
    (mp4s[2].parent / "with space").mkdir()
    shutil.move(mp4s[2], mp4s[2].parent / "with space" / mp4s[2].name)
    odd |= dict(
        zip(ids, ["truncated", "non-UTF-8 folder", "folder with a space", "plain", "plain"], strict=True)
    )
    odd[f"rejected-{mp4s[1].name}"] = odd.pop(ids[1])  # no clip id: the scan rejects it by file name
    return root, odd


CREMAD_ODDITIES = ("8 kHz stereo", "48 kHz", "silent", "clipped", "zero-length video")
FAILS = {  # oddity -> words of its error row's reason; the others must extract
    "zero-length video": "cannot open media file",
    "truncated": "Invalid data",
    "non-UTF-8 folder": "not valid UTF-8",
}


def test_odd_files_become_named_errors_and_the_rest_completes(ray_session, odd_corpus, tmp_path):
    root, odd = odd_corpus
    out = tmp_path / "features"
    config = ExtractConfig(corpus=str(root), out=str(out), batch_size=8, stand_in_weights=True)
    summary = run_extract(config)
    assert summary.failed_infrastructure == 0, summary.errors
    errors = storage.read_table(str(out / "errors"), storage.ERRORS_SCHEMA).to_pylist()
    reasons = {e["clip_id"]: e["reason"] for e in errors}
    betas = storage.read_table(str(out / "betas"), storage.BETAS_SCHEMA).to_pylist()
    rows = {r["clip_id"]: r for r in betas}
    expected_ok = {clip for clip, what in odd.items() if what not in FAILS}
    assert set(reasons) == set(odd) - expected_ok, reasons
    assert expected_ok == set(rows)
    for clip, what in odd.items():
        if what in FAILS:
            assert FAILS[what] in reasons[clip], (what, reasons[clip])
            assert str(root) in reasons[clip]  # the reason names the file
    assert "caf\\xe9 dir" in reasons[next(c for c, w in odd.items() if w == "non-UTF-8 folder")]
    for row in rows.values():  # 8 kHz stereo / 48 kHz resampled to 16 kHz: T = floor(samples / 640)
        assert row["n_frames"] == row["audio_samples"] // 640 >= 24, row["clip_id"]
        assert np.isfinite(np.asarray(row["full"])).all() and np.isfinite(np.asarray(row["mels"])).all()
    assert (summary.failed, summary.rejected) == (len(FAILS) - 1, 1)
    rerun = run_extract(config)
    assert (rerun.processed, rerun.skipped_done) == (0, summary.processed)  # error rows count as done
