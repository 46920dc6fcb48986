"""Checks before any clip is touched: every weight file the run needs, and the run's provenance.

A missing file is a :class:`ConfigurationError` with one message naming the file, where it was looked
for and how to provide it. Stand-in (random) SadTalker weights are refused unless asked for.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import storage
from distributed.extract.config import ExtractConfig
from talkingface.face.detect import backend_files, resolve
from talkingface.face.dlib_models import MissingWeightsError, model_sha256
from talkingface.weights.load import CHECKPOINT_SUFFIXES
from talkingface.weights.registry import part

STAND_IN = "stand-in"
PROVENANCE_FILE = "_provenance.json"
# What must agree between runs writing into one output (code version and job config may differ).
IDENTITY_KEYS = ("recon_weights", "detector", "landmarks", "face_models")


class ConfigurationError(RuntimeError):
    """The job cannot run as configured; raised before any clip is processed."""


def recon_weights(config: ExtractConfig) -> str:
    """The recon checkpoint's identity: ``stand-in``, a local file's SHA-256, or the URI of a remote one."""
    if config.weights is None:
        if not config.stand_in_weights:
            raise ConfigurationError(
                "no SadTalker checkpoints given: pass --weights DIR/URI holding "
                f"{part('face_3drecon').entry().file} or {part('face_3drecon').entry(legacy=True).file} "
                "(fetch them with `talkingface models fetch`), or --stand-in-weights to run on seeded "
                "random weights (tests and demos only: the coefficients are not real reconstructions)"
            )
        return STAND_IN
    names = [part("face_3drecon").entry().file, part("face_3drecon").entry(legacy=True).file]
    if _is_local_file(config.weights):
        return _local_hash(config.weights)
    if (
        "://" in config.weights
        and config.weights.endswith(CHECKPOINT_SUFFIXES)
        and storage.exists(config.weights)
    ):
        return config.weights
    for uri in (storage.join(config.weights, name) for name in names):
        if storage.exists(uri):
            return _local_hash(uri) if _is_local_file(uri) else uri
    raise ConfigurationError(
        f"recon checkpoint not found: looked for {' or '.join(names)} in {config.weights} (--weights); "
        "fetch the official files with `talkingface models fetch --out DIR` and pass --weights DIR"
    )


def _is_local_file(uri: str) -> bool:
    return "://" not in uri and Path(uri).is_file()


def _local_hash(path: str) -> str:
    return "sha256:" + model_sha256(Path(path).resolve())


def code_version() -> str:
    """``git describe`` of the checkout the job runs from (``unknown`` outside a git checkout)."""
    repo = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def preflight(config: ExtractConfig) -> tuple[ExtractConfig, dict]:
    """Resolve ``auto`` backends and check every file; returns (resolved config, provenance record)."""
    recon = recon_weights(config)
    try:
        faces = resolve(config.detector_config())
        files = backend_files(faces)
    except (MissingWeightsError, ValueError) as err:
        raise ConfigurationError(str(err)) from None
    resolved = dataclasses.replace(config, detector=faces.face_detector, landmarks=faces.landmarks)
    provenance = {
        "recon_weights": recon,
        "detector": faces.face_detector,
        "landmarks": faces.landmarks,
        "face_models": {
            name: f"{path.name} sha256:{model_sha256(path.resolve())}" for name, path in files.items()
        },
        "code_version": code_version(),
        "job_config": dataclasses.asdict(resolved),
    }
    return resolved, provenance


def identity(provenance: dict) -> dict:
    return {key: provenance[key] for key in IDENTITY_KEYS}


def check_mixing(config: ExtractConfig, provenance: dict) -> None:
    """Record the output's provenance on its first run; refuse a different one unless allowed."""
    uri = storage.join(config.out, PROVENANCE_FILE)
    if storage.exists(uri):
        recorded = json.loads(storage.read_bytes(uri))
        if identity(recorded) != identity(provenance) and not config.allow_mixed_provenance:
            diff = {k: (recorded[k], provenance[k]) for k in IDENTITY_KEYS if recorded[k] != provenance[k]}
            raise ConfigurationError(
                f"{config.out} holds outputs of a different provenance ({diff}, recorded vs this run); "
                "write to another --out, or pass --allow-mixed-provenance"
            )
        return
    storage.write_bytes_atomic(uri, json.dumps(provenance, indent=1).encode())
