"""What a trained model records about its making: code version and a hash of its training data."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def code_version() -> str:
    """The git commit of this checkout (``+dirty`` with uncommitted changes), else ``'unknown'``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def data_hash(files: list[str], extra: dict) -> str:
    """sha256 of the sorted training files' URIs plus ``extra`` (split, ExpNet id, ...)."""
    blob = json.dumps({"files": sorted(files), **extra}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()
