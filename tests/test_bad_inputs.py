"""Bad input for the extraction and render-batch jobs: every odd file is handled or gets a clear per-row
error naming it, and the other rows complete (real local Ray, real media files, the dlib face stack)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import soundfile
from PIL import Image

import storage
from distributed.extract.config import ExtractConfig
from distributed.extract.pipeline import run_extract
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


def _speech(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 180 * t) * np.clip(np.sin(2 * np.pi * 4 * t), 0, None)).astype(
        np.float32
    )


@pytest.fixture(scope="module")
def odd_media(tmp_path_factory) -> Path:
    """Portraits and audio files of every odd kind, under names with spaces."""
    root = tmp_path_factory.mktemp("odd media") / "in put"
    root.mkdir()
    face = Image.fromarray(skimage.data.astronaut())
    face.save(root / "face one.png")
    face.convert("L").save(root / "gray.png")
    face.convert("CMYK").save(root / "cmyk.jpg")
    rgba = face.convert("RGBA")
    rgba.putalpha(200)
    rgba.save(root / "alpha.png")
    face.resize((4000, 4000), Image.BICUBIC).save(root / "huge.jpg", quality=80)
    canvas = Image.new("RGB", (1024, 768), (90, 110, 90))
    canvas.paste(face.resize((60, 60)), (700, 500))
    canvas.save(root / "tiny face.png")
    Image.fromarray(skimage.data.coffee()).save(root / "no face.png")
    two = Image.new("RGB", (1024, 512))
    two.paste(face, (0, 0))
    two.paste(face.resize((256, 256)), (640, 128))
    two.save(root / "two faces.png")
    voice = _speech(0.4, 16000)
    soundfile.write(root / "voice.wav", voice, 16000)
    soundfile.write(root / "silent.wav", np.zeros_like(voice), 16000)
    soundfile.write(root / "clipped.wav", np.clip(8 * voice, -1, 1), 16000)
    stereo8k = _speech(0.4, 8000)
    soundfile.write(root / "stereo 8k.wav", np.stack([stereo8k, stereo8k / 2], axis=1), 8000)
    soundfile.write(root / "48k.flac", _speech(0.4, 48000), 48000)
    (root / "empty.wav").write_bytes(b"")
    return root


RENDERED = {  # row id -> (audio, image): each must render
    "gray": ("voice.wav", "gray.png"),
    "cmyk": ("voice.wav", "cmyk.jpg"),
    "alpha": ("voice.wav", "alpha.png"),
    "huge": ("voice.wav", "huge.jpg"),
    "two-faces": ("voice.wav", "two faces.png"),
    "silent": ("silent.wav", "face one.png"),
    "clipped": ("clipped.wav", "face one.png"),
    "stereo-8k": ("stereo 8k.wav", "face one.png"),
    "48k": ("48k.flac", "face one.png"),
}
FAILED = {  # row id -> (audio, image, words of the reason)
    "no-face": ("voice.wav", "no face.png", "no face"),
    "tiny-face": ("voice.wav", "tiny face.png", "no face"),
    "empty-audio": ("empty.wav", "face one.png", "empty.wav"),
}


def test_render_batch_odd_media_render_or_fail_by_name(ray_session, odd_media, tmp_path):
    from distributed.render import RenderBatchConfig, run_render
    from talkingface.video import probe

    lines = [
        {"id": i, "audio": str(odd_media / a), "image": str(odd_media / m)} for i, (a, m) in RENDERED.items()
    ]
    lines += [
        {"id": i, "audio": str(odd_media / a), "image": str(odd_media / m)} for i, (a, m, _) in FAILED.items()
    ]
    lines.append(
        {"id": "gray", "audio": str(odd_media / "voice.wav"), "image": str(odd_media / "face one.png")}
    )
    lines.append(
        {"id": "missing", "audio": str(odd_media / "nope.wav"), "image": str(odd_media / "face one.png")}
    )
    manifest = tmp_path / "odd manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = RenderBatchConfig(
        manifest=str(manifest), out=str(tmp_path / "out put"), model_config="tiny", size=128,
        detector="dlib", landmarks="dlib",
    )  # fmt: skip
    summary = run_render(config)
    results = {(r["line"], r["id"]): r for r in storage.read_table(summary.results).to_pylist()}
    by_id = {row_id: r for (_, row_id), r in results.items() if r["line"] <= len(lines) - 2}
    for row_id in RENDERED:
        assert by_id[row_id]["status"] == "rendered", (row_id, by_id[row_id]["error"])
        info = probe(by_id[row_id]["output_uri"])
        assert info.audio_codec == "aac" and info.n_frames == by_id[row_id]["frames"] == 10
    for row_id, (_, image, words) in FAILED.items():
        row = by_id[row_id]
        assert row["status"] == "error" and words in row["error"], (row_id, row["error"])
        assert image in row["error"] or "empty.wav" in row["error"]
    duplicate, missing = results[(len(lines) - 1, "gray")], results[(len(lines), "missing")]
    assert duplicate["status"] == "invalid" and "duplicate id 'gray'" in duplicate["error"]
    assert missing["status"] == "invalid" and "nope.wav" in missing["error"]
    assert summary.rendered == len(RENDERED)
