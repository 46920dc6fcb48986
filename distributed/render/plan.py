"""Validating a manifest before any model loads, and planning the rows to render.

Every row is checked on its own (types, value ranges, the head's emotions, unique ids and output
names, output names inside ``--out``, inputs that exist: a HEAD request per S3 object, a stat per local
file) and either becomes a :class:`Task` or an :class:`Invalid` with its line and reason. Tasks whose
output already carries the same content hash are marked skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import storage
from distributed.render.config import RenderBatchConfig
from distributed.render.identity import FRAMES_KEY, HASH_KEY, Identities, digest
from distributed.render.manifest import Entry, Invalid, read_manifest
from talkingface.emotion.apply import check_intensity
from talkingface.render.pipeline import RenderRequest

ROW_PARAMS = (
    "emotion", "intensity", "alpha", "ortho", "head", "pose_style",
    "expression_scale", "still", "size", "preprocess", "seed",
)  # fmt: skip
JOB_PARAMS = ("model_config", "detector", "landmarks", "align", "precision", "crf", "preset")
SOURCE_PARAMS = ("model_config", "detector", "landmarks", "align")


class ConfigurationError(ValueError):
    """The job cannot start: unreadable manifest, missing checkpoint directory."""


@dataclass(frozen=True)
class Task:
    """A valid manifest row, resolved: what to render, where, and its identities."""

    line: int
    id: str
    request: RenderRequest
    output_uri: str
    content_hash: str
    source_key: str  # shared by every row of the same image, size, crop mode and models
    skip: bool = False  # the output already holds this content hash
    existing_frames: int | None = None  # frames of that output

    def as_row(self) -> dict:
        """The Ray Data row this task travels as (the request as JSON)."""
        request = json.dumps(asdict(self.request))
        return {"line": self.line, "id": self.id, "request": request, "output_uri": self.output_uri,
                "content_hash": self.content_hash, "source_key": self.source_key}  # fmt: skip


@dataclass
class Plan:
    tasks: list[Task] = field(default_factory=list)
    invalid: list[Invalid] = field(default_factory=list)


def request_from_json(text: str) -> RenderRequest:
    values = json.loads(text)
    for axis in ("yaw", "pitch", "roll"):
        values[axis] = None if values[axis] is None else tuple(values[axis])
    return RenderRequest(**values)


def sources_uri(out: str, key: str) -> str:
    """Where the prepared source of ``key`` is kept (reused by every row and by reruns)."""
    return storage.join(out, "_sources", key + ".pt")


def parts_uri(out: str, row: dict, segment_frames: int, index: int) -> str:
    """Where segment ``index`` of a row waits for its join (deleted once joined); unique per output."""
    key = f"{row['content_hash'][:32]}-{digest(row['output_uri'])[:8]}-{segment_frames}"
    return storage.join(out, "_parts", key, f"{index:06d}.mp4")


def _readable(uri: str) -> bool:
    loc = storage.parse_uri(uri)
    if loc.is_s3:
        return bool(loc.path) and storage.read_metadata(uri) is not None
    return os.path.isfile(loc.path)


def _head_emotions(head: str) -> tuple[str, ...]:
    """The emotions a saved head is conditioned on (its config.json), without loading it."""
    path = Path(head) / "config.json"
    try:
        return tuple(json.loads(path.read_text())["config"]["emotions"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"head {head}: not a saved emotion head ({type(err).__name__}: {err})") from None


class Planner:
    """Turns manifest entries into tasks; memoises per-URI checks for the run."""

    def __init__(self, config: RenderBatchConfig) -> None:
        self.config = config
        self.ids = Identities()
        self._readable: dict[str, bool] = {}
        self._ids: dict[str, int] = {}
        self._outputs: dict[str, int] = {}
        try:
            self.checkpoints = (
                f"stand-in:{config.model_config}"
                if config.checkpoint_dir is None
                else self.ids.tree(config.checkpoint_dir)
            )
        except (FileNotFoundError, ValueError) as err:
            raise ConfigurationError(f"--checkpoint-dir {config.checkpoint_dir}: {err}") from None

    def plan(self) -> Plan:
        plan = Plan()
        try:
            entries = read_manifest(self.config.manifest)
        except (OSError, ValueError) as err:
            raise ConfigurationError(f"--manifest {self.config.manifest}: {err}") from None
        for entry in entries:
            if isinstance(entry, Invalid):
                plan.invalid.append(entry)
                continue
            try:
                plan.tasks.append(self.task(entry))
            except (ValueError, FileNotFoundError) as err:
                plan.invalid.append(Invalid(entry.line, entry.values["id"], str(err)))
        return plan

    def _exists(self, uri: str, role: str) -> None:
        if uri not in self._readable:
            try:
                self._readable[uri] = _readable(uri)
            except (ValueError, OSError) as err:
                raise ValueError(f"{role} {uri}: {err}") from None
        if not self._readable[uri]:
            raise FileNotFoundError(f"{role} not found or unreadable: {uri}")

    def task(self, entry: Entry) -> Task:
        """One valid row as a task; ValueError / FileNotFoundError with the reason otherwise."""
        values, cfg = entry.values, self.config
        row_id = values["id"]
        if row_id in self._ids:
            raise ValueError(f"duplicate id {row_id!r} (first on line {self._ids[row_id]})")
        self._ids[row_id] = entry.line
        params = {k: getattr(cfg, k) if values[k] is None else values[k] for k in ROW_PARAMS}
        name = values["output"] or f"{row_id}.mp4"
        if not name.endswith(".mp4"):
            raise ValueError(f"output {name!r}: must end with .mp4")
        try:
            output_uri = storage.join(cfg.out, name)
        except storage.InvalidUriError as err:
            raise ValueError(f"output {name!r}: {err}") from None
        if output_uri in self._outputs:
            raise ValueError(f"output {name!r} is also written by line {self._outputs[output_uri]}")
        self._outputs[output_uri] = entry.line
        request = RenderRequest(image=values["image"], audio=values["audio"], out=output_uri,
                                batch_size=cfg.batch_size, **params)  # fmt: skip
        check_intensity(request.intensity)  # also without an emotion: a typo should not pass silently
        if request.head is not None:
            if not Path(request.head).is_dir():
                raise FileNotFoundError(f"emotion head directory not found: {request.head}")
            known = _head_emotions(request.head)
            if request.emotion not in known:
                raise ValueError(f"unknown emotion {request.emotion!r}; head {request.head} knows {known}")
        self._exists(request.audio, "audio")
        self._exists(request.image, "image")
        image = self.ids.input(request.image)
        head = None if request.head is None else self.ids.tree(request.head)
        job = {k: getattr(cfg, k) for k in JOB_PARAMS}
        source_key = digest(image, request.size, request.preprocess, self.checkpoints,
                            {k: job[k] for k in SOURCE_PARAMS})[:32]  # fmt: skip
        inputs = {"audio": self.ids.input(request.audio), "image": image, "head": head}
        content = digest(inputs, params, job, self.checkpoints)
        meta = storage.read_metadata(output_uri) or {}
        skip = meta.get(HASH_KEY) == content
        frames = int(meta[FRAMES_KEY]) if skip and meta.get(FRAMES_KEY, "").isdigit() else None
        return Task(entry.line, row_id, request, output_uri, content, source_key, skip, frames)
