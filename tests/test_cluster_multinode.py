"""A multi-node run as on a cluster: ``ray.cluster_utils.Cluster`` (a head and two worker nodes, in its own
process: tests/multinode_run.py) whose stages spread over the nodes, one of them removed mid-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import storage
from talkingface.synth import make_corpus

REPO = Path(__file__).resolve().parents[1]


def test_stages_spread_over_the_nodes_and_a_removed_node_loses_nothing(tmp_path):
    """A head and two worker nodes (`ray.cluster_utils.Cluster`, own process): extraction's decode tasks
    and recon actors run on the worker nodes; one worker node is removed (killed) once the first clip is
    committed, and its work is redone on the other: every clip committed exactly once, no error row."""
    corpus = tmp_path / "corpus"
    make_corpus(corpus, n_clips_per_dataset=4, seconds=1.0, seed=0)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "multinode_run.py"), str(corpus), str(out), "--remove-node"],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["succeeded"] == 8 and report["failed"] == 0, report
    workers = set(report["worker_nodes"])
    assert len(workers) == 2 and report["head_node"] not in workers
    decode_nodes, recon_nodes = set(report["stages"]["decode"]), set(report["stages"]["recon"])
    assert decode_nodes <= workers and recon_nodes <= workers  # the head has no CPUs for work
    assert len(decode_nodes | recon_nodes) == 2, report  # both worker nodes did work
    removed = report["removed"]
    assert removed["node"] in workers and 1 <= len(removed["committed_before"]) < 8, report
    assert len(report["committed"]) == len(set(report["committed"])) == 8  # each clip once
    assert not list(out.glob("errors/*.parquet"))
    betas = storage.read_table(str(out / "betas"), storage.BETAS_SCHEMA)  # staging files of a killed
    assert sorted(betas.column("clip_id").to_pylist()) == report["committed"]  # writer are not listed
