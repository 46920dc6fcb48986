"""Corpus name parsing (CREMA-D, RAVDESS, MEAD and derived namings), pairing in ``scan`` and the scan CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.cli import main as talkingface_main
from talkingface.corpus import EMOTIONS, ClipLabel, Rejection, parse, scan
from talkingface.corpus.cli import main as corpus_main


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "VideoFlash/1001_DFA_ANG_XX.flv",
            dict(
                dataset="cremad",
                actor="1001",
                sentence="DFA",
                emotion="angry",
                intensity=None,
                intensity_label="XX",
                modality="audio-video",
                vocal_channel="speech",
            ),
        ),
        ("AudioWAV/1091_IEO_HAP_LO.wav", dict(emotion="happy", intensity=1 / 3, modality="audio")),
        ("1050_IEO_SAD_MD.mp3", dict(emotion="sad", intensity=2 / 3, intensity_label="MD")),
        ("1002_IEO_FEA_HI.flv", dict(emotion="fear", intensity=1.0)),
        ("1003_IEO_NEU_XX.flv", dict(emotion="neutral", intensity=0.0)),
        ("1004_WSI_DIS_XX.flv", dict(emotion="disgust", intensity=None, sentence="WSI")),
        (
            "01-01-06-01-02-01-12.mp4",
            dict(
                dataset="ravdess",
                actor="12",
                sentence="02",
                emotion="fear",
                intensity=0.5,
                intensity_label="normal",
                modality="audio-video",
                vocal_channel="speech",
                repetition=1,
                gender="female",
            ),
        ),
        (
            "03-01-05-02-01-02-03.wav",
            dict(
                emotion="angry",
                intensity=1.0,
                modality="audio",
                gender="male",
                repetition=2,
                take="ravdess/01-05-02-01-02-03",
            ),
        ),
        ("01-02-03-02-01-01-07.mp4", dict(emotion="happy", vocal_channel="song", intensity=1.0)),
        ("01-01-01-01-01-01-01.mp4", dict(emotion="neutral", intensity=0.0)),
        ("01-01-02-01-01-01-01.mp4", dict(emotion="calm", intensity=0.5)),
        ("01-01-08-02-01-01-24.mp4", dict(emotion="surprised", gender="female")),
        (
            "MEAD/M003/video/front/angry/level_1/001.mp4",
            dict(
                dataset="mead",
                actor="M003",
                sentence="001",
                emotion="angry",
                intensity=1 / 3,
                intensity_label="level_1",
                view="front",
                gender="male",
                modality="audio-video",
                take="mead/M003/angry/1/001",
            ),
        ),
        (
            "W009/video/right_60/disgusted/level_3/030.mp4",
            dict(emotion="disgust", intensity=1.0, view="right_60", gender="female"),
        ),
        (
            "M003/audio/contempt/level_2/012.m4a",
            dict(
                emotion="contempt",
                intensity=2 / 3,
                view=None,
                modality="audio",
                take="mead/M003/contempt/2/012",
            ),
        ),
        ("M003/video/front/neutral/level_1/040.mp4", dict(emotion="neutral", intensity=0.0)),
        ("M003_neu_1_001.mp4", dict(dataset="mead", emotion="neutral", intensity=0.0, view=None)),
        ("M003_sur_2_017.wav", dict(emotion="surprised", intensity=2 / 3, modality="audio")),
        (
            "M030_front_angry_level3_001.mp4",
            dict(
                emotion="angry",
                intensity=1.0,
                view="front",
                intensity_label="level3",
                take="mead/M030/angry/3/001",
            ),
        ),
        ("M030_left_30_fear_level2_005.mp4", dict(emotion="fear", view="left_30")),
        ("W015#happy#level_2#003.mp4", dict(emotion="happy", intensity=2 / 3, actor="W015", gender="female")),
    ],
)
def test_accepted_names(path, expected):
    label = parse(path)
    assert isinstance(label, ClipLabel), label
    assert label.path == path
    assert label.emotion in EMOTIONS
    for field, value in expected.items():
        got = getattr(label, field)
        assert got == (pytest.approx(value) if isinstance(value, float) else value), field


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("1001_DFA_ANG.flv", "AAAA_SSS_EEE_LL"),
        ("0999_DFA_ANG_XX.flv", "actor"),
        ("1001_XYZ_ANG_XX.flv", "sentence"),
        ("1001_DFA_JOY_XX.flv", "emotion"),
        ("1001_IEO_ANG_ZZ.flv", "level"),
        ("1001_DFA_ANG_HI.flv", "only for sentence IEO"),
        ("1001_IEO_NEU_HI.wav", "neutral has no intensity"),
        ("1001_DFA_ANG_XX.avi", "extension"),
        ("1076_MTI_NEU_XX.flv", "no audio"),
        ("1076_MTI_SAD_XX.wav", "no audio"),
        ("1064_TIE_SAD_XX.flv", "zero duration"),
        ("1064_IEO_DIS_MD.flv", "all IEO emotions"),
        ("1007_ITH_NEU_XX.flv", "known bad"),
        ("02-01-06-01-02-01-12.mp4", "video-only"),
        ("01-01-01-02-01-01-01.mp4", "neutral has no strong"),
        ("01-02-07-01-01-01-01.mp4", "song has no disgust"),
        ("01-02-08-01-01-01-01.mp4", "song has no surprised"),
        ("03-01-05-01-01-01-01.mp4", "must be a .wav"),
        ("01-01-05-01-01-01-01.wav", "must be a .mp4"),
        ("04-01-05-01-01-01-01.mp4", "modality"),
        ("01-03-05-01-01-01-01.mp4", "vocal channel"),
        ("01-01-09-01-01-01-01.mp4", "emotion"),
        ("01-01-05-03-01-01-01.mp4", "intensity"),
        ("01-01-05-01-03-01-01.mp4", "statement"),
        ("01-01-05-01-01-03-01.mp4", "repetition"),
        ("01-01-05-01-01-01-25.mp4", "actor"),
        ("01-01-05-01-01-01.mp4", "7 two-digit"),
        ("M003/video/front/neutral/level_2/001.mp4", "neutral has only level_1"),
        ("M003_neu_3_001.mp4", "neutral has only level_1"),
        ("M003/video/back/angry/level_1/001.mp4", "view"),
        ("M003/video/front/angry/level_4/001.mp4", "level"),
        ("M003/video/front/anger/level_1/001.mp4", "emotion"),
        ("M003/video/front/angry/level_1/1.mp4", "clip id"),
        ("X003/video/front/angry/level_1/001.mp4", "unrecognised"),
        ("M003/audio/angry/level_1/001.mp4", "audio folder"),
        ("M003/video/front/angry/level_1/001.m4a", "video folder"),
        ("M003_xxx_1_001.mp4", "emotion"),
        ("M003#angry#001.mp4", "EDTalk"),
        ("M003_angry.mp4", "no known layout"),
        ("notes/readme.txt", "unrecognised"),
        ("clip_0001.mp4", "unrecognised"),
    ],
)
def test_rejected_names(path, reason):
    item = parse(path)
    assert isinstance(item, Rejection), item
    assert item.path == path
    assert reason in item.reason


def test_forced_dataset_reports_mismatch_and_unknown_dataset_raises():
    item = parse("1001_DFA_ANG_XX.flv", dataset="ravdess")
    assert isinstance(item, Rejection) and item.dataset == "ravdess"
    assert "7 two-digit" in item.reason
    with pytest.raises(ValueError, match="dataset"):
        parse("1001_DFA_ANG_XX.flv", dataset="iemocap")


def test_beta_files_parse_without_extension_check():
    label = parse("betas/1001_IEO_ANG_HI.pt", media=False)
    assert isinstance(label, ClipLabel) and label.modality is None and label.intensity == 1.0
    assert isinstance(parse("betas/1001_IEO_ANG_HI.pt"), Rejection)
    assert isinstance(parse("x/02-01-05-01-01-01-01.npy", media=False), Rejection)  # still video-only


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


CORPUS = (
    # CREMA-D: flv + wav + mp3 of one take; an audio-only take; a known bad file
    "crema/VideoFlash/1001_DFA_ANG_XX.flv",
    "crema/AudioWAV/1001_DFA_ANG_XX.wav",
    "crema/AudioMP3/1001_DFA_ANG_XX.mp3",
    "crema/AudioWAV/1002_IEO_HAP_HI.wav",
    "crema/VideoFlash/1064_TIE_SAD_XX.flv",
    # RAVDESS: 01 + 02 + 03 of one trial; an 03 with no video; a song clip
    "ravdess/Actor_03/01-01-05-01-01-01-03.mp4",
    "ravdess/Actor_03/02-01-05-01-01-01-03.mp4",
    "ravdess/Audio_03/03-01-05-01-01-01-03.wav",
    "ravdess/Audio_03/03-01-04-02-02-02-03.wav",
    "ravdess/Actor_03/01-02-03-01-01-01-03.mp4",
    # MEAD: two views sharing one m4a; neutral level_2 is invalid
    "mead/M003/video/front/angry/level_1/001.mp4",
    "mead/M003/video/left_30/angry/level_1/001.mp4",
    "mead/M003/audio/angry/level_1/001.m4a",
    "mead/M003/video/front/neutral/level_2/001.mp4",
    "docs/README.md",
)


def test_scan_pairs_audio_and_reports_every_file_once(tmp_path):
    _touch(tmp_path, *CORPUS)
    items = list(scan(str(tmp_path)))
    ok = {Path(i.path).relative_to(tmp_path).as_posix(): i for i in items if isinstance(i, ClipLabel)}
    rejected = {Path(i.path).relative_to(tmp_path).as_posix(): i for i in items if isinstance(i, Rejection)}

    paired = {Path(i.audio_uri).relative_to(tmp_path).as_posix() for i in ok.values() if i.audio_uri}
    reported = [*ok, *rejected, *paired]
    assert sorted(reported) == sorted(CORPUS)
    assert [i.path for i in items] == sorted(i.path for i in items)

    flv = ok["crema/VideoFlash/1001_DFA_ANG_XX.flv"]
    assert flv.audio_uri == str(tmp_path / "crema/AudioWAV/1001_DFA_ANG_XX.wav")
    assert "duplicate audio" in rejected["crema/AudioMP3/1001_DFA_ANG_XX.mp3"].reason
    audio_only = ok["crema/AudioWAV/1002_IEO_HAP_HI.wav"]
    assert audio_only.modality == "audio" and audio_only.audio_uri is None
    assert "zero duration" in rejected["crema/VideoFlash/1064_TIE_SAD_XX.flv"].reason

    av = ok["ravdess/Actor_03/01-01-05-01-01-01-03.mp4"]
    assert av.audio_uri == str(tmp_path / "ravdess/Audio_03/03-01-05-01-01-01-03.wav")
    assert "video-only" in rejected["ravdess/Actor_03/02-01-05-01-01-01-03.mp4"].reason
    assert ok["ravdess/Audio_03/03-01-04-02-02-02-03.wav"].modality == "audio"
    song = ok["ravdess/Actor_03/01-02-03-01-01-01-03.mp4"]
    assert song.vocal_channel == "song" and song.audio_uri is None

    m4a = str(tmp_path / "mead/M003/audio/angry/level_1/001.m4a")
    assert ok["mead/M003/video/front/angry/level_1/001.mp4"].audio_uri == m4a
    assert ok["mead/M003/video/left_30/angry/level_1/001.mp4"].audio_uri == m4a
    assert "neutral has only level_1" in rejected["mead/M003/video/front/neutral/level_2/001.mp4"].reason
    assert "unrecognised" in rejected["docs/README.md"].reason


def test_scan_reads_cremad_gender_from_video_demographics(tmp_path):
    _touch(tmp_path, "crema/VideoFlash/1001_DFA_ANG_XX.flv", "crema/VideoFlash/1002_DFA_SAD_XX.flv")
    _touch(tmp_path, "ravdess/Actor_03/01-01-05-01-01-01-03.mp4")
    rows = ["ActorID,Age,Sex,Race,Ethnicity", "1001,51,Male,Caucasian,Not Hispanic", "1002,21,Female,Asian,"]
    (tmp_path / "crema" / "VideoDemographics.csv").write_text("\n".join(rows) + "\n")
    items = {Path(i.path).name: i for i in scan(str(tmp_path))}
    assert "VideoDemographics.csv" not in items  # read as metadata, not reported as a clip or rejection
    assert items["1001_DFA_ANG_XX.flv"].gender == "male"
    assert items["1002_DFA_SAD_XX.flv"].gender == "female"
    assert items["01-01-05-01-01-01-03.mp4"].gender == "male"  # RAVDESS: odd actor ids
    (tmp_path / "crema" / "VideoDemographics.csv").write_text("id,sex\n1001,Male\n")
    with pytest.raises(ValueError, match="ActorID and Sex"):
        list(scan(str(tmp_path)))


def test_scan_rejects_duplicate_videos_of_one_take(tmp_path):
    _touch(tmp_path, "a/1001_DFA_ANG_XX.flv", "b/1001_DFA_ANG_XX.flv")
    items = list(scan(str(tmp_path)))
    assert isinstance(items[0], ClipLabel)
    assert isinstance(items[1], Rejection) and "duplicate video" in items[1].reason


def test_scan_cli_prints_one_json_line_per_file(tmp_path, capsys):
    _touch(tmp_path, *CORPUS)
    assert talkingface_main(["corpus", "scan", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    by_name = {Path(r["path"]).name: r for r in records}
    assert len(records) == len(CORPUS) - 3  # the wav and m4a ride along as audio_uri (m4a with two videos)
    assert by_name["1001_DFA_ANG_XX.flv"] | {"path": None, "audio_uri": None} == {
        "status": "ok",
        "path": None,
        "dataset": "cremad",
        "actor": "1001",
        "sentence": "DFA",
        "emotion": "angry",
        "intensity": None,
        "intensity_label": "XX",
        "take": "cremad/1001_DFA_ANG_XX",
        "modality": "audio-video",
        "vocal_channel": "speech",
        "repetition": None,
        "view": None,
        "gender": None,
        "audio_uri": None,
    }
    rejected = by_name["02-01-05-01-01-01-03.mp4"]
    assert rejected["status"] == "rejected" and "video-only" in rejected["reason"]
    summary = json.loads(err.strip().splitlines()[-1])
    assert summary == {
        "ok": sum(r["status"] == "ok" for r in records),
        "audio_only": 2,
        "rejected": sum(r["status"] == "rejected" for r in records),
    }


def test_scan_cli_forced_dataset_and_missing_root(tmp_path, capsys):
    _touch(tmp_path, "VideoFlash/1001_DFA_ANG_XX.flv")
    assert corpus_main(["scan", str(tmp_path), "--dataset", "mead"]) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["status"] == "rejected" and record["dataset"] == "mead"
    assert corpus_main(["scan", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_scan_lists_s3_prefixes(s3_bucket):
    import boto3

    client = boto3.client("s3")
    for key in (
        "corpus/VideoFlash/1001_DFA_ANG_XX.flv",
        "corpus/AudioWAV/1001_DFA_ANG_XX.wav",
        "other/x.flv",
    ):
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"")
    (clip,) = list(scan(f"s3://{s3_bucket}/corpus"))
    assert clip.path == f"s3://{s3_bucket}/corpus/VideoFlash/1001_DFA_ANG_XX.flv"
    assert clip.audio_uri == f"s3://{s3_bucket}/corpus/AudioWAV/1001_DFA_ANG_XX.wav"


def test_scan_accepts_file_uris_and_single_files(tmp_path):
    _touch(tmp_path, "RAVDESS/01-01-03-02-01-01-05.mp4")
    (clip,) = list(scan(f"file://{tmp_path}/RAVDESS"))
    assert clip.path == f"file://{tmp_path}/RAVDESS/01-01-03-02-01-01-05.mp4" and clip.emotion == "happy"
    (clip,) = list(scan(str(tmp_path / "RAVDESS/01-01-03-02-01-01-05.mp4")))
    assert clip.gender == "male"
