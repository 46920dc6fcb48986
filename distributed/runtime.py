"""Connecting a job to Ray: the cluster of ``RAY_ADDRESS`` when submitted, else a local instance."""

from __future__ import annotations

import os

import ray
import ray.data

from storage.redact import install_log_redaction

# Every worker of the job masks credentials in its log records, as the driver does. Idle OpenMP threads
# sleep instead of spinning: with tasks and actors sharing cores, spinning torch threads slowed a 2-thread
# recon actor 4x (benchmarks/extract_speed.py). Set for the whole job, not per stage, so that a worker
# process can serve several stages instead of each stage starting its own.
WORKER_RUNTIME_ENV = {
    "worker_process_setup_hook": "storage.redact.install_log_redaction",
    "env_vars": {"OMP_WAIT_POLICY": "PASSIVE"},
}


def configure_data_context() -> None:
    """Ray Data settings of every job: Parquet reads through Ray Data's V1 datasource.

    The V2 datasource (Ray's default) lists files with a pool of 32 ``FooterReader`` actors per read, each a
    new worker process: reading 8 per-clip files took a median 12.3 s (24 processes started for 3 reads)
    instead of 0.5 s on 2 cores (``benchmarks/parquet_read.py``), and a training run makes several reads.
    """
    ray.data.DataContext.get_current().use_datasource_v2 = False


def init_ray(num_cpus: int | None = None) -> None:
    """``ray.init`` once: joins ``RAY_ADDRESS`` (set by ``ray job submit``) or starts a local Ray.

    A local instance gets twice the cores as logical CPUs (actor pools then never starve Ray Data's
    tasks on small machines) and keeps token auth as configured by ``RAY_AUTH_MODE``.
    """
    install_log_redaction()
    configure_data_context()
    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=True, runtime_env=WORKER_RUNTIME_ENV)
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        address="local",  # never silently join another cluster found on this machine
        num_cpus=num_cpus or 2 * (os.cpu_count() or 1),
        include_dashboard=False,
        runtime_env=WORKER_RUNTIME_ENV,
    )
