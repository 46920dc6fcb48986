"""The results table of a search: one row per trial (parameters, metrics, epochs run, why it stopped)."""

from __future__ import annotations

import math

import pandas as pd
import pyarrow as pa
from ray.tune import ExperimentAnalysis, Result, ResultGrid

from distributed.tune.config import HeadSearchConfig
from distributed.tune.trainable import METRIC

PARAMS = (
    "family",
    "frame_len",
    "width",
    "depth",
    "n_head",
    "lr",
    "weight_decay",
    "dropout",
    "emb_dim",
    "batch_size",
)


FINISHED = ("TERMINATED", "ERROR")  # Tune trial statuses of ended trials (not PENDING / PAUSED / RUNNING)


def trial_statuses(grid: ResultGrid) -> dict[str, str]:
    """Trial id -> Tune status, read back from the experiment state the search saved."""
    analysis = ExperimentAnalysis(grid.experiment_path, storage_filesystem=grid.filesystem)
    return {trial.trial_id: trial.status for trial in analysis.trials}


def asha_rungs(config: HeadSearchConfig) -> set[int]:
    """The epochs at which ASHA may stop a trial: grace_period * reduction_factor**k below max_epochs."""
    rungs, t = set(), config.grace_period
    while t < config.max_epochs:
        rungs.add(t)
        t *= config.reduction_factor
    return rungs


def stop_reason(result: Result, status: str, epochs: int, config: HeadSearchConfig) -> str:
    """``max_epochs`` / ``asha`` (stopped at a rung) / ``time_budget`` / ``error: ...`` / ``unfinished``."""
    if result.error is not None:
        return f"error: {type(result.error).__name__}: {str(result.error).splitlines()[0][:200]}"
    if status not in FINISHED:
        return "unfinished"
    if epochs >= config.max_epochs:
        return "max_epochs"
    return "asha" if epochs in asha_rungs(config) else "time_budget"


def trial_id(result: Result) -> str:
    return (result.metrics or {}).get("trial_id") or result.path.rsplit("/", 1)[-1]


def trial_rows(grid: ResultGrid, statuses: dict[str, str], config: HeadSearchConfig) -> list[dict]:
    """One dict per trial, in trial-id order."""
    rows = []
    for result in grid:
        metrics = result.metrics or {}
        history = result.metrics_dataframe
        losses = history[METRIC].dropna() if history is not None and METRIC in history else pd.Series([])
        epochs = int(metrics.get("epoch", 0))
        row = {"trial_id": trial_id(result)}
        row |= {name: result.config.get(name) for name in PARAMS}
        row |= {
            "val_loss": metrics.get(METRIC, math.nan),
            "best_val_loss": float(losses.min()) if len(losses) else math.nan,
            "train_loss": metrics.get("train_loss", math.nan),
            "epochs": epochs,
            "stop_reason": stop_reason(result, statuses.get(row["trial_id"], "PENDING"), epochs, config),
            "time_total_s": metrics.get("time_total_s", math.nan),
        }
        rows.append(row)
    return sorted(rows, key=lambda r: r["trial_id"])


def results_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
