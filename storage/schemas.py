"""The project's Parquet schemas, defined once. Every field carries its documentation in field metadata
(``field.metadata[b"doc"]``); every schema names itself and its version in schema metadata.

Time base: audio is 16 kHz mono and video is resampled to 25 fps, so one frame = 640 samples and a clip
of ``audio_samples`` samples has ``n_frames = audio_samples // 640`` frames. Per-frame data in the betas
table is stored as ``list<fixed_size_list<float32, D>>`` (one list entry per frame).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from storage.tables import from_table, to_table

__all__ = ["from_table", "to_table"]  # re-exported: rows <-> tables live next to the schemas they serve

SAMPLE_RATE = 16_000
FPS = 25
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS
MEL_BINS = 80
MEL_STEPS = 16
MEL_WINDOW = MEL_BINS * MEL_STEPS
COEFF_DIM = 257
EXP_DIM = 64


def _field(name: str, type_: pa.DataType, doc: str, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


def _schema(name: str, version: int, fields: list[pa.Field]) -> pa.Schema:
    return pa.schema(fields, metadata={"schema": name, "version": str(version)})


def per_frame(dim: int) -> pa.DataType:
    """``list<fixed_size_list<float32, dim>>``: one ``dim``-vector per frame."""
    return pa.list_(pa.list_(pa.float32(), dim))


CLIPS_SCHEMA = _schema(
    "clips",
    1,
    [
        _field("clip_id", pa.string(), "unique clip id, '<dataset>/<source clip name>'"),
        _field("dataset", pa.string(), "source dataset: 'crema-d', 'ravdess', 'mead', ..."),
        _field("actor", pa.string(), "actor/speaker id as in the dataset"),
        _field("sentence", pa.string(), "sentence/statement id as in the dataset"),
        _field("emotion", pa.string(), "harmonised emotion label (shared vocabulary, lower case)"),
        _field("intensity", pa.float32(), "harmonised intensity 1..3; null = unknown", nullable=True),
        _field(
            "intensity_label", pa.string(), "raw intensity label from the dataset ('LO', 'XX', ...)", True
        ),
        _field("fps", pa.float32(), "frame rate of the source video (before resampling to 25 fps)"),
        _field("n_frames", pa.int32(), "frames at 25 fps = audio_samples // 640"),
        _field("audio_samples", pa.int64(), "number of 16 kHz mono audio samples"),
        _field("source_uri", pa.string(), "URI of the source video"),
        _field("audio_uri", pa.string(), "URI of a separate audio file, null = audio from the video", True),
        _field("gender", pa.string(), "'female' / 'male' / null = unknown", nullable=True),
        _field("modality", pa.string(), "'speech' / 'song' (RAVDESS), null = speech", nullable=True),
        _field("split", pa.string(), "'train' / 'val' / 'test', null = unassigned", nullable=True),
    ],
)

BETAS_SCHEMA = _schema(
    "betas",
    1,
    [
        _field("clip_id", pa.string(), "clip id (clips.clip_id)"),
        _field("dataset", pa.string(), "source dataset (clips.dataset)"),
        _field("emotion", pa.string(), "harmonised emotion label (clips.emotion)"),
        _field("intensity", pa.float32(), "harmonised intensity, null = unknown (clips.intensity)", True),
        _field("n_frames", pa.int32(), "T: frames at 25 fps; every per-frame list has exactly T entries"),
        _field("audio_samples", pa.int64(), "16 kHz samples; n_frames == audio_samples // 640"),
        _field("exp", per_frame(EXP_DIM), "per frame: 64 expression coefficients"),
        _field("angle", per_frame(3), "per frame: head rotation (pitch, yaw, roll) in radians"),
        _field("trans", per_frame(3), "per frame: head translation (x, y, z)"),
        _field("crop", per_frame(3), "per frame: crop/alignment parameters (s, tx, ty)"),
        _field(
            "full",
            per_frame(COEFF_DIM),
            "per frame: full 257 recon coefficients (id|exp|tex|angle|gamma|trans)",
        ),
        _field("mels", per_frame(MEL_WINDOW), "per frame: 80x16 mel window (80 bins x 16 steps), row-major"),
        _field("face_found", pa.list_(pa.bool_()), "per frame: whether a face was detected"),
    ],
)

ERRORS_SCHEMA = _schema(
    "errors",
    1,
    [
        _field("clip_id", pa.string(), "clip id, null if the failure happened before one was known", True),
        _field("source_uri", pa.string(), "URI of the input that failed"),
        _field("stage", pa.string(), "pipeline stage: 'probe', 'decode', 'detect', 'recon', 'audio', ..."),
        _field("reason", pa.string(), "exception type and message"),
        _field("timestamp", pa.timestamp("us", tz="UTC"), "when the failure was recorded"),
    ],
)

RENDER_MANIFEST_SCHEMA = _schema(
    "render_manifest",
    2,
    [
        _field("id", pa.string(), "unique row id; names the output (<id>.mp4) unless 'output' is given"),
        _field("audio", pa.string(), "driving speech: local path, file:// or s3:// URI"),
        _field("image", pa.string(), "source portrait (png/jpg): local path, file:// or s3:// URI"),
        _field("emotion", pa.string(), "emotion the head steers towards (needs a head), null = none", True),
        _field("intensity", pa.float32(), "emotion intensity in [0, 1], null = job default", True),
        _field("alpha", pa.float32(), "blend exp + alpha * (head - exp), null = job default", True),
        _field("ortho", pa.bool_(), "keep only the change along each frame's exp, null = job default", True),
        _field("head", pa.string(), "directory of a saved emotion head, null = job default", True),
        _field("pose_style", pa.int32(), "PoseVAE head-motion style 0..45, null = job default", True),
        _field("expression_scale", pa.float32(), "multiply expressions, null = job default", True),
        _field("still", pa.bool_(), "keep the source's head pose, null = job default", True),
        _field("size", pa.int32(), "render size (256 / 512; 128 stand-in only), null = job default", True),
        _field(
            "preprocess", pa.string(), "crop | extcrop | resize | full | extfull, null = job default", True
        ),
        _field("seed", pa.int64(), "blinks and PoseVAE latents, null = job default", True),
        _field(
            "output", pa.string(), "output name relative to the job's --out (.mp4), null = <id>.mp4", True
        ),
    ],
)

RENDER_RESULTS_SCHEMA = _schema(
    "render_results",
    2,
    [
        _field("id", pa.string(), "render_manifest.id (null when the manifest row had no usable id)", True),
        _field("line", pa.int64(), "manifest line (CSV/JSONL, header = line 1) or row number (Parquet)"),
        _field(
            "status",
            pa.string(),
            "'rendered', 'skipped' (same content hash already there), 'invalid', 'error'",
        ),
        _field("output_uri", pa.string(), "the rendered video, null for invalid rows", True),
        _field(
            "frames", pa.int32(), "video frames = audio_samples // 640, null unless rendered/skipped", True
        ),
        _field(
            "duration_s", pa.float64(), "video duration (frames / 25), null unless rendered/skipped", True
        ),
        _field(
            "content_hash", pa.string(), "sha256 of inputs, parameters and checkpoints, null if invalid", True
        ),
        _field("source_s", pa.float64(), "seconds preparing the source image (shared by its rows)", True),
        _field("coeffs_s", pa.float64(), "seconds audio -> coefficients -> keypoints", True),
        _field("render_s", pa.float64(), "renderer seconds, summed over segments", True),
        _field("encode_s", pa.float64(), "H.264 encode + part upload seconds, summed over segments", True),
        _field("join_s", pa.float64(), "seconds joining segments with the audio and publishing", True),
        _field("error", pa.string(), "why the row was invalid or failed, null otherwise", True),
    ],
)

HEAD_PAIRS_SCHEMA = _schema(
    "head_pairs",
    1,
    [
        _field("clip_id", pa.string(), "clip id (clips.clip_id)"),
        _field("dataset", pa.string(), "source dataset (clips.dataset)"),
        _field("actor", pa.string(), "actor/speaker id (clips.actor): train/val/test splits are by actor"),
        _field("emotion", pa.string(), "harmonised emotion label (clips.emotion)"),
        _field("intensity", pa.float32(), "harmonised intensity, null = unknown (clips.intensity)", True),
        _field("n_frames", pa.int32(), "T: frames at 25 fps; both per-frame lists have exactly T entries"),
        _field("source_exp", per_frame(EXP_DIM), "per frame: ExpNet's 64 expression coefficients (audio)"),
        _field("target_exp", per_frame(EXP_DIM), "per frame: the video's 64 expression coefficients"),
        _field("expnet", pa.string(), "sha256 of the ExpNet checkpoint that made source_exp, or 'stand-in'"),
    ],
)

SCHEMAS: dict[str, pa.Schema] = {
    s.metadata[b"schema"].decode(): s
    for s in (
        CLIPS_SCHEMA,
        BETAS_SCHEMA,
        ERRORS_SCHEMA,
        RENDER_MANIFEST_SCHEMA,
        RENDER_RESULTS_SCHEMA,
        HEAD_PAIRS_SCHEMA,
    )
}

BETAS_PER_FRAME = ("exp", "angle", "trans", "crop", "full", "mels", "face_found")


def check_schema(table: pa.Table, schema: pa.Schema) -> None:
    """Raise ``ValueError`` unless ``table`` has every field of ``schema`` with the same type."""
    problems = []
    for field in schema:
        index = table.schema.get_field_index(field.name)
        if index < 0:
            problems.append(f"missing column {field.name!r}")
        elif not table.schema.field(index).type.equals(field.type):
            problems.append(
                f"column {field.name!r} is {table.schema.field(index).type}, expected {field.type}"
            )
    if problems:
        name = (schema.metadata or {}).get(b"schema", b"?").decode()
        raise ValueError(f"table does not match the {name} schema: " + "; ".join(problems))


def _bad_clips(table: pa.Table, mask: pa.ChunkedArray) -> list[str]:
    return table.filter(pc.fill_null(mask, True))["clip_id"].to_pylist()[:5]


def validate_betas_table(table: pa.Table) -> None:
    """Check a betas table: schema, ``n_frames == audio_samples // 640`` and every per-frame list
    holding exactly ``n_frames`` entries. Raises ``ValueError`` naming the column and clip ids."""
    check_schema(table, BETAS_SCHEMA)
    n_frames = table["n_frames"].cast(pa.int64())
    samples = table["audio_samples"]
    expected = pc.divide(samples, SAMPLES_PER_FRAME)  # integer division; exact floor for samples >= 0
    bad = pc.or_(pc.not_equal(n_frames, expected), pc.less(samples, 0))
    if pc.any(pc.fill_null(bad, True)).as_py():
        raise ValueError(
            f"n_frames != audio_samples // {SAMPLES_PER_FRAME} (or negative/null) for clips "
            f"{_bad_clips(table, bad)}"
        )
    for name in BETAS_PER_FRAME:
        lengths = pc.list_value_length(table[name]).cast(pa.int64())
        bad = pc.not_equal(lengths, n_frames)
        if pc.any(pc.fill_null(bad, True)).as_py():
            raise ValueError(
                f"column {name!r} has a length != n_frames (or null) for clips {_bad_clips(table, bad)}"
            )
