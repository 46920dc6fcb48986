"""The S3 server goes away during writes and comes back (a relay in front of the moto server is taken
down: refused connections, requests cut mid-way): writes are retried and complete, or the clip is
reported failed with the reason, and a rerun completes it; nothing half-written is ever visible."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from flaky_endpoint import FlakyEndpoint

import storage
from talkingface.synth import make_corpus

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def flaky(s3_endpoint):
    endpoint = FlakyEndpoint(("127.0.0.1", urlsplit(s3_endpoint).port))
    endpoint.up()
    yield endpoint
    endpoint.down()


def _keys(bucket: str, prefix: str) -> list[str]:
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def test_writes_ride_out_a_short_outage(flaky, s3_bucket, monkeypatch):
    """A 3 s outage in the middle of 12 uploads: the retries with backoff (10 attempts) complete each one."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", flaky.url)
    outage = threading.Timer(0.3, lambda: (flaky.down(), time.sleep(3), flaky.up()))
    outage.start()
    payload = os.urandom(256 * 1024)
    for i in range(12):
        storage.write_bytes_atomic(f"s3://{s3_bucket}/short/{i:02d}.bin", payload)
        time.sleep(0.15)
    outage.join()
    monkeypatch.undo()  # the S3 server itself again
    assert _keys(s3_bucket, "short/") == [f"short/{i:02d}.bin" for i in range(12)]
    body = boto3.client("s3").get_object(Bucket=s3_bucket, Key="short/05.bin")["Body"].read()
    assert body == payload


def test_extraction_through_a_long_outage_reports_then_a_rerun_completes(flaky, s3_bucket, tmp_path):
    """S3 down for 25 s once the first clip is committed: commits in that window fail (retries spent)
    and are reported, the job exits non-zero; the rerun commits exactly the missing clips."""
    corpus = tmp_path / "corpus"
    make_corpus(corpus, n_clips_per_dataset=2, seconds=0.6, seed=2)
    out = f"s3://{s3_bucket}/features"
    env = {**os.environ, "AWS_ENDPOINT_URL": flaky.url, "PYTHONPATH": str(REPO)}
    env["TALKINGFACE_S3_MAX_ATTEMPTS"] = "3"  # give up within seconds, well inside the outage
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-m", "jobs.extract", "--corpus", str(corpus), "--out", out]
    cmd += ["--stand-in-weights", "--batch-size", "8"]

    def outage() -> None:
        while not _keys(s3_bucket, "features/clips/"):
            time.sleep(0.2)
        flaky.down()
        time.sleep(25)
        flaky.up()

    watcher = threading.Thread(target=outage, daemon=True)
    watcher.start()
    first = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    watcher.join(timeout=60)
    committed = [k for k in _keys(s3_bucket, "features/clips/") if k.endswith(".parquet")]
    assert 1 <= len(committed) < 4, (committed, first.stdout[-3000:], first.stderr[-3000:])
    assert first.returncode == 1, first.stderr[-3000:]  # infrastructure failure, not bad clips
    summary = json.loads(first.stdout[first.stdout.index("{") :])
    assert summary["failed_infrastructure"] == 4 - len(committed), summary
    assert all("commit" in reason for reason in summary["errors"].values())

    again = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = json.loads(again.stdout[again.stdout.index("{") :])
    assert (rerun["processed"], rerun["skipped_done"]) == (4 - len(committed), len(committed)), rerun
    betas = storage.read_table(storage.join(out, "betas"), storage.BETAS_SCHEMA)
    assert sorted(betas.column("clip_id").to_pylist()) == sorted({*betas.column("clip_id").to_pylist()})
    assert betas.num_rows == 4 and not _keys(s3_bucket, "features/errors/")
