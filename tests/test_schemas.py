"""Parquet schemas: row <-> table conversion, validation, and round trips through local files and S3."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pyarrow as pa
import pytest

from storage import (
    BETAS_SCHEMA,
    CLIPS_SCHEMA,
    SAMPLES_PER_FRAME,
    SCHEMAS,
    from_table,
    join,
    list_uris,
    read_table,
    to_table,
    validate_betas_table,
    write_table_atomic,
)


def betas_row(rng: np.random.Generator, clip_id: str, n_frames: int) -> dict:
    """A betas row with random per-frame data and a consistent audio length."""

    def frames(dim: int) -> np.ndarray:
        return rng.standard_normal((n_frames, dim)).astype(np.float32)

    return {
        "clip_id": clip_id,
        "dataset": "crema-d",
        "emotion": "happy",
        "intensity": None if n_frames % 2 else 2.0,
        "n_frames": n_frames,
        "audio_samples": n_frames * SAMPLES_PER_FRAME + int(rng.integers(0, SAMPLES_PER_FRAME)),
        "exp": frames(64),
        "angle": frames(3),
        "trans": frames(3),
        "crop": frames(3),
        "full": frames(257),
        "mels": frames(80 * 16),
        "face_found": rng.random(n_frames) > 0.2,
    }


def sample_rows(name: str, rng: np.random.Generator) -> list[dict]:
    """Three realistic rows for the schema ``name``, with nulls where the schema allows them."""
    if name == "betas":
        return [betas_row(rng, f"crema-d/clip{i}", n) for i, n in enumerate([5, 0, 12])]
    if name == "head_pairs":
        return [
            {
                "clip_id": f"crema-d/100{i}_IEO_ANG_HI",
                "dataset": "crema-d",
                "actor": f"100{i}",
                "emotion": "angry",
                "intensity": None if i == 1 else 0.5 * i,
                "n_frames": n,
                "source_exp": rng.standard_normal((n, 64)).astype(np.float32),
                "target_exp": rng.standard_normal((n, 64)).astype(np.float32),
                "expnet": "stand-in",
            }
            for i, n in enumerate([4, 1, 7])
        ]
    if name == "clips":
        return [
            {
                "clip_id": f"crema-d/1001_IEO_HAP_{level}",
                "dataset": "crema-d",
                "actor": "1001",
                "sentence": "IEO",
                "emotion": "happy",
                "intensity": {"LO": 1.0, "HI": 3.0}.get(level),
                "intensity_label": level,
                "fps": 29.97,
                "n_frames": 60 + i,
                "audio_samples": (60 + i) * SAMPLES_PER_FRAME,
                "source_uri": f"s3://raw/crema-d/1001_IEO_HAP_{level}.flv",
                "audio_uri": None if i else f"s3://raw/crema-d/1001_IEO_HAP_{level}.wav",
                "gender": "male",
                "modality": None,
                "split": "train",
            }
            for i, level in enumerate(["LO", "HI", "XX"])
        ]
    if name == "errors":
        when = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc)
        return [
            {
                "clip_id": None,
                "source_uri": "s3://raw/x.flv",
                "stage": "probe",
                "reason": "OSError: bad",
                "timestamp": when,
            },
            {
                "clip_id": "mead/M003_1",
                "source_uri": "s3://raw/y.mp4",
                "stage": "detect",
                "reason": "no face",
                "timestamp": when,
            },
        ]
    if name == "render_manifest":
        return [
            {
                "id": f"clip-{i}",
                "audio": "s3://in/a.wav",
                "image": "s3://in/face.png",
                "emotion": emotion,
                "intensity": None if emotion is None else 0.5,
                "alpha": 0.75,
                "ortho": bool(i % 2),
                "head": None if emotion is None else "heads/tf",
                "pose_style": i,
                "expression_scale": None,
                "still": None,
                "size": 256,
                "preprocess": "crop",
                "seed": 2**40 + i,
                "output": None if i else "nested/clip-0.mp4",
            }
            for i, emotion in enumerate(["angry", None])
        ]
    if name == "render_results":
        return [
            {
                "id": "clip-0",
                "line": 2,
                "status": "rendered",
                "output_uri": "s3://out/clip-0.mp4",
                "frames": 125,
                "duration_s": 5.0,
                "content_hash": "ab" * 32,
                "source_s": 0.5,
                "coeffs_s": 0.25,
                "render_s": 12.5,
                "encode_s": 1.5,
                "join_s": 0.75,
                "error": None,
            },
            {
                "id": None,
                "line": 3,
                "status": "invalid",
                "output_uri": None,
                "frames": None,
                "duration_s": None,
                "content_hash": None,
                "source_s": None,
                "coeffs_s": None,
                "render_s": None,
                "encode_s": None,
                "join_s": None,
                "error": "missing column 'id'",
            },
        ]
    raise KeyError(name)


def assert_rows_equal(actual: list[dict], expected: list[dict], schema: pa.Schema) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert set(got) == set(schema.names)
        for field in schema:
            a, b = got[field.name], want.get(field.name)
            if isinstance(b, np.ndarray):
                assert isinstance(a, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype, field.name
                np.testing.assert_array_equal(a, b)
            elif isinstance(b, float):
                assert a == pytest.approx(b, rel=1e-6), field.name
            else:
                assert a == b, field.name


@pytest.fixture(params=["local", "s3"])
def table_root(request, tmp_path) -> str:
    if request.param == "s3":
        return f"s3://{request.getfixturevalue('s3_bucket')}/tables"
    return str(tmp_path / "tables")


def test_every_field_is_documented():
    assert set(SCHEMAS) == {"clips", "betas", "errors", "render_manifest", "render_results", "head_pairs"}
    for name, schema in SCHEMAS.items():
        for field in schema:
            assert field.metadata and field.metadata.get(b"doc"), f"{name}.{field.name} has no doc"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_round_trip_every_schema(name, table_root):
    schema = SCHEMAS[name]
    rows = sample_rows(name, np.random.default_rng(0))
    uri = join(table_root, f"{name}.parquet")
    write_table_atomic(to_table(rows, schema), uri)
    assert list_uris(table_root) == [uri]
    table = read_table(uri)
    assert table.schema.equals(schema)
    assert_rows_equal(from_table(table), rows, schema)


def test_betas_table_validates_and_slices(tmp_path):
    rows = sample_rows("betas", np.random.default_rng(1))
    table = to_table(rows, BETAS_SCHEMA)
    validate_betas_table(table)
    assert_rows_equal(from_table(table.slice(1, 2)), rows[1:], BETAS_SCHEMA)
    chunked = pa.concat_tables([table.slice(0, 1), table.slice(2, 1)])
    assert_rows_equal(from_table(chunked), [rows[0], rows[2]], BETAS_SCHEMA)


def test_validate_betas_rejects_inconsistent_lengths():
    rng = np.random.default_rng(2)
    short_mel = betas_row(rng, "ravdess/short-mel", 6)
    short_mel["mels"] = short_mel["mels"][:-1]
    with pytest.raises(ValueError, match=r"'mels'.*ravdess/short-mel"):
        validate_betas_table(to_table([betas_row(rng, "ok", 4), short_mel], BETAS_SCHEMA))
    wrong_count = betas_row(rng, "mead/wrong-count", 6)
    wrong_count["audio_samples"] = 8 * SAMPLES_PER_FRAME
    with pytest.raises(ValueError, match=r"audio_samples // 640.*mead/wrong-count"):
        validate_betas_table(to_table([wrong_count], BETAS_SCHEMA))
    with pytest.raises(ValueError, match="missing column 'mels'"):
        validate_betas_table(to_table([betas_row(rng, "x", 3)], BETAS_SCHEMA).drop_columns(["mels"]))


def test_to_table_rejects_bad_rows():
    rng = np.random.default_rng(3)
    row = betas_row(rng, "c", 4)
    with pytest.raises(
        ValueError, match=re.escape("column 'exp' row 0: expected shape (T, 64), got (4, 63)")
    ):
        to_table([{**row, "exp": row["exp"][:, :63]}], BETAS_SCHEMA)
    with pytest.raises(ValueError, match="column 'clip_id' is required but row 1"):
        to_table([row, {**row, "clip_id": None}], BETAS_SCHEMA)
    with pytest.raises(ValueError, match=r"not in the schema: \['exp_typo'\]"):
        to_table([{**row, "exp_typo": 1}], BETAS_SCHEMA)
    clip = sample_rows("clips", rng)[0]
    with pytest.raises(ValueError, match="column 'n_frames'"):
        to_table([{**clip, "n_frames": "sixty"}], CLIPS_SCHEMA)


def test_read_table_directory_with_schema_and_missing(table_root):
    rng = np.random.default_rng(4)
    for part in range(2):
        rows = [betas_row(rng, f"clip{part}-{i}", 3 + i) for i in range(2)]
        write_table_atomic(to_table(rows, BETAS_SCHEMA), join(table_root, "betas", f"part-{part}.parquet"))
    table = read_table(join(table_root, "betas"), schema=BETAS_SCHEMA)
    validate_betas_table(table)
    assert sorted(table["clip_id"].to_pylist()) == ["clip0-0", "clip0-1", "clip1-0", "clip1-1"]
    missing = join(table_root, "nothing-here")
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        read_table(missing)


def test_timestamps_accept_posix_seconds():
    when = dt.datetime(2026, 3, 4, 5, 6, 7, 250000, tzinfo=dt.timezone.utc)
    row = {"clip_id": "c", "source_uri": "s3://raw/c.mp4", "stage": "decode", "reason": "EOFError"}
    table = to_table([{**row, "timestamp": when.timestamp()}, {**row, "timestamp": when}], SCHEMAS["errors"])
    assert [r["timestamp"] for r in from_table(table)] == [when, when]
