"""What an extraction run has to do: scan the corpus, drop what is committed, name every clip."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from distributed.extract.config import ExtractConfig
from distributed.extract.layout import Committed
from talkingface.corpus.labels import ClipLabel, Rejection
from talkingface.corpus.scan import scan


@dataclass(frozen=True)
class ScanRejection:
    clip_id: str
    uri: str
    reason: str


@dataclass
class Plan:
    """Rows to process (one dict per clip), files rejected by the scan, and counts."""

    rows: list[dict] = field(default_factory=list)
    rejected: list[ScanRejection] = field(default_factory=list)
    scanned: int = 0
    skipped: int = 0


def clip_id(label: ClipLabel) -> str:
    """A file-name-safe id, unique per take and camera view (``cremad-1001_DFA_ANG_XX``)."""
    base = label.take if label.view is None else f"{label.take}/{label.view}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", base)


def rejection_id(path: str) -> str:
    """Id of a rejected file: its name (the clip id is unknown when the name did not parse)."""
    return "rejected-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", path.rsplit("/", 1)[-1])


def clip_row(label: ClipLabel) -> dict:
    """The row a clip travels through the pipeline as (labels + processing state)."""
    return {
        "clip_id": clip_id(label),
        "dataset": label.dataset,
        "actor": label.actor,
        "sentence": label.sentence,
        "emotion": label.emotion,
        "intensity": label.intensity,
        "intensity_label": label.intensity_label,
        "gender": label.gender,
        "modality": label.modality,
        "source_uri": label.path,
        "audio_uri": label.audio_uri or "",
        "error": "",
        "stage": "",
    }


def pending_clips(config: ExtractConfig, committed: Committed) -> Plan:
    """Scan ``config.corpus`` and keep the clips without committed output."""
    plan = Plan()
    for item in scan(config.corpus, config.dataset):
        plan.scanned += 1
        if isinstance(item, Rejection):
            plan.rejected.append(ScanRejection(rejection_id(item.path), item.path, item.reason))
            continue
        if item.modality == "audio":
            reason = "audio-only clip: no video to extract expression coefficients from"
            plan.rejected.append(ScanRejection(clip_id(item), item.path, reason))
            continue
        cid = clip_id(item)
        if cid in committed.done or (cid in committed.errored and not config.retry_errors):
            plan.skipped += 1
            continue
        if config.limit is None or len(plan.rows) < config.limit:
            plan.rows.append(clip_row(item))
    return plan
