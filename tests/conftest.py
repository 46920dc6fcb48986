"""Shared fixtures: the SadTalker oracle, a real S3 server (moto) on 127.0.0.1, one local Ray session.

Environment for Ray and AWS is set at import time, before any Ray process starts, so that every
worker inherits it (ray.md: token auth, PYTHONPATH for UDF pickling, usage stats, progress bars).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ORACLE = Path(os.environ.get("TALKINGFACE_ORACLE_DIR", REPO.parent / "shared" / "oracle"))

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
# As distributed.runtime.WORKER_RUNTIME_ENV sets for a job: idle OpenMP threads sleep (2 shared cores).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
# As in an activated venv: `python` in Ray job entrypoints is this interpreter.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
for key, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}.items():
    os.environ.setdefault(key, value)


@pytest.fixture(scope="session")
def oracle_dir() -> Path:
    """The oracle folder (``../shared/oracle`` or ``$TALKINGFACE_ORACLE_DIR``)."""
    if not (ORACLE / "golden_A.safetensors").is_file():
        pytest.skip(f"SadTalker oracle not found at {ORACLE}")
    return ORACLE


@pytest.fixture(scope="session")
def golden(oracle_dir):
    """Golden set A (tensors, json, manifest, weight rule) of the oracle."""
    from talkingface.parity.golden import GoldenSet

    return GoldenSet.load(oracle_dir / "golden_A.safetensors")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """A moto S3 server on 127.0.0.1; ``AWS_ENDPOINT_URL`` points at it for the whole session."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    yield endpoint
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint, request) -> str:
    """A fresh, empty bucket for one test; returns its name."""
    import boto3

    name = "tf-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=name)
    yield name
    objects = client.list_objects_v2(Bucket=name).get("Contents", [])
    for obj in objects:
        client.delete_object(Bucket=name, Key=obj["Key"])


@pytest.fixture(scope="session")
def ray_context(s3_endpoint):
    """One local Ray instance for the session (4 logical CPUs on 2 cores avoids Data deadlocks).

    Started after the S3 server so every Ray worker inherits ``AWS_ENDPOINT_URL``; the dashboard (and
    with it the Jobs API) is on, at ``context.dashboard_url``.
    """
    import ray
    from ray.data import DataContext

    from distributed.runtime import configure_data_context

    configure_data_context()
    context = ray.init(
        address="local", num_cpus=4, log_to_driver=False, include_dashboard=True, configure_logging=False
    )
    DataContext.get_current().execution_no_progress_timeout_s = 180
    yield context
    ray.shutdown()


@pytest.fixture(scope="session")
def ray_session(ray_context):
    """The ``ray`` module, initialised once for the session (see ``ray_context``)."""
    import ray

    return ray


@pytest.fixture(scope="session")
def espeak_wav(tmp_path_factory) -> Path:
    """A short 16 kHz mono speech wav spoken by espeak-ng (installed by .ci/run)."""
    if not shutil.which("espeak-ng"):
        pytest.fail("espeak-ng is not installed (run .ci/run or apt-get install espeak-ng sox)")
    out = tmp_path_factory.mktemp("speech") / "hello.wav"
    raw = out.with_name("raw.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw), "Hello there, this is a test."], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out)], check=True)
    return out
