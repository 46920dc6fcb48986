"""Ray Data UDFs of the render job, one manifest row or segment per call; failures travel as rows.

Rows keep one column set through every stage (arrays travel as ``np.save`` bytes, so segments of any
length and frame size share a column); once ``error`` is set, or a segment's part is already stored
(``done``), later stages pass the row through.
"""

from __future__ import annotations

import io
import math
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

import storage
from distributed.faults import crash_if_switched, crash_switches
from distributed.render.config import RenderBatchConfig
from distributed.render.identity import FRAMES_KEY, HASH_KEY
from distributed.render.plan import parts_uri, request_from_json, sources_uri
from distributed.render.sources import load_source, save_source
from talkingface.audio.features import num_video_frames
from talkingface.audio.pcm import decode_pcm
from talkingface.render.pipeline import ClipInputs, SourceFace, TalkingFacePipeline, local_input
from talkingface.video import SAMPLE_RATE, WriterConfig, write_video
from talkingface.video.concat import join_segments

SOURCE_CACHE = 8  # prepared sources kept per actor


def pack(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def unpack(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def _value(value):
    return value.item() if isinstance(value, np.generic) else value


def _row(batch: dict) -> dict:
    return {key: _value(batch[key][0]) for key in batch}


def _batch(rows: list[dict]) -> dict:
    return {key: [row[key] for row in rows] for key in rows[0]}


def _reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def writer_config(config: RenderBatchConfig) -> WriterConfig:
    return WriterConfig(crf=config.crf, preset=config.preset)


class _ModelStage:
    """Base of the actors: one pipeline (models load once per actor) and an LRU of prepared sources."""

    def __init__(self, config: RenderBatchConfig, num_gpus: float) -> None:
        device = "cuda" if num_gpus > 0 and torch.cuda.is_available() else "cpu"
        self.config = config
        self.pipeline = TalkingFacePipeline(config.pipeline_config(device))
        self._sources: OrderedDict[str, SourceFace] = OrderedDict()

    def source(self, key: str) -> SourceFace:
        if key not in self._sources:
            self._sources[key] = load_source(sources_uri(self.config.out, key), self.pipeline.models.device)
            while len(self._sources) > SOURCE_CACHE:
                self._sources.popitem(last=False)
        self._sources.move_to_end(key)
        return self._sources[key]


class SourceActor(_ModelStage):
    """Crop, source 3DMM row, canonical keypoints and feature volume of one distinct image."""

    def __init__(self, config: RenderBatchConfig) -> None:
        super().__init__(config, config.prep_num_gpus)

    def __call__(self, batch: dict) -> dict:
        row = _row(batch)
        start = time.perf_counter()
        row.update(error="", source_s=0.0)
        uri = sources_uri(self.config.out, row["source_key"])
        try:
            if not storage.exists(uri):  # prepared by an earlier run: reused
                face, _ = self.pipeline.source(row["image"], row["size"], row["preprocess"])
                save_source(face, uri)
        except Exception as err:
            row["error"] = f"image {row['image']}: {_reason(err)}"
        row["source_s"] = time.perf_counter() - start
        return _batch([row])


class CoeffActor(_ModelStage):
    """Audio -> ExpNet (+ emotion head) + PoseVAE -> keypoints, one row per segment, yielded as each is ready.

    The audio is decoded once to a raw file; each segment's keypoints are computed from the samples of its
    frames and of the neighbours its temporal windows reach (PoseVAE chunks, pose smoothing, the head's
    window, the 27-frame coefficient windows), so they equal a single pass over the whole clip and memory
    depends on the segment length, not on the audio's.
    """

    def __init__(self, config: RenderBatchConfig) -> None:
        super().__init__(config, config.prep_num_gpus)

    def __call__(self, batch: dict) -> Iterator[dict]:
        row = _row(batch)
        start = time.perf_counter()
        base = {**row, "segment": 0, "segments": 0, "frames": 0, "done": False, "part_uri": "",
                "kp_source": b"", "kp_driving": b"", "pixels": b"", "coeffs_s": 0.0, "render_s": 0.0,
                "encode_s": 0.0, "error": ""}  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="tf-coeff-") as tmp:
            try:
                request = request_from_json(row["request"])
                source = self.source(row["source_key"])
                features = decode_pcm(local_input(request.audio, "audio"), Path(tmp) / "audio.f32")
                head = None if request.head is None else self.pipeline.models.head(request.head)
                clip = ClipInputs(request, source, features, head)
            except Exception as err:
                base.update(error=_reason(err), coeffs_s=time.perf_counter() - start)
                yield _batch([base])
                return
            step, error = self.config.segment_frames, ""
            count = math.ceil(features.num_frames / step)
            for index in range(count):
                first, last = index * step, min((index + 1) * step, features.num_frames)
                part = parts_uri(self.config.out, row, step, index)
                done = storage.exists(part)  # rendered by an interrupted earlier run
                segment = {**base, "segment": index, "segments": count, "frames": last - first,
                           "done": done, "part_uri": part}  # fmt: skip
                if not (done or error):
                    try:
                        kp_source, kp = self.pipeline.keypoint_span(clip, first, last)
                        segment.update(kp_source=pack(kp_source.float().cpu().numpy()),
                                       kp_driving=pack(kp.float().cpu().numpy()))  # fmt: skip
                    except Exception as err:  # the row's later segments carry the same reason
                        error = f"segment {index}: {_reason(err)}"
                segment.update(error=error, coeffs_s=time.perf_counter() - start)
                start = time.perf_counter()
                yield _batch([segment])


class RenderActor(_ModelStage):
    """Renders one segment's keypoints (batched frames, fractional GPUs, bf16 autocast on GPU)."""

    def __init__(self, config: RenderBatchConfig) -> None:
        super().__init__(config, config.num_gpus_per_actor)
        self.crash = crash_switches(config.crash_on)

    def __call__(self, batch: dict) -> dict:
        row = _row(batch)
        crash_if_switched(self.crash, row["id"])
        if row["error"] or row["done"]:
            return _batch([row])
        start = time.perf_counter()
        try:
            request = request_from_json(row["request"])
            source = self.source(row["source_key"])
            device = self.pipeline.models.device
            kp_source = torch.from_numpy(unpack(row["kp_source"])).to(device)
            kp_driving = torch.from_numpy(unpack(row["kp_driving"])).to(device)
            frames = self.pipeline.render_keypoints(request, source, kp_source, kp_driving)
            row["pixels"] = pack(np.stack(list(frames)))
        except Exception as err:
            row["error"] = f"segment {row['segment']}: {_reason(err)}"
        row.update(kp_driving=b"", render_s=time.perf_counter() - start)
        return _batch([row])


def encode_segments(batch: dict, config: RenderBatchConfig) -> dict:
    """CPU task: one segment's frames -> a closed-GOP H.264 part under ``OUT/_parts`` (atomic put)."""
    row = _row(batch)
    if row["error"] or row["done"]:
        return _batch([row])
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="tf-seg-") as tmp:
            path = Path(tmp) / "segment.mp4"
            write_video(path, unpack(row["pixels"]), None, SAMPLE_RATE, writer_config(config))
            storage.put_file_atomic(path, row["part_uri"])
    except Exception as err:
        row["error"] = f"segment {row['segment']}: {_reason(err)}"
    row.update(pixels=b"", encode_s=time.perf_counter() - start)
    return _batch([row])


def join_row(request_json: str, output_uri: str, content_hash: str, parts: list[str],
             config: RenderBatchConfig) -> dict:  # fmt: skip
    """Task: the row's parts + its audio -> one mp4 (video packets copied), published with its hash."""
    start = time.perf_counter()
    request = request_from_json(request_json)
    with tempfile.TemporaryDirectory(prefix="tf-join-") as tmp:
        pcm = decode_pcm(local_input(request.audio, "audio"), Path(tmp) / "audio.f32").pcm
        frames = num_video_frames(len(pcm))
        local = []
        for index, part in enumerate(parts):
            local.append(Path(tmp) / f"{index:06d}.mp4")
            local[-1].write_bytes(storage.read_bytes(part))
        metadata = {HASH_KEY: content_hash, FRAMES_KEY: str(frames)}
        with storage.atomic_output(output_uri, metadata=metadata) as out:
            joined = join_segments(local, out, pcm, SAMPLE_RATE, writer_config(config))
            if joined != frames:
                raise ValueError(f"joined {joined} frames for {output_uri}, the audio drives {frames}")
    for part in parts:
        storage.delete(part)
    return {"frames": frames, "join_s": time.perf_counter() - start}
