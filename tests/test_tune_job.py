"""The head-search job on real local Ray: ASHA + Optuna on a planted task, resume, export, inputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from distributed.tune import HeadSearchConfig, run_search
from distributed.tune.data import load_pairs
from distributed.tune.planted import planted_pairs
from jobs import tune as tune_job
from storage.schemas import HEAD_PAIRS_SCHEMA, from_table, to_table
from storage.tables import write_table_atomic
from talkingface.emotion.apply import predict
from talkingface.emotion.checkpoint import load_head
from talkingface.emotion.windows import sliding_windows

REPO = Path(__file__).resolve().parents[1]
SEARCH = {
    "max_epochs": 4,
    "grace_period": 1,
    "reduction_factor": 2,
    "lr_min": 3e-3,
    "lr_max": 2e-2,
    "widths": (32, 64),
}


@pytest.fixture(scope="module")
def pairs_uri(tmp_path_factory) -> str:
    uri = str(tmp_path_factory.mktemp("pairs") / "pairs.parquet")
    write_table_atomic(planted_pairs(n_actors=10, clips_per_actor=6, n_frames=40), uri)
    return uri


def test_load_pairs_skips_bad_clips_and_cuts_inference_windows(tmp_path):
    rows = from_table(planted_pairs(n_actors=4, clips_per_actor=2, n_frames=7))
    rows[0]["source_exp"] = rows[0]["source_exp"].copy()
    rows[0]["source_exp"][3, 5] = np.nan
    rows[1]["emotion"] = "bored"
    uri = str(tmp_path / "pairs.parquet")
    write_table_atomic(to_table(rows, HEAD_PAIRS_SCHEMA), uri)
    loaded = load_pairs(uri, 0.25, 0.25)
    assert set(loaded.skipped) == {rows[0]["clip_id"], rows[1]["clip_id"]}
    assert "NaN" in loaded.skipped[rows[0]["clip_id"]] and "bored" in loaded.skipped[rows[1]["clip_id"]]
    pairs = loaded.pairs
    by_split = {s: {pairs.actors[i] for i in pairs.clips(s)} for s in ("train", "val", "test")}
    assert all(
        by_split[a].isdisjoint(by_split[b]) for a, b in [("train", "val"), ("train", "test"), ("val", "test")]
    )
    windows = pairs.windows("train", 5)
    expected = torch.cat(
        [
            sliding_windows(torch.from_numpy(r["source_exp"]), 5)
            for r in rows
            if r["clip_id"] in {pairs.clip_ids[i] for i in pairs.clips("train")}
        ]
    )
    assert torch.equal(windows.windows, expected)


def test_config_problems_stop_before_any_work(capsys):
    with pytest.raises(SystemExit) as stop:
        tune_job.parse_args(["--pairs", "p", "--features", "f", "--out", "o"])
    assert stop.value.code == 2 and "exactly one of --pairs" in capsys.readouterr().err
    assert tune_job.main(["--pairs", "/nonexistent/pairs", "--out", "o"]) == 2
    assert "--pairs /nonexistent/pairs: no such file" in capsys.readouterr().err


def test_search_beats_baselines_and_exports_a_loadable_head(ray_session, pairs_uri, tmp_path):
    config = HeadSearchConfig(out=str(tmp_path / "out"), pairs=pairs_uri, num_samples=6, **SEARCH)
    summary = run_search(config, pairs_uri)
    assert summary["status"] == "complete", summary
    table = pq.read_table(tmp_path / "out" / "results.parquet").to_pandas()
    assert len(table) == 6 and table["trial_id"].is_unique
    assert (
        (tmp_path / "out" / "results.csv").read_text().splitlines()[0].startswith("trial_id,family,frame_len")
    )
    stopped = table[table["stop_reason"] == "asha"]
    assert len(stopped) >= 1 and (stopped["epochs"] < config.max_epochs).all()
    assert set(table["stop_reason"]) <= {"asha", "max_epochs"}
    best, baselines = summary["best"], summary["baselines"]
    assert best["test_loss"] < baselines["ridge"]["test_loss"] < baselines["identity"]["test_loss"] * 1.01
    assert (
        best["test_loss"] < 0.5 * baselines["identity"]["test_loss"]
    )  # the planted non-linearity was learnt
    png = (tmp_path / "out" / "search.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000

    head = load_head(tmp_path / "out" / "best_head")
    assert head.config.frame_len == best["params"]["frame_len"]
    exp = torch.from_numpy(from_table(planted_pairs(1, 1, 12))[0]["source_exp"])
    assert predict(head, exp, "happy", 0.5).shape == (12, 64)

    again = run_search(config, pairs_uri)  # a finished search restored: nothing runs again
    assert again["best"] == best
    assert pq.read_table(tmp_path / "out" / "results.parquet").to_pandas().equals(table)


def _trial_iterations(experiment: Path) -> dict[str, list[int]]:
    """Trial directory -> the training_iteration of every result it logged."""
    return {
        d.name: [
            json.loads(line)["training_iteration"] for line in (d / "result.json").read_text().splitlines()
        ]
        for d in experiment.glob("head_trial_*")
        if (d / "result.json").is_file()
    }


def test_interrupted_search_resumes_without_rerunning_finished_trials(ray_context, pairs_uri, tmp_path):
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "jobs.tune",
        "--pairs",
        pairs_uri,
        "--out",
        str(out),
        "--num-samples",
        "4",
        "--widths",
        "32",
        "64",
        "--max-concurrent-trials",
        "1",
        "--max-epochs",
        "2",
        "--grace-period",
        "2",
    ]
    env = os.environ | {"RAY_ADDRESS": ray_context.address_info["address"]}
    experiment = out / "_tune" / "head_search"
    job = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 180
    while (
        len(list(experiment.glob("head_trial_*"))) < 2 and job.poll() is None and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    job.send_signal(signal.SIGTERM)  # what `ray job stop` sends
    log, _ = job.communicate(timeout=120)
    assert job.returncode == 1 and "interrupted; rerun the same command" in log, log[-3000:]
    first = _trial_iterations(experiment)
    finished = {name: its for name, its in first.items() if its == [1, 2]}
    assert 1 <= len(finished) < 4 and not (out / "results.parquet").exists()

    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    second = _trial_iterations(experiment)
    assert len(second) == 4
    assert all(second[name] == its for name, its in finished.items())  # not run again
    # every trial ran to the end; the one cut mid-epoch continued from its last saved state
    assert all(its[-1] == 2 for its in second.values()), second
    table = pq.read_table(out / "results.parquet").to_pandas()
    assert len(table) == 4 and (table["epochs"] == 2).all()
