"""The head search: Tuner (ASHA + Optuna TPE) over head families and hyper-parameters, resumable.

``run_search`` reads the pairs once, fits the baselines, runs (or restores) the Tune experiment under
``OUT/_tune/<name>`` and, once every trial has ended, writes the results table, the plot, the best
head and ``summary.json`` under ``OUT``.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import asdict
from pathlib import Path

from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from distributed.train.splits import SPLITS
from distributed.tune.baselines import fit_baselines
from distributed.tune.config import HeadSearchConfig
from distributed.tune.data import load_pairs
from distributed.tune.plot import plot_search
from distributed.tune.results import FINISHED, results_table, trial_id, trial_rows, trial_statuses
from distributed.tune.space import param_space
from distributed.tune.trainable import METRIC, TrialSettings, head_trial
from storage.filesystem import arrow_filesystem
from storage.objects import atomic_output, put_file_atomic, write_bytes_atomic
from storage.tables import write_table_atomic
from storage.uri import join
from talkingface.emotion.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_head
from talkingface.emotion.train import EVAL_BATCH, head_loss, mean_loss

RESULTS_PARQUET, RESULTS_CSV, PLOT, BEST_HEAD, SUMMARY = (
    "results.parquet",
    "results.csv",
    "search.png",
    "best_head",
    "summary.json",
)


def make_tuner(config: HeadSearchConfig, trainable, storage_fs, storage_root: str) -> tune.Tuner:
    """A fresh Tuner, or the saved experiment of the same name restored (finished trials stay finished)."""
    experiment = f"{storage_root}/{config.name}"
    if tune.Tuner.can_restore(experiment, storage_filesystem=storage_fs):
        return tune.Tuner.restore(
            experiment, trainable, resume_unfinished=True, resume_errored=True, storage_filesystem=storage_fs
        )
    return tune.Tuner(
        trainable,
        param_space=param_space(config),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="min",
            num_samples=config.num_samples,
            scheduler=ASHAScheduler(
                max_t=config.max_epochs,
                grace_period=config.grace_period,
                reduction_factor=config.reduction_factor,
            ),
            search_alg=OptunaSearch(seed=config.seed),
            max_concurrent_trials=config.max_concurrent_trials,
            time_budget_s=config.time_budget_s,
            reuse_actors=True,  # one worker process serves many trials (no torch import per trial)
        ),
        run_config=tune.RunConfig(
            name=config.name,
            storage_path=storage_root,
            storage_filesystem=storage_fs,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),  # the latest: resume and export
            failure_config=tune.FailureConfig(max_failures=1),
            verbose=1,
        ),
    )


def export_head(checkpoint_dir: Path, out: str) -> str:
    """Copy the head files of a trial checkpoint to ``OUT/best_head`` (weights first, config last)."""
    target = join(out, BEST_HEAD)
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        put_file_atomic(checkpoint_dir / name, join(target, name))
    return target


def run_search(config: HeadSearchConfig, pairs_uri: str) -> dict:
    """Run or resume the search on the head_pairs table ``pairs_uri``; returns the summary."""
    loaded = load_pairs(pairs_uri, config.val_fraction, config.test_fraction, config.seed)
    pairs = loaded.pairs
    test_split = "test" if config.test_fraction > 0 else "val"
    baselines = fit_baselines(pairs, range(config.frame_len_min, config.frame_len_max + 1), test_split)
    settings = TrialSettings(
        config.max_epochs, config.seed, max(1, int(config.cpus_per_trial)), config.gpus_per_trial > 0
    )
    resources = {"cpu": config.cpus_per_trial} | (
        {"gpu": config.gpus_per_trial} if config.gpus_per_trial else {}
    )
    trainable = tune.with_resources(
        tune.with_parameters(head_trial, data=pairs, settings=settings), resources
    )
    storage_fs, storage_root = arrow_filesystem(join(config.out, "_tune"))
    grid = make_tuner(config, trainable, storage_fs, storage_root).fit()

    statuses = trial_statuses(grid)
    summary = {
        "pairs": pairs_uri,
        "experiment": grid.experiment_path,
        "clips": {s: len(pairs.clips(s)) for s in SPLITS},
        "frames": {s: pairs.frames(s) for s in SPLITS},
        "skipped_clips": loaded.skipped,
        "trials": len(statuses),
        "baselines": baselines.as_dict(),
    }
    unfinished = sorted(t for t, s in statuses.items() if s not in FINISHED)
    if unfinished or (len(statuses) < config.num_samples and config.time_budget_s is None):
        return summary | {"status": "interrupted", "unfinished_trials": unfinished}

    rows = trial_rows(grid, statuses, config)
    table = results_table(rows)
    write_table_atomic(table, join(config.out, RESULTS_PARQUET))
    write_bytes_atomic(join(config.out, RESULTS_CSV), table.to_pandas().to_csv(index=False).encode())
    histories = {trial_id(r): r.metrics_dataframe for r in grid if r.metrics_dataframe is not None}
    families = {trial_id(r): r.config["family"] for r in grid}
    with atomic_output(join(config.out, PLOT)) as png:
        plot_search(
            histories,
            families,
            {
                "identity": baselines.identity_val,
                f"ridge (L={baselines.ridge_frame_len})": baselines.ridge_val,
            },
            png,
        )

    ranked = [
        r for r in grid if r.checkpoint is not None and math.isfinite((r.metrics or {}).get(METRIC, math.nan))
    ]
    if not ranked:
        return summary | {"status": "failed", "reason": "no trial reported a validation loss"}
    best = min(ranked, key=lambda r: r.metrics[METRIC])
    with tempfile.TemporaryDirectory(prefix="best-head-") as tmp:
        directory = Path(best.checkpoint.to_directory(tmp))
        head = load_head(directory)
        test = pairs.windows(test_split, head.config.frame_len)
        test_loss = mean_loss(head, test.batches(EVAL_BATCH), head_loss)
        head_uri = export_head(directory, config.out)
    summary |= {
        "status": "complete",
        "stopped_early": sum(r["stop_reason"] != "max_epochs" for r in rows),
        "best": {
            "trial_id": trial_id(best),
            "params": {k: best.config[k] for k in sorted(best.config)},
            "head_config": asdict(head.config),
            "val_loss": best.metrics[METRIC],
            "test_loss": test_loss,
            "epochs": best.metrics.get("epoch"),
            "beats_identity": test_loss < baselines.identity_test,
            "beats_ridge": test_loss < baselines.ridge_test,
        },
        "test_split": test_split,
        "outputs": {
            "results": [join(config.out, RESULTS_PARQUET), join(config.out, RESULTS_CSV)],
            "plot": join(config.out, PLOT),
            "best_head": head_uri,
        },
    }
    write_bytes_atomic(
        join(config.out, SUMMARY), (json.dumps(summary, indent=1, default=str) + "\n").encode()
    )
    return summary
