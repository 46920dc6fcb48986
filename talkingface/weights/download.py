"""Download checkpoint files: resumable, size-checked, sha256-locked, atomically placed.

Each file is fetched into ``<name>.part`` (resumed with an HTTP ``Range`` request after an
interruption), checked against the expected size, hashed, and renamed into place. The first
download's sha256 is recorded in ``models.lock.json`` in the same directory; later runs verify
every file against it, so a truncated or corrupted file (SadTalker issues #406, #424, #726: "unexpected
EOF", "HeaderTooSmall") is detected and downloaded again.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from storage.hashing import file_sha256
from talkingface.weights.registry import layout_files

FILE_TABLE = Path(__file__).resolve().parents[1] / "assets" / "checkpoint_files.json"
LOCK_NAME = "models.lock.json"
APPROX_TOLERANCE = 0.10  # documented sizes are rounded ("725 MB"); wrong or cut files are far off
CHUNK = 1 << 20
Log = Callable[[str], None]


class DownloadError(RuntimeError):
    """A file that could not be downloaded, or whose size or hash is wrong."""


class _Incomplete(OSError):
    """The connection ended before the announced length; retried with a Range request."""


@dataclass(frozen=True)
class RemoteFile:
    """A downloadable file: exact ``size`` and ``sha256`` when published, else the docs' ``approx_size``."""

    name: str
    url: str
    size: int | None = None
    approx_size: int | None = None
    sha256: str | None = None

    def size_problem(self, n: int) -> str | None:
        """Why ``n`` bytes cannot be this file, or None."""
        if self.size is not None and n != self.size:
            return f"size {n} bytes, expected {self.size}"
        if self.approx_size is not None and abs(n - self.approx_size) > APPROX_TOLERANCE * self.approx_size:
            return f"size {n} bytes, expected about {self.approx_size}"
        return None


@dataclass(frozen=True)
class FetchResult:
    """What happened to one file: ``kept`` (verified), ``adopted`` (unlocked file that fits, now
    locked), ``downloaded`` or ``replaced`` (a bad local copy was downloaded again)."""

    name: str
    path: Path
    sha256: str
    action: str


def load_file_table(path: str | Path = FILE_TABLE) -> dict[str, RemoteFile]:
    """The file table (JSON ``{"files": [{name, url, size, approx_size, sha256}, ...]}``) by name."""
    rows = json.loads(Path(path).read_text())["files"]
    return {row["name"]: RemoteFile(**row) for row in rows}


def official_files(
    size: int = 256,
    legacy: bool = False,
    table: dict[str, RemoteFile] | None = None,
    parts: list[str] | None = None,
) -> list[RemoteFile]:
    """The RemoteFiles of a checkpoint layout (render ``size``, current or legacy), or of some parts."""
    table = load_file_table() if table is None else table
    names = layout_files(size, legacy, parts)
    missing = [name for name in names if name not in table]
    if missing:
        raise KeyError(f"file table has no entry for {missing}")
    return [table[name] for name in names]


def read_lock(directory: Path) -> dict[str, dict]:
    path = Path(directory) / LOCK_NAME
    return json.loads(path.read_text())["files"] if path.is_file() else {}


def _write_lock(directory: Path, entries: dict[str, dict]) -> None:
    path = directory / LOCK_NAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"files": entries}, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def locked_problem(path: Path, entry: dict) -> str | None:
    """Why the file at ``path`` no longer matches its lock entry, or None."""
    if not path.is_file():
        return "missing"
    n = path.stat().st_size
    if n != entry["size"]:
        return f"size {n} bytes, {LOCK_NAME} says {entry['size']}"
    if file_sha256(path) != entry["sha256"]:
        return f"sha256 differs from {LOCK_NAME}"
    return None


def fetch(
    files: Iterable[RemoteFile],
    directory: str | Path,
    *,
    base_url: str | None = None,
    attempts: int = 4,
    timeout: float = 60.0,
    log: Log = print,
) -> list[FetchResult]:
    """Make every file present and verified in ``directory``; ``base_url`` replaces each URL's folder."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lock = read_lock(directory)
    results = []
    for remote in files:
        target = directory / remote.name
        entry = lock.get(remote.name)
        action = "downloaded"
        if target.exists():
            problem = locked_problem(target, entry) if entry else _unlocked_problem(target, remote)
            if problem is None and entry:
                results.append(FetchResult(remote.name, target, entry["sha256"], "kept"))
                continue
            if problem is None:
                sha = file_sha256(target)
                lock[remote.name] = {"size": target.stat().st_size, "sha256": sha, "url": remote.url}
                _write_lock(directory, lock)
                results.append(FetchResult(remote.name, target, sha, "adopted"))
                continue
            log(f"{remote.name}: {problem}; downloading it again")
            target.unlink()
            action = "replaced"
        url = f"{base_url.rstrip('/')}/{remote.name}" if base_url else remote.url
        part = target.with_name(target.name + ".part")
        _download(url, part, attempts, timeout, log)
        sha = _check_download(part, remote, entry)
        os.replace(part, target)
        lock[remote.name] = {"size": target.stat().st_size, "sha256": sha, "url": url}
        _write_lock(directory, lock)
        results.append(FetchResult(remote.name, target, sha, action))
    return results


def _unlocked_problem(path: Path, remote: RemoteFile) -> str | None:
    problem = remote.size_problem(path.stat().st_size)
    if problem is None and remote.sha256 and file_sha256(path) != remote.sha256:
        problem = "sha256 differs from the published one"
    return problem


def _check_download(part: Path, remote: RemoteFile, entry: dict | None) -> str:
    """Size and hash checks of a finished ``.part``; a bad one is deleted."""
    problem = remote.size_problem(part.stat().st_size)
    sha = None if problem else file_sha256(part)
    if sha and remote.sha256 and sha != remote.sha256:
        problem = f"sha256 {sha} differs from the published {remote.sha256}"
    if sha and entry and sha != entry["sha256"]:
        problem = f"sha256 {sha} differs from {LOCK_NAME} ({entry['sha256']}); delete its entry to accept"
    if problem:
        part.unlink()
        raise DownloadError(f"{remote.name}: downloaded file rejected: {problem}")
    return sha


def _download(url: str, part: Path, attempts: int, timeout: float, log: Log) -> None:
    """Fill ``part`` with the content at ``url``, resuming after broken connections."""
    for attempt in range(1, attempts + 1):
        try:
            _download_once(url, part, timeout, log)
            return
        except urllib.error.HTTPError as err:
            if err.code < 500 or attempt == attempts:
                raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from err
            log(f"{part.name}: HTTP {err.code}, retrying ({attempt}/{attempts})")
        except (OSError, http.client.HTTPException) as err:
            if attempt == attempts:
                raise DownloadError(f"{url}: download failed after {attempts} attempts: {err}") from err
            log(f"{part.name}: interrupted ({err}), resuming ({attempt}/{attempts})")
        time.sleep(min(2**attempt, 30) * 0.1)


def _download_once(url: str, part: Path, timeout: float, log: Log) -> None:
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "talkingface-models-fetch"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code != 416:
            raise
        total = _content_range(err.headers.get("Content-Range", ""))[1]
        if total != offset:  # the .part is longer than the file: start over
            part.unlink()
            raise _Incomplete(f".part holds {offset} bytes but the file has {total}") from err
        return  # the .part was already complete
    with response:
        if response.status == 206:
            start, total = _content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                raise DownloadError(f"{url}: asked for bytes from {offset}, got them from {start}")
            mode = "ab"
        else:  # 200: no range support, whole file
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
        what = f"resuming at byte {offset}" if offset else "downloading"
        log(f"{part.name.removesuffix('.part')}: {what} from {url}")
        with open(part, mode) as f:
            while block := response.read(CHUNK):
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
    got = part.stat().st_size
    if total is not None and got != total:
        raise _Incomplete(f"connection ended at {got} of {total} bytes")


def _content_range(value: str) -> tuple[int | None, int | None]:
    """``bytes START-END/TOTAL`` or ``bytes */TOTAL`` -> (START, TOTAL); unknown parts are None."""
    match = re.fullmatch(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", value.strip())
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)
