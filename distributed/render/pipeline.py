"""The render job's driver: validate, prepare sources, stream rows through the actor pools, join, report.

Stages (each sized on its own)::

    distinct images -> SourceActor pool ------------------------------> OUT/_sources/<key>.pt
    rows -> CoeffActor pool (one row -> its segments, streamed) -> RenderActor pool (GPU / fractional)
         -> encode tasks (CPU, H.264 part per segment -> OUT/_parts/) -> join task per row
         -> OUT/<output>.mp4 (+ content hash in its metadata) ; OUT/_results/<run>.parquet
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import asdict, dataclass

import ray

import storage
from distributed.faults import actor_stage, lost_reason, tolerate_lost_blocks
from distributed.render.config import RenderBatchConfig
from distributed.render.plan import Planner, Task
from distributed.render.udfs import CoeffActor, RenderActor, SourceActor, encode_segments, join_row
from distributed.runtime import init_ray
from storage.schemas import RENDER_RESULTS_SCHEMA, to_table

log = logging.getLogger(__name__)
FPS = 25


@dataclass
class RenderSummary:
    """What one run did (also printed by ``jobs.render``)."""

    rows: int = 0
    rendered: int = 0
    skipped: int = 0
    invalid: int = 0
    failed: int = 0
    frames: int = 0
    seconds: float = 0.0
    frames_per_s: float = 0.0
    results: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _result(line: int, row_id: str | None, status: str, **values) -> dict:
    row = dict.fromkeys(RENDER_RESULTS_SCHEMA.names)
    row.update(line=line, id=row_id, status=status, **values)
    return row


def _actor_args(
    config: RenderBatchConfig, size: int, num_cpus: float, num_gpus: float, last_pass: bool = False
) -> dict:
    return {
        "fn_constructor_args": (config,),
        "batch_size": 1,
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        **actor_stage(size, size, config.max_retries, last_pass),  # Ray Data's default retries forever
    }


def prepare_sources(config: RenderBatchConfig, tasks: list[Task]) -> dict[str, dict]:
    """Run the source stage once per distinct source key; key -> {source_s, error}."""
    distinct = {}
    for task in tasks:
        req = task.request
        distinct.setdefault(task.source_key, {"source_key": task.source_key, "image": req.image,
                                              "size": req.size, "preprocess": req.preprocess})  # fmt: skip
    ds = ray.data.from_items(list(distinct.values()), override_num_blocks=len(distinct))
    ds = tolerate_lost_blocks(ds)
    ds = ds.map_batches(SourceActor, **_actor_args(config, config.source_actors, 1, config.prep_num_gpus))
    prepared = {row["source_key"]: row for row in ds.iter_rows()}
    for key, source in distinct.items():  # the worker died on every attempt at this image
        lost = {**source, "source_s": 0.0, "error": lost_reason(source["image"], config.max_retries)}
        prepared.setdefault(key, lost)
    return prepared


def segments_dataset(
    config: RenderBatchConfig, tasks: list[Task], one_per_block: bool = False
) -> ray.data.Dataset:
    """rows -> coefficients (one row per segment) -> frames -> encoded parts.

    A task whose worker died is retried ``config.max_retries`` times, then its block is dropped: the caller
    finds the row's segments missing. ``one_per_block`` (the last pass) gives every row a block of its own
    and every actor one task at a time.
    """
    blocks = len(tasks) if one_per_block else min(len(tasks), 200)
    ds = tolerate_lost_blocks(ray.data.from_items([t.as_row() for t in tasks], override_num_blocks=blocks))
    # Every yielded row is a block of its own: a clip's segments leave the coefficient actor as each is
    # ready (not when the clip is done) and spread over the render actors instead of travelling together.
    ds.context.target_max_block_size = 1
    coeffs = _actor_args(config, config.coeff_actors, 1, config.prep_num_gpus, one_per_block)
    ds = ds.map_batches(CoeffActor, **coeffs)
    render = _actor_args(config, config.render_actors, config.num_cpus_per_actor, config.num_gpus_per_actor,
                         one_per_block)  # fmt: skip
    ds = ds.map_batches(RenderActor, **render)
    return ds.map_batches(encode_segments, fn_kwargs={"config": config}, batch_size=1, num_cpus=1,
                          max_retries=config.max_retries)  # fmt: skip


class Progress:
    """Logs rows done / total and frames/s as segments arrive."""

    def __init__(self, total: int) -> None:
        self.total, self.rows, self.frames, self.start = total, 0, 0, time.perf_counter()

    def segment(self, frames: int) -> None:
        self.frames += frames
        self.log()

    def row(self) -> None:
        self.rows += 1
        self.log()

    def log(self) -> None:
        rate = self.frames / max(time.perf_counter() - self.start, 1e-9)
        log.info("render-batch: rows %d/%d done, %d frames rendered, %.1f frames/s",
                 self.rows, self.total, self.frames, rate)  # fmt: skip


def render_tasks(
    config: RenderBatchConfig, tasks: list[Task], sources: dict[str, dict], one_per_block: bool = False
) -> list[dict]:
    """Results of rendering ``tasks`` (sources prepared); segments stream, rows join as they complete.

    Rows a dead worker took along (see :func:`segments_dataset`) have no result."""
    by_line = {t.line: t for t in tasks}
    progress = Progress(len(tasks))
    stats: dict[int, dict] = defaultdict(lambda: {"coeffs_s": 0.0, "render_s": 0.0, "encode_s": 0.0})
    parts: dict[int, dict[int, str]] = defaultdict(dict)
    errors: dict[int, str] = {}
    joins: dict[ray.ObjectRef, Task] = {}
    join = ray.remote(num_cpus=1, max_retries=config.max_retries)(join_row)
    results = []

    def finish(task: Task, status: str, **values) -> None:
        source_s = sources[task.source_key]["source_s"]
        results.append(_result(task.line, task.id, status, output_uri=task.output_uri,
                               content_hash=task.content_hash, source_s=source_s,
                               **stats[task.line], **values))  # fmt: skip
        progress.row()

    seen: dict[int, int] = defaultdict(int)
    for seg in segments_dataset(config, tasks, one_per_block).iter_rows():
        key = seg["line"]
        seen[key] += 1
        for name in ("coeffs_s", "render_s", "encode_s"):
            stats[key][name] += seg[name]
        if seg["error"]:
            errors.setdefault(key, seg["error"])
        else:
            parts[key][seg["segment"]] = seg["part_uri"]
            progress.segment(0 if seg["done"] else seg["frames"])
        if seen[key] < seg["segments"]:
            continue  # more segments of this row to come
        task = by_line[key]
        if key in errors:
            finish(task, "error", error=errors[key])
            continue
        ordered = [parts[key][i] for i in range(seg["segments"])]
        joins[join.remote(seg["request"], task.output_uri, task.content_hash, ordered, config)] = task
    while joins:
        ready, _ = ray.wait(list(joins), num_returns=1)
        task = joins.pop(ready[0])
        try:
            done = ray.get(ready[0])
        except Exception as err:
            finish(task, "error", error=f"join: {type(err).__name__}: {err}")
            continue
        finish(
            task, "rendered", frames=done["frames"], duration_s=done["frames"] / FPS, join_s=done["join_s"]
        )
    return results


def run_render(config: RenderBatchConfig) -> RenderSummary:
    """Render every valid, not yet rendered row of ``config.manifest`` into ``config.out``."""
    start = time.time()
    plan = Planner(config).plan()  # every row validated before any model loads
    results = [_result(bad.line, bad.id, "invalid", error=bad.reason) for bad in plan.invalid]
    for bad in plan.invalid:
        log.warning("render-batch: manifest line %d: %s", bad.line, bad.reason)
    for task in (t for t in plan.tasks if t.skip):
        frames = task.existing_frames
        results.append(_result(task.line, task.id, "skipped", output_uri=task.output_uri, frames=frames,
                               duration_s=None if frames is None else frames / FPS,
                               content_hash=task.content_hash))  # fmt: skip
    todo = [t for t in plan.tasks if not t.skip]
    if todo:
        init_ray()
        ctx = ray.data.DataContext.get_current()
        ctx.execution_no_progress_timeout_s = max(ctx.execution_no_progress_timeout_s or 0, 600)
        sources = prepare_sources(config, todo)
        for task in todo:
            source = sources[task.source_key]
            if source["error"]:
                results.append(_result(task.line, task.id, "error", output_uri=task.output_uri,
                                       content_hash=task.content_hash, error=source["error"],
                                       source_s=source["source_s"]))  # fmt: skip
        ready = [t for t in todo if not sources[t.source_key]["error"]]
        for last_pass in (False, True):  # the last pass runs rows a dead worker took along, one per block
            if ready:
                results += render_tasks(config, ready, sources, one_per_block=last_pass)
                ended = {row["line"] for row in results}
                ready = [t for t in ready if t.line not in ended]
        for task in ready:  # poison rows: the worker died on every attempt
            error = lost_reason(f"manifest line {task.line} ({task.id})", config.max_retries)
            results.append(_result(task.line, task.id, "error", output_uri=task.output_uri,
                                   content_hash=task.content_hash, error=error))  # fmt: skip
    results.sort(key=lambda r: r["line"])
    summary = RenderSummary(rows=len(plan.tasks) + len(plan.invalid), invalid=len(plan.invalid))
    for row in results:
        summary.rendered += row["status"] == "rendered"
        summary.skipped += row["status"] == "skipped"
        summary.failed += row["status"] == "error"
        summary.frames += (row["frames"] or 0) if row["status"] == "rendered" else 0
    summary.seconds = round(time.time() - start, 2)
    summary.frames_per_s = round(summary.frames / max(summary.seconds, 1e-9), 2)
    run = time.strftime("%Y%m%dT%H%M%S", time.gmtime(start))
    summary.results = config.results or storage.join(config.out, "_results", f"{run}.parquet")
    storage.write_table_atomic(to_table(results, RENDER_RESULTS_SCHEMA), summary.results)
    return summary
