"""The streaming Ray Data pipeline of the extraction job."""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

import ray

import storage
from distributed.extract.config import ExtractConfig
from distributed.extract.layout import committed, errors_uri
from distributed.extract.plan import pending_clips
from distributed.extract.preflight import check_mixing, preflight
from distributed.extract.udfs import ReconActor, commit_clips, decode_clips, tagged_table
from distributed.faults import actor_stage, lost_reason, tolerate_lost_blocks
from distributed.runtime import init_ray
from storage.schemas import ERRORS_SCHEMA

log = logging.getLogger(__name__)

DECODE_MEMORY = 768 * 1024**2  # bytes reserved per decode task (measured: up to 636 MiB for 10 s of 1080p)


@dataclass
class ExtractSummary:
    """What one run did; also written to ``OUT/_runs/<start>.json``."""

    scanned: int = 0
    rejected: int = 0
    skipped_done: int = 0
    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    failed_infrastructure: int = 0
    frames: int = 0
    seconds: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)
    failure_reasons: dict[str, int] = field(default_factory=dict)  # failed clips per reason
    provenance: dict = field(default_factory=dict)
    run_log_error: str = ""  # why OUT/_runs/<start>.json could not be written ("" when it was)

    def as_dict(self) -> dict:
        return asdict(self)


def reason_group(stage: str, reason: str, source_uri: str) -> str:
    """A failure reason without the clip's URI and numbers, so equal causes group together."""
    text = reason.splitlines()[0].replace(source_uri, "<clip>") if reason else "?"
    return f"[{stage}] " + re.sub(r"\d+(\.\d+)?%?", "N", text)


def run_extract(config: ExtractConfig) -> ExtractSummary:
    """Process every clip of the corpus that has no committed output in ``config.out``.

    Raises ConfigurationError before any clip (and before Ray starts) when a weight file is missing,
    stand-in weights were not asked for, or the output holds results of another provenance.
    """
    start = time.time()
    config, provenance = preflight(config)
    check_mixing(config, provenance)
    done = committed(config.out)
    plan = pending_clips(config, done)
    summary = ExtractSummary(scanned=plan.scanned, rejected=len(plan.rejected), skipped_done=plan.skipped)
    summary.provenance = provenance
    groups: Counter[str] = Counter()
    meta = {"talkingface.provenance": json.dumps(provenance)}
    for rejection in plan.rejected:  # scan rejections are committed as error rows too
        reason = (
            rejection.reason if rejection.uri in rejection.reason else f"{rejection.uri}: {rejection.reason}"
        )
        _write_error(config.out, rejection.clip_id, rejection.uri, "scan", reason, meta)
    pending = plan.rows
    if pending:  # Ray starts only once the configuration and the plan are known to be good
        init_ray()
    for last_pass in (False, True):  # the last pass runs rows a dead worker took along, one per block
        if not pending:
            break
        seen = set()
        for status in build_dataset(config, pending, meta, one_per_block=last_pass).iter_rows():
            seen.add(status["clip_id"])
            _count(summary, groups, status)
        pending = [row for row in pending if row["clip_id"] not in seen]
        if pending and not last_pass:
            log.warning("extract: %d clips were lost with a dead worker; running them again", len(pending))
    for row in pending:  # poison clips: the worker died on every attempt
        reason = lost_reason(row["source_uri"], config.max_retries)
        _write_error(config.out, row["clip_id"], row["source_uri"], "worker", reason, meta)
        status = {"clip_id": row["clip_id"], "source_uri": row["source_uri"], "status": "error"}
        _count(summary, groups, status | {"stage": "worker", "error": reason, "n_frames": 0})
    summary.failure_reasons = dict(groups.most_common())
    summary.seconds = round(time.time() - start, 2)
    run_log = storage.join(config.out, "_runs", time.strftime("%Y%m%dT%H%M%S", time.gmtime(start)) + ".json")
    try:
        storage.write_bytes_atomic(run_log, json.dumps(summary.as_dict(), indent=1).encode())
    except Exception as err:  # the output store is down: the summary still reaches the caller
        summary.run_log_error = f"{run_log}: {type(err).__name__}: {err}"
        log.error("extract: the run log could not be written: %s", summary.run_log_error)
    return summary


def _count(summary: ExtractSummary, groups: Counter[str], status: dict) -> None:
    """Add one clip's commit status to ``summary`` (and its failure reason to ``groups``)."""
    summary.processed += 1
    summary.frames += int(status["n_frames"])
    if status["status"] == "ok":
        summary.succeeded += 1
        return
    summary.errors[status["clip_id"]] = f"[{status['stage']}] {status['error']}"
    groups[reason_group(status["stage"], status["error"], status["source_uri"])] += 1
    if status["status"] == "error":
        summary.failed += 1
    else:
        summary.failed_infrastructure += 1


def _write_error(out: str, clip_id: str, uri: str, stage: str, reason: str, meta: dict[str, str]) -> None:
    row = {"clip_id": clip_id, "source_uri": uri, "stage": stage, "reason": reason, "timestamp": time.time()}
    storage.write_table_atomic(tagged_table([row], ERRORS_SCHEMA, meta), errors_uri(out, clip_id))


def build_dataset(
    config: ExtractConfig, rows: list[dict], meta: dict[str, str], one_per_block: bool = False
) -> ray.data.Dataset:
    """list clips -> decode (CPU tasks) -> recon (actor pool) -> commit (tasks), one clip per batch.

    A task whose worker died is retried ``config.max_retries`` times, then its block is dropped: the caller
    finds its clips missing from the statuses. ``one_per_block`` (the last pass) gives every clip a block of
    its own and every actor one task at a time.
    """
    ctx = ray.data.DataContext.get_current()
    ctx.execution_no_progress_timeout_s = max(ctx.execution_no_progress_timeout_s or 0, 600)
    blocks = len(rows) if one_per_block else max(1, min(len(rows), 200))
    ds = tolerate_lost_blocks(ray.data.from_items(rows, override_num_blocks=blocks))
    # The memory hint keeps Ray from fusing decoding into the (GPU) recon actors: decoding stays on CPU tasks.
    ds = ds.map_batches(
        decode_clips,
        fn_kwargs={"config": config},
        batch_size=1,
        num_cpus=1,
        memory=DECODE_MEMORY,
        max_retries=config.max_retries,
    )
    ds = ds.map_batches(
        ReconActor,
        fn_constructor_args=(config,),
        batch_size=1,
        num_gpus=config.num_gpus_per_actor,
        num_cpus=config.num_cpus_per_actor,
        **actor_stage(*config.actor_pool(), config.max_retries, last_pass=one_per_block),
    )
    return ds.map_batches(
        commit_clips,
        fn_kwargs={"config": config, "meta": meta},
        batch_size=1,
        num_cpus=0.5,
        max_retries=config.max_retries,
    )
