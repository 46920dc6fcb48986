"""Ray Data UDFs of the extraction pipeline; one clip per row, failures travel as rows.

Decode and commit workers import this module, so it loads no torch at import time (about 4 s of CPU per
new worker process); the recon actor imports its models when it starts.

Every stage passes rows through unchanged once ``error`` is set, so one bad clip becomes one
errors-table row and never a dropped block.
"""

from __future__ import annotations

import functools
import time
import traceback

import numpy as np
import pyarrow as pa

import storage
from distributed.extract.config import ExtractConfig
from distributed.extract.layout import betas_uri, clips_uri, errors_uri
from distributed.faults import crash_if_switched, crash_switches
from storage.schemas import BETAS_SCHEMA, CLIPS_SCHEMA, ERRORS_SCHEMA, to_table
from talkingface.betas import FrameBetas, decode_clip, frame_windows
from talkingface.betas.crops import ClipCrops, crop_info_from_json, crop_info_json
from talkingface.betas.record import betas_record
from talkingface.face.detect import LandmarkDetector, NoFaceError

EMPTY_FRAMES = np.zeros((0, 1, 1, 3), np.uint8)


def _first(batch: dict, key: str):
    value = batch[key][0]
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and np.isnan(value) else value  # Ray turns None into NaN


def _row(batch: dict) -> dict:
    """The single row of a ``batch_size=1`` numpy batch as a plain dict."""
    return {key: _first(batch, key) for key in batch}


def _batch(row: dict) -> dict:
    return {key: [value] for key, value in row.items()}


def _fail(row: dict, stage: str, err: BaseException) -> dict:
    """Mark ``row`` failed at ``stage``; the reason names the clip's source URI (not a cache path)."""
    reason = f"{type(err).__name__}: {err}"
    if row["source_uri"] not in reason:
        reason = f"{row['source_uri']}: {reason}"
    row.update(error=reason, stage=stage)
    return row


@functools.cache
def _clip_detector(config: ExtractConfig) -> LandmarkDetector:
    """The decode stage's face detector (plans each clip's crop), built once per worker process."""
    return LandmarkDetector(config.detector_config())


def decode_clips(batch: dict, config: ExtractConfig) -> dict:
    """CPU task: download, decode video at 25 fps (cut to the clip's 256 px face crop as it decodes, so only
    crops cross the object store) and audio at 16 kHz, align to T = floor(samples/640)."""
    row = _row(batch)
    row.update(frames=EMPTY_FRAMES, mels=np.zeros((0, 80, 16), np.float32), audio_samples=0, fps=0.0)
    row.update(crop_first=0, crop_info="")
    try:
        video = storage.download_to_cache(row["source_uri"])
        audio = storage.download_to_cache(row["audio_uri"]) if row["audio_uri"] else None
        media = decode_clip(video, audio, config.min_frames, _clip_detector(config), row["source_uri"])
        row.update(
            frames=media.frames,
            crop_first=media.crop.first,
            crop_info=crop_info_json(media.crop.info),
            mels=frame_windows(media.audio),
            audio_samples=len(media.audio),
            fps=media.source_fps,
        )
    except Exception as err:
        _fail(row, "decode", err)
    return _batch(row)


class ReconActor:
    """Actor: face detection + crop + alignment + batched 3DMM recon; models load once per actor."""

    def __init__(self, config: ExtractConfig):
        import torch

        from talkingface.betas.extractor import BetasExtractor
        from talkingface.precision import resolve_precision

        device = "cuda" if config.num_gpus_per_actor > 0 and torch.cuda.is_available() else "cpu"
        self.config = config
        self.crash = crash_switches(config.crash_on)
        self.extractor = BetasExtractor.create(
            weights=config.weights,
            detector=config.detector,
            detect_every=config.detect_every,
            face_weights=config.face_weights,
            device=device,
            batch_size=config.recon_batch_size(device),
            landmark_stride=config.landmark_stride,
            landmarks=config.landmarks,
            precision=resolve_precision(config.precision, device),
        )

    def __call__(self, batch: dict) -> dict:
        row = _row(batch)
        crash_if_switched(self.crash, row["clip_id"])
        frames, crop_info = row.pop("frames"), row.pop("crop_info")
        row.update(full=np.zeros((0, 257), np.float32), crop=np.zeros((0, 3), np.float32))
        row.update(face_found=np.zeros(0, bool))
        if row["error"]:
            return _batch(row)
        try:
            crops = ClipCrops(np.asarray(frames), row["crop_first"], crop_info_from_json(crop_info))
            betas = self.extractor.extract_crops(crops, name=row["source_uri"])
            ratio = float(betas.face_found.mean())
            if ratio < self.config.min_face_ratio:
                found = f"a face was found in only {ratio:.0%} of {len(frames)} frames"
                raise NoFaceError(
                    f"{row['source_uri']}: {found} (--min-face-ratio {self.config.min_face_ratio})"
                )
            row.update(full=betas.full, crop=betas.crop, face_found=betas.face_found)
        except Exception as err:
            _fail(row, "recon", err)
        return _batch(row)


def commit_clips(batch: dict, config: ExtractConfig, meta: dict[str, str]) -> dict:
    """Task: write the clip's rows atomically (betas first, then any stale error record is removed; the
    clips row, written last, commits the clip, so readers never see a clip without its betas) or its error.

    Every file carries ``meta`` (the run's provenance) in its Parquet key-value metadata.
    """
    row = _row(batch)
    status = {"clip_id": row["clip_id"], "source_uri": row["source_uri"], "status": "ok", "n_frames": 0}
    status.update(stage="", error="")
    try:
        if row["error"]:
            _commit_error(config.out, row, meta)
            status.update(status="error", stage=row["stage"], error=row["error"])
        else:
            status["n_frames"] = _commit_betas(config.out, row, meta)
    except Exception as err:
        status.update(status="commit_failed", stage="commit", error=f"{err}\n{traceback.format_exc()}")
    return _batch(status)


def tagged_table(rows: list[dict], schema: pa.Schema, meta: dict[str, str]) -> pa.Table:
    """``rows`` as a table of ``schema`` whose key-value metadata also holds ``meta`` (provenance)."""
    table = to_table(rows, schema)
    return table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})


def _commit_betas(out: str, row: dict, meta: dict[str, str]) -> int:
    n = len(row["full"])
    frames = FrameBetas(full=row["full"], crop=row["crop"], face_found=row["face_found"])
    betas = betas_record(row, frames, row["mels"], row["audio_samples"])
    uri = betas_uri(out, row["dataset"], row["emotion"], row["clip_id"])
    storage.write_table_atomic(tagged_table([betas], BETAS_SCHEMA, meta), uri)
    # an earlier run's error record goes before the commit: once the clips row exists, nothing is left
    # to fail, so a clip reported failed is never one that a rerun finds committed
    storage.delete(errors_uri(out, row["clip_id"]))
    clip = {k: row[k] for k in CLIPS_SCHEMA.names if k in row} | {"n_frames": n}
    storage.write_table_atomic(
        tagged_table([clip], CLIPS_SCHEMA, meta), clips_uri(out, row["dataset"], row["clip_id"])
    )
    return n


def _commit_error(out: str, row: dict, meta: dict[str, str]) -> None:
    error = {"clip_id": row["clip_id"], "source_uri": row["source_uri"], "stage": row["stage"]}
    error.update(reason=row["error"], timestamp=time.time())
    storage.write_table_atomic(tagged_table([error], ERRORS_SCHEMA, meta), errors_uri(out, row["clip_id"]))
