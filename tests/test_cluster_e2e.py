"""End to end as on a cluster: a real head (`ray start --head`), the S3 server, every job submitted with
`ray job submit --working-dir . -- python -m jobs...` and followed with the Job SDK; and a multi-node run
on `ray.cluster_utils.Cluster` (a head and two worker nodes) whose stages spread over the nodes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

import storage
from talkingface.synth import make_corpus

REPO = Path(__file__).resolve().parents[1]
JOB_TIMEOUT_S = 600


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def ray_head(s3_endpoint):
    """A Ray head started with `ray start --head` on its own ports (beside the session's Ray)."""
    gcs, dashboard, agent, agent_grpc, runtime_env, metrics = free_ports(6)
    # a short path: Ray's socket paths under it must stay within AF_UNIX's 107 bytes (pytest's own temp
    # dirs are longer under xdist)
    temp = Path(tempfile.mkdtemp(prefix="rayhead-", dir="/tmp"))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    start = [
        "ray", "start", "--head", f"--port={gcs}", f"--dashboard-port={dashboard}",
        "--dashboard-host=127.0.0.1", f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={runtime_env}",
        f"--metrics-export-port={metrics}", "--num-cpus=4", "--disable-usage-stats", f"--temp-dir={temp}",
        "--include-dashboard=true",
    ]  # fmt: skip
    # --block: the head's processes belong to this one process, so stopping it stops only this head
    # (`ray stop` would also kill the test session's own Ray).
    head = subprocess.Popen([*start, "--block"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    address = f"http://127.0.0.1:{dashboard}"
    deadline = time.time() + 180
    while not dashboard_up(address):
        assert head.poll() is None, head.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "the Ray head did not come up in 180 s"
        time.sleep(2)
    yield address, env
    head.terminate()
    head.wait(timeout=120)
    shutil.rmtree(temp, ignore_errors=True)


def dashboard_up(address: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{address}/api/version", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def start_job(address: str, env: dict, entrypoint: str) -> str:
    """`ray job submit --no-wait` the entrypoint; its submission id."""
    runtime_env = json.dumps({"excludes": [".venv", ".git", "out", "*.egg-info"]})
    job = f"e2e-{entrypoint.split()[2].removeprefix('jobs.')}-{uuid.uuid4().hex[:8]}"
    deadline = time.time() + JOB_TIMEOUT_S
    while True:  # the job agent answers "No available agent ... try again later" while it starts up
        done = subprocess.run(
            ["ray", "job", "submit", "--address", address, "--working-dir", str(REPO), "--no-wait",
             "--submission-id", job,
             "--runtime-env-json", runtime_env, "--", *entrypoint.split()],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if done.returncode == 0 or "try again later" not in done.stderr + done.stdout:
            break
        assert time.time() < deadline, done.stderr
        time.sleep(3)
    assert done.returncode == 0, done.stderr + done.stdout
    return job


def follow(address: str, job: str) -> tuple[str, str]:
    """Wait for the job to end with the Job SDK; (status, logs)."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(address)
    deadline = time.time() + JOB_TIMEOUT_S
    ended = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}
    while (status := client.get_job_status(job)) not in ended:
        assert time.time() < deadline, client.get_job_logs(job)
        time.sleep(2)
    return str(status), client.get_job_logs(job)


def submit(address: str, env: dict, entrypoint: str) -> tuple[str, str]:
    """Submit the entrypoint and follow it to its end; (status, logs)."""
    return follow(address, start_job(address, env, entrypoint))


def stop_once(address: str, env: dict, entrypoint: str, started: Callable[[], bool]) -> str:
    """Submit, `ray job stop` it as soon as ``started()`` holds, and follow it; its final status."""
    job = start_job(address, env, entrypoint)
    deadline = time.time() + JOB_TIMEOUT_S
    while not started():
        assert time.time() < deadline, "the job never got going"
        time.sleep(0.5)
    stop = ["ray", "job", "stop", "--address", address, job]
    subprocess.run(stop, env=env, capture_output=True, text=True, timeout=180, check=True)
    return follow(address, job)[0]


def keys(bucket: str, prefix: str) -> list[str]:
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def upload_dir(local: Path, bucket: str, prefix: str) -> None:
    client = boto3.client("s3")
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(local).as_posix()}")


def test_every_job_submitted_to_a_real_head_writes_to_s3(ray_head, s3_bucket, tmp_path):
    address, env = ray_head
    corpus = tmp_path / "corpus"
    make_corpus(corpus, n_clips_per_dataset=2, seconds=0.6, seed=0)
    upload_dir(corpus, s3_bucket, "corpus")
    s3 = f"s3://{s3_bucket}"

    extract = f"python -m jobs.extract --corpus {s3}/corpus --out {s3}/features --stand-in-weights"
    clips = lambda: [k for k in keys(s3_bucket, "features/clips/") if k.endswith(".parquet")]  # noqa: E731
    assert stop_once(address, env, extract, started=lambda: bool(clips())) == "STOPPED"
    stopped_with = clips()
    # `ray job stop` mid-run; committed clips stay committed (on a loaded machine the stop can land after
    # the last commit, while the job writes its run log: the rerun must then skip every clip)
    assert 1 <= len(stopped_with) <= 4
    status, logs = submit(address, env, extract)  # the same command again: only the rest is done
    assert status == "SUCCEEDED", logs
    skipped, succeeded = (int(re.search(rf'"{k}": (\d+)', logs)[1]) for k in ("skipped_done", "succeeded"))
    assert skipped >= len(stopped_with) and skipped + succeeded == 4, logs[-3000:]
    assert len(clips()) == 4
    assert len([k for k in keys(s3_bucket, "features/betas/") if k.endswith(".parquet")]) == 4

    status, logs = submit(
        address, env,
        f"python -m jobs.train head --features {s3}/features --out {s3}/head --head linear --epochs 2 "
        "--val-fraction 0.25 --test-fraction 0.25",
    )  # fmt: skip
    assert status == "SUCCEEDED", logs
    assert {"config.json", "model.safetensors", "metrics.json"} <= {k.rsplit("/", 1)[-1] for k in keys(
        s3_bucket, "head/model/")}  # fmt: skip

    status, logs = submit(
        address, env,
        f"python -m jobs.tune --features {s3}/features --out {s3}/tune --num-samples 2 --max-epochs 1 "
        "--grace-period 1 --max-concurrent-trials 1 --families linear mlp --val-fraction 0.25 "
        "--test-fraction 0.25",
    )  # fmt: skip
    assert status == "SUCCEEDED", logs
    tuned = keys(s3_bucket, "tune/")
    assert {"tune/results.parquet", "tune/results.csv", "tune/search.png"} <= set(tuned)
    assert any(k.startswith("tune/best_head/") for k in tuned)

    wav = next(corpus.rglob("*.wav"))
    face = tmp_path / "face.png"
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()[0:300, 100:400]).save(face)
    client = boto3.client("s3")
    client.upload_file(str(wav), s3_bucket, "inputs/voice.wav")
    client.upload_file(str(face), s3_bucket, "inputs/face.png")
    rows = [{"id": f"clip{i}", "audio": f"{s3}/inputs/voice.wav", "image": f"{s3}/inputs/face.png", "seed": i}
            for i in range(2)]  # fmt: skip
    manifest = "".join(json.dumps(row) + "\n" for row in rows).encode()
    client.put_object(Bucket=s3_bucket, Key="inputs/manifest.jsonl", Body=manifest)
    render = (
        f"python -m jobs.render --manifest {s3}/inputs/manifest.jsonl --out {s3}/videos --model-config tiny "
        "--size 128"
    )
    videos = lambda: [k for k in keys(s3_bucket, "videos/clip") if k.endswith(".mp4")]  # noqa: E731
    status, logs = submit(address, env, render)  # (stop-and-rerun is shown above, for extract)
    assert status == "SUCCEEDED", logs
    assert videos() == [f"videos/clip{i}.mp4" for i in range(2)]


def test_stages_spread_over_the_nodes_and_a_removed_node_loses_nothing(tmp_path):
    """A head and two worker nodes (`ray.cluster_utils.Cluster`, own process): extraction's decode tasks
    and recon actors run on the worker nodes; one worker node is removed (killed) once the first clip is
    committed, and its work is redone on the other: every clip committed exactly once, no error row."""
    corpus = tmp_path / "corpus"
    make_corpus(corpus, n_clips_per_dataset=4, seconds=0.6, seed=0)
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
