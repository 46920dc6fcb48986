"""The synthetic CREMA-D / RAVDESS corpus: real files, real codecs, an audio-driven face."""

from __future__ import annotations

import math
import wave

import numpy as np
import pytest

from talkingface.face.detect import haar_face_boxes
from talkingface.synth import TalkingFace, make_corpus, speak
from talkingface.synth.face import EYES, MOUTH
from talkingface.video import VideoError, probe, read_audio, read_frames

SECONDS = 1.2
SR = 16000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return root, make_corpus(root, n_clips_per_dataset=2, seconds=SECONDS, seed=3, bad_files=True)


def read_wav(path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (SR, 1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2") / 32768.0


def mouth_darkness(frames: np.ndarray) -> np.ndarray:
    """Mean darkness around where the renderer puts the mouth (face centred, 0.45 frame heights tall)."""
    height, width = frames.shape[1:3]
    box = 0.45 * height
    cx, cy = int(width / 2 + (MOUTH[0] - 0.5) * box), int(height / 2 + (MOUTH[1] - 0.5) * box)
    return 255 - frames[:, cy - 5 : cy + 6, cx - 12 : cx + 13].mean(axis=(1, 2, 3))


def frame_rms(audio: np.ndarray, n_frames: int) -> np.ndarray:
    return np.array([np.sqrt(np.mean(audio[i * 640 : (i + 1) * 640] ** 2)) for i in range(n_frames)])


def test_corpus_files_are_named_like_the_datasets(corpus):
    root, paths = corpus
    assert [p.relative_to(root).as_posix() for p in paths] == [
        "CREMA-D/AudioWAV/1001_DFA_ANG_XX.wav",
        "CREMA-D/AudioWAV/1002_DFA_DIS_XX.wav",
        "CREMA-D/AudioWAV/1003_DFA_FEA_XX.wav",
        "CREMA-D/VideoFlash/1001_DFA_ANG_XX.flv",
        "CREMA-D/VideoFlash/1002_DFA_DIS_XX.flv",
        "CREMA-D/VideoFlash/1003_DFA_FEA_XX.flv",
        "RAVDESS/Actor_01/01-01-01-01-01-01-01.mp4",
        "RAVDESS/Actor_02/01-01-02-01-01-01-02.mp4",
        "RAVDESS/Actor_03/01-01-03-01-01-01-03.mp4",
    ]
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)


@pytest.mark.parametrize(
    ("name", "codecs"),
    [
        ("CREMA-D/VideoFlash/1001_DFA_ANG_XX.flv", ("flv1", "mp3")),
        ("RAVDESS/Actor_02/01-01-02-01-01-01-02.mp4", ("h264", "aac")),
    ],
)
def test_clips_decode_at_30_fps_with_audio_and_a_face(corpus, name, codecs):
    root, _ = corpus
    info = probe(root / name)
    assert (info.video_codec, info.audio_codec) == codecs
    assert info.fps == 30 and info.n_frames == round(SECONDS * 30)
    assert info.audio_duration == pytest.approx(SECONDS, abs=0.1)
    frames = read_frames(root / name)
    assert len(frames) == math.floor(SECONDS * 25)  # resampled from 30 to 25 fps
    for frame in frames[:: len(frames) // 3]:
        (x1, y1, x2, y2), *_ = haar_face_boxes(frame)
        assert abs((x1 + x2) / 2 - frame.shape[1] / 2) < 15 and abs((y1 + y2) / 2 - frame.shape[0] / 2) < 15
    audio = read_audio(root / name)
    assert abs(len(audio) - SECONDS * SR) < 0.1 * SR and np.abs(audio).max() > 0.1


def test_mouth_follows_the_speech(corpus):
    root, _ = corpus
    mp4 = root / "RAVDESS/Actor_01/01-01-01-01-01-01-01.mp4"
    frames = read_frames(mp4)
    assert np.corrcoef(mouth_darkness(frames), frame_rms(read_audio(mp4), len(frames)))[0, 1] > 0.7
    # CREMA-D: the separate wav is sample-exact (the flv's mp3 track starts ~50 ms late, as mp3 in flv does).
    flv = root / "CREMA-D/VideoFlash/1002_DFA_DIS_XX.flv"
    frames = read_frames(flv)
    wav = read_wav(root / "CREMA-D/AudioWAV/1002_DFA_DIS_XX.wav")
    assert len(wav) == round(SECONDS * SR)
    assert np.corrcoef(mouth_darkness(frames), frame_rms(wav, len(frames)))[0, 1] > 0.7


def test_bad_files_for_error_paths(corpus):
    root, _ = corpus
    with pytest.raises(VideoError, match=r"1003_DFA_FEA_XX\.flv"):
        read_frames(root / "CREMA-D/VideoFlash/1003_DFA_FEA_XX.flv")
    assert len(read_wav(root / "CREMA-D/AudioWAV/1003_DFA_FEA_XX.wav")) == round(SECONDS * SR)
    silent = root / "RAVDESS/Actor_03/01-01-03-01-01-01-03.mp4"
    assert read_audio(silent) is None and not probe(silent).has_audio
    assert len(read_frames(silent)) == math.floor(SECONDS * 25)


def test_renderer_opens_mouth_and_closes_eyes():
    face = TalkingFace(320, 240)
    still = np.zeros(4)
    rest, talking, blinking = (face.render(o, c, 0.0, still) for o, c in [(0, 0), (1, 0), (0, 1)])
    assert mouth_darkness(talking[None])[0] > mouth_darkness(rest[None])[0] + 40
    box = 0.45 * 240
    ex, ey = int(160 + (EYES[0][0] - 0.5) * box), int(120 + (EYES[0][1] - 0.5) * box)
    eye = (slice(ey - 3, ey + 4), slice(ex - 6, ex + 7))
    assert np.abs(blinking[eye].astype(int) - rest[eye]).mean() > 15  # lid over the eye
    np.testing.assert_array_equal(blinking[200:], rest[200:])  # nothing else changes


def test_emotional_voices_differ_and_bad_input_is_named():
    sad, angry = (
        speak("Kids are talking by the door.", "sad"),
        speak("Kids are talking by the door.", "angry"),
    )
    assert len(sad) > 1.3 * len(angry)  # sad speech is slower
    assert np.sqrt(np.mean(sad**2)) < np.sqrt(np.mean(angry**2))  # and quieter
    with pytest.raises(ValueError, match="'bored'"):
        speak("hello", "bored")
    with pytest.raises(ValueError, match="n_clips_per_dataset"):
        make_corpus("/nonexistent", n_clips_per_dataset=0)
