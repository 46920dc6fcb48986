"""`talkingface models fetch` against a real HTTP server on 127.0.0.1 serving rule-weight checkpoints."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from jobs.cli import main as console_main
from talkingface.weights.cli import main as models_main
from talkingface.weights.download import LOCK_NAME, DownloadError, RemoteFile, fetch, read_lock
from talkingface.weights.load import read_parts
from talkingface.weights.rule import write_rule_checkpoints

SAFETENSORS = "SadTalker_V0.0.2_256.safetensors"
LEGACY_EXP = "auido2exp_00300-model.pth"


@dataclass
class ServerState:
    """What the server serves, how it misbehaves, and the (file, Range header) of each GET."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: dict[str, int] = field(default_factory=dict)  # next response ends after N body bytes
    ignore_range: set[str] = field(default_factory=set)
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class RangeHandler(BaseHTTPRequestHandler):
    state: ServerState

    def do_GET(self) -> None:
        name, state = self.path.lstrip("/"), self.state
        data = state.files.get(name)
        state.requests.append((name, self.headers.get("Range")))
        if data is None:
            self.send_error(404)
            return
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match.group(1)) if match and name not in state.ignore_range else 0
        if start >= len(data) > 0 and match:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if name in state.cut_after:
            body = body[: state.cut_after.pop(name)]
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def rule_files(oracle_dir, tmp_path_factory) -> dict[str, bytes]:
    """A current-layout safetensors and a legacy .pth, both holding audio2exp rule weights (~11 MB each)."""
    out = tmp_path_factory.mktemp("rule")
    args = (out, oracle_dir / "manifest.json", oracle_dir / "weight_rule.py")
    paths = write_rule_checkpoints(*args, parts=["audio2exp"])
    paths += write_rule_checkpoints(*args, legacy=True, parts=["audio2exp"])
    return {p.name: p.read_bytes() for p in paths}


@pytest.fixture(scope="module")
def server(rule_files):
    state = ServerState()
    handler = type("Handler", (RangeHandler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def served(server, rule_files):
    """The server, reset to serve the rule files correctly; returns (state, base_url)."""
    state, base = server
    state.files = dict(rule_files)
    state.cut_after.clear()
    state.ignore_range.clear()
    state.requests.clear()
    return state, base


def remote(base: str, name: str, data: bytes, **overrides) -> RemoteFile:
    return RemoteFile(**{"name": name, "url": f"{base}/{name}", "size": len(data), **overrides})


def quiet(_msg: str) -> None:
    pass


def test_full_download_is_locked_loadable_and_then_kept(served, rule_files, tmp_path, oracle_dir):
    state, base = served
    files = [remote(base, name, data) for name, data in rule_files.items()]
    results = fetch(files, tmp_path, log=quiet)
    assert [r.action for r in results] == ["downloaded", "downloaded"]
    lock = read_lock(tmp_path)
    for name, data in rule_files.items():
        assert (tmp_path / name).read_bytes() == data
        assert lock[name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert lock[name]["size"] == len(data)
    assert not list(tmp_path.glob("*.part"))
    current = read_parts(tmp_path, ["audio2exp"])["audio2exp"]
    legacy = read_parts(tmp_path, ["audio2exp"], legacy=True)["audio2exp"]
    assert current.keys() == legacy.keys() and all(torch.equal(current[k], legacy[k]) for k in current)

    state.requests.clear()
    assert [r.action for r in fetch(files, tmp_path, log=quiet)] == ["kept", "kept"]
    assert state.requests == []


def test_interrupted_download_resumes_with_a_range_request(served, rule_files, tmp_path):
    state, base = served
    data = rule_files[SAFETENSORS]
    file = remote(base, SAFETENSORS, data)
    state.cut_after[SAFETENSORS] = 3_000_000
    with pytest.raises(DownloadError, match="1 attempts"):
        fetch([file], tmp_path, attempts=1, log=quiet)
    assert (tmp_path / (SAFETENSORS + ".part")).stat().st_size == 3_000_000
    assert not (tmp_path / SAFETENSORS).exists()

    [result] = fetch([file], tmp_path, log=quiet)
    assert result.action == "downloaded"
    assert (tmp_path / SAFETENSORS).read_bytes() == data
    assert state.requests == [(SAFETENSORS, None), (SAFETENSORS, "bytes=3000000-")]


def test_one_call_retries_and_resumes(served, rule_files, tmp_path):
    state, base = served
    data = rule_files[LEGACY_EXP]
    state.cut_after[LEGACY_EXP] = 1_234_567
    fetch([remote(base, LEGACY_EXP, data)], tmp_path, log=quiet)
    assert (tmp_path / LEGACY_EXP).read_bytes() == data
    assert state.requests == [(LEGACY_EXP, None), (LEGACY_EXP, "bytes=1234567-")]


def test_server_without_range_support_restarts_from_zero(served, rule_files, tmp_path):
    state, base = served
    data = rule_files[LEGACY_EXP]
    state.cut_after[LEGACY_EXP] = 500_000
    state.ignore_range.add(LEGACY_EXP)
    fetch([remote(base, LEGACY_EXP, data)], tmp_path, log=quiet)
    assert (tmp_path / LEGACY_EXP).read_bytes() == data


def test_complete_part_file_is_finished_without_downloading_again(served, rule_files, tmp_path):
    state, base = served
    data = rule_files[LEGACY_EXP]
    (tmp_path / (LEGACY_EXP + ".part")).write_bytes(data)
    fetch([remote(base, LEGACY_EXP, data)], tmp_path, log=quiet)
    assert (tmp_path / LEGACY_EXP).read_bytes() == data
    assert state.requests == [(LEGACY_EXP, f"bytes={len(data)}-")]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"size": 725066984}, "expected 725066984"),
        ({"size": None, "approx_size": 2_110_000_000}, "expected about"),
        ({"sha256": "0" * 64}, "sha256"),
    ],
)
def test_wrong_size_or_hash_is_rejected(served, rule_files, tmp_path, overrides, match):
    _state, base = served
    file = remote(base, SAFETENSORS, rule_files[SAFETENSORS], **overrides)
    with pytest.raises(DownloadError, match=match):
        fetch([file], tmp_path, log=quiet)
    assert not (tmp_path / SAFETENSORS).exists()
    assert not (tmp_path / (SAFETENSORS + ".part")).exists()
    assert read_lock(tmp_path) == {}


def test_missing_file_is_an_http_error(served, tmp_path):
    _state, base = served
    with pytest.raises(DownloadError, match="404"):
        fetch([RemoteFile("nope.pth", f"{base}/nope.pth")], tmp_path, log=quiet)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupted_file_is_detected_on_reuse_and_downloaded_again(served, rule_files, tmp_path, damage):
    _state, base = served
    data = rule_files[SAFETENSORS]
    file = remote(base, SAFETENSORS, data)
    fetch([file], tmp_path, log=quiet)
    target = tmp_path / SAFETENSORS
    broken = bytearray(data)
    if damage == "flip":
        broken[len(broken) // 2] ^= 0xFF
    else:
        del broken[-1000:]
    target.write_bytes(bytes(broken))
    messages = []
    [result] = fetch([file], tmp_path, log=messages.append)
    assert result.action == "replaced"
    assert target.read_bytes() == data
    assert any(("sha256" if damage == "flip" else "size") in m for m in messages)


def test_cli_fetch_verify_and_console_route(served, rule_files, tmp_path, capsys):
    _state, base = served
    data = rule_files[SAFETENSORS]
    table = tmp_path / "files.json"
    row = {"name": SAFETENSORS, "url": "https://example.invalid/x", "size": len(data), "approx_size": None}
    table.write_text(json.dumps({"files": [{**row, "sha256": None}]}))
    ckpt = tmp_path / "ckpt"
    args = ["fetch", "--dir", str(ckpt), "--base-url", base, "--files", str(table), "--parts", "audio2exp"]
    assert models_main(args) == 0
    assert (ckpt / SAFETENSORS).read_bytes() == data
    assert json.loads((ckpt / LOCK_NAME).read_text())["files"][SAFETENSORS]["url"] == f"{base}/{SAFETENSORS}"
    assert console_main(["models", "verify", "--dir", str(ckpt)]) == 0

    (ckpt / SAFETENSORS).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert models_main(["verify", "--dir", str(ckpt)]) == 1
    assert "BAD" in capsys.readouterr().out
    assert models_main(args) == 0
    assert models_main(["verify", "--dir", str(ckpt)]) == 0

    row["size"] = len(data) + 1
    table.write_text(json.dumps({"files": [{**row, "sha256": None}]}))
    (ckpt / SAFETENSORS).unlink()
    assert models_main(args) == 1
    assert "size" in capsys.readouterr().err


def test_cli_rejects_a_table_without_the_layout_files(tmp_path):
    table = tmp_path / "files.json"
    table.write_text(json.dumps({"files": []}))
    with pytest.raises(SystemExit):
        models_main(["fetch", "--dir", str(tmp_path), "--files", str(table)])


def test_official_table_covers_every_layout():
    from talkingface.weights.download import official_files

    for size, legacy in ((256, False), (512, False), (256, True)):
        for f in official_files(size, legacy):
            assert f.url.endswith("/" + f.name) and f.url.startswith(
                "https://github.com/OpenTalker/SadTalker/"
            )
            assert (f.size or f.approx_size) > 30_000_000
    assert Path(official_files()[0].name).suffix == ".safetensors"
