"""Run the extraction job on a 3-node ``ray.cluster_utils.Cluster`` and print where each stage ran.

Used by ``tests/test_cluster_e2e.py`` in its own process (a Cluster cannot share a process with the
test session's Ray). Prints one JSON line: the job summary's counts, the node ids of each stage and,
with ``--remove-node``, the worker node removed mid-job (once the first clip is committed) and the
clips committed before that.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from pathlib import Path

import ray
from ray.cluster_utils import Cluster
from ray.util.state import list_actors, list_tasks

from distributed.extract.config import ExtractConfig
from distributed.extract.layout import clip_files
from distributed.extract.pipeline import run_extract

POLL_S = 0.2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def committed_clips(out: str) -> list[str]:
    """Committed clip ids, as the jobs list them (a killed writer's hidden staging file is not one)."""
    return sorted(clip_files(str(Path(out, "clips"))))


def remove_after_first_commit(cluster: Cluster, node, out: str, removed: dict) -> None:
    """Remove ``node`` from ``cluster`` as soon as one clip is committed (the job is mid-way)."""
    while not (done := committed_clips(out)):
        time.sleep(POLL_S)
    removed.update(node=node.node_id, committed_before=done)
    cluster.remove_node(node, allow_graceful=False)


def main(corpus: str, out: str, remove_node: bool = False) -> None:
    # The head takes no work (0 CPUs), so every stage must run on the two worker nodes.
    head = {"num_cpus": 0, "include_dashboard": True, "dashboard_port": free_port()}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    workers = [cluster.add_node(num_cpus=3) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    removed: dict = {}
    if remove_node:
        args = (cluster, workers[0], out, removed)
        threading.Thread(target=remove_after_first_commit, args=args, daemon=True).start()
    try:
        summary = run_extract(
            ExtractConfig(corpus=corpus, out=out, stand_in_weights=True, concurrency=2, batch_size=8)
        )
        time.sleep(3)  # let the state API see the finished tasks
        tasks = list_tasks(cluster.address, limit=10_000, detail=True, raise_on_missing_output=False)
        actors = list_actors(cluster.address, limit=10_000, detail=True, raise_on_missing_output=False)
        stages = {
            "decode": sorted({t.node_id for t in tasks if "decode_clips" in t.name and t.node_id}),
            "recon": sorted(
                {a.node_id for a in actors if "ReconActor" in (a.class_name or "") and a.node_id}
            ),
        }
        print(
            json.dumps(
                {
                    "succeeded": summary.succeeded,
                    "failed": summary.failed + summary.failed_infrastructure,
                    "committed": committed_clips(out),
                    "removed": removed,
                    "head_node": cluster.head_node.node_id,
                    "worker_nodes": [w.node_id for w in workers],
                    "stages": stages,
                }
            )
        )
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], remove_node="--remove-node" in sys.argv[3:])
