"""Untrusted files and names: checkpoints and beta files are never unpickled, safetensors headers are bounded
before they are read, output names cannot leave their prefix, and credentials never reach logs or tables."""

from __future__ import annotations

import io
import logging
import struct
from pathlib import Path

import boto3
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import storage
from storage.schemas import ERRORS_SCHEMA
from talkingface.emotion import build_head, head_config, save_module
from talkingface.emotion.betas_io import load_betas
from talkingface.emotion.checkpoint import load_head
from talkingface.emotion.cli import main as heads_main
from talkingface.render.betas import read_betas
from talkingface.render.models import read_expnet_state
from talkingface.weights.load import CheckpointError, read_parts
from talkingface.weights.safetensors_header import (
    MAX_HEADER_BYTES,
    UnsafeSafetensorsError,
    check_safetensors_header,
)


class MakesMarker:
    """Unpickling this calls ``open(marker, "w")``: arbitrary code run by the loader."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_torch(path: Path, marker: Path, *, zip_format: bool = True) -> Path:
    payload = {"net_recon": {"w": torch.zeros(1)}, "model": MakesMarker(marker), "x": MakesMarker(marker)}
    torch.save(payload, path, _use_new_zipfile_serialization=zip_format)
    return path


def _evil_npy(path: Path, marker: Path) -> Path:
    np.save(path, np.array([MakesMarker(marker)], dtype=object), allow_pickle=True)
    return path


def test_the_fixtures_do_run_code_when_unpickled(tmp_path):
    """Positive control: plain unpickling of each fixture creates its marker."""
    for i, make in enumerate((_evil_torch, lambda p, m: _evil_torch(p, m, zip_format=False))):
        marker = tmp_path / f"control{i}"
        torch.load(make(tmp_path / f"c{i}.pt", marker), weights_only=False)
        assert marker.exists()
    marker = tmp_path / "control-npy"
    np.load(_evil_npy(tmp_path / "c.npy", marker), allow_pickle=True)
    assert marker.exists()


@pytest.fixture
def saved_head(tmp_path) -> Path:
    return save_module(build_head(head_config("linear")), tmp_path / "head")


LOADERS = {
    # name: (file name, how to load it, expected error, message pattern)
    "weights legacy recon": ("epoch_20.pth", read_parts, CheckpointError, "refused to load"),
    "weights mapping": ("mapping_00229-model.pth.tar", read_parts, CheckpointError, "refused to load"),
    "betas_io .pt": ("clip.pt", load_betas, ValueError, "refused to load"),
    "betas_io .npy": ("clip.npy", load_betas, ValueError, "allow_pickle=False"),
    "render override .pt": ("betas.pt", lambda p: read_betas(p, 1), ValueError, "unreadable"),
    "render override .npy": ("betas.npy", lambda p: read_betas(p, 1), ValueError, "unreadable"),
    "expnet checkpoint": ("finetuned.pth", read_expnet_state, CheckpointError, "unreadable"),
}


CASES = [
    (loader, zip_format)
    for loader, (name, *_) in sorted(LOADERS.items())
    for zip_format in ([True] if name.endswith(".npy") else [True, False])
]


@pytest.mark.parametrize(
    ("loader", "zip_format"), CASES, ids=[f"{n}-{'zip' if z else 'legacy'}" for n, z in CASES]
)
def test_malicious_pickles_are_refused_by_every_loader(tmp_path, loader, zip_format):
    name, load, error, message = LOADERS[loader]
    marker = tmp_path / "pwned"
    path = tmp_path / name
    _evil_npy(path, marker) if name.endswith(".npy") else _evil_torch(path, marker, zip_format=zip_format)
    with pytest.raises(error, match=message) as raised:
        load(path)
    assert name in str(raised.value)
    assert not marker.exists()


def test_malicious_pickles_from_s3_are_refused(tmp_path, s3_bucket):
    marker = tmp_path / "pwned"
    client = boto3.client("s3")
    for name in ("finetuned.pth", "epoch_20.pth"):
        client.upload_file(str(_evil_torch(tmp_path / name, marker)), s3_bucket, f"untrusted/{name}")
    with pytest.raises(CheckpointError, match="unreadable"):
        read_expnet_state(f"s3://{s3_bucket}/untrusted/finetuned.pth")
    with pytest.raises(CheckpointError, match="refused"):
        read_parts(f"s3://{s3_bucket}/untrusted/epoch_20.pth")
    assert not marker.exists()


def test_heads_apply_refuses_a_malicious_source_and_a_pickled_head(tmp_path, saved_head, capsys):
    marker = tmp_path / "pwned"
    source = _evil_torch(tmp_path / "1001_DFA_ANG_XX.pt", marker)
    argv = ["apply", "--head", str(saved_head), "--source", str(source), "--out", str(tmp_path / "out")]
    assert heads_main([*argv, "--emotion", "happy", "--intensity", "0.5"]) == 2
    assert f"{source}: refused to load" in capsys.readouterr().err
    _evil_torch(saved_head / "model.safetensors", marker)  # a pickle posing as the head's weights
    with pytest.raises(ValueError, match=r"model\.safetensors: unreadable weights .*header claims"):
        load_head(saved_head)
    assert not marker.exists() and not (tmp_path / "out").exists()


# ---------------------------------------------------------------- safetensors header bound


def _claims_header(path: Path, claimed: int, sparse_size: int | None = None) -> Path:
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", claimed) + b'{"__metadata__":{}}')
        if sparse_size:
            f.truncate(sparse_size)  # a sparse file: the claim looks plausible, no disk is used
    return path


def test_a_10_gb_header_claim_is_rejected_without_reading_it(tmp_path):
    claimed = 10 * 1024**3
    path = _claims_header(tmp_path / "SadTalker_V0.0.2_256.safetensors", claimed, claimed + 8 + 1024)
    assert path.stat().st_size > claimed  # so only the bound, not the file size, can refuse it
    with pytest.raises(UnsafeSafetensorsError, match=f"claims {claimed} bytes, over the {MAX_HEADER_BYTES}"):
        check_safetensors_header(path)
    with pytest.raises(CheckpointError, match=r"over the .*refusing to read it"):
        read_parts(path)
    with pytest.raises(CheckpointError, match="over the"):
        read_parts(tmp_path, ["audio2exp"])  # the directory form reads the same file


def test_header_longer_than_the_file_or_missing_is_rejected(tmp_path, saved_head):
    short = _claims_header(tmp_path / "a.safetensors", 4096)
    with pytest.raises(UnsafeSafetensorsError, match="has only 19 after the length field"):
        check_safetensors_header(short)
    (tmp_path / "b.safetensors").write_bytes(b"\x01\x00")
    with pytest.raises(UnsafeSafetensorsError, match="too short"):
        check_safetensors_header(tmp_path / "b.safetensors")
    _claims_header(saved_head / "model.safetensors", 10 * 1024**3)
    with pytest.raises(ValueError, match="over the"):
        load_head(saved_head)


def test_a_real_safetensors_file_passes_the_bound(tmp_path):
    path = tmp_path / "ok.safetensors"
    save_file({"w": torch.zeros(3, 4)}, str(path))
    length = check_safetensors_header(path)
    assert 0 < length < 200 and path.stat().st_size == 8 + length + 3 * 4 * 4


# ---------------------------------------------------------------- output names


@pytest.mark.parametrize(
    "name",
    [
        "../x.mp4",
        "a/../../x.mp4",
        "./x.mp4",
        "/etc/passwd",
        "~/x.mp4",
        "s3://other-bucket/x.mp4",
        "file:///etc/x",
        "https://evil.example/x",
        "C:x.mp4",
        "%2e%2e/x.mp4",
        "%2E%2E%2Fx.mp4",
        "%252e%252e/x.mp4",
        "%2Fetc/x",
        "a\x00b.mp4",
        "a%00b.mp4",
        "a\nb.mp4",
        "..\\x.mp4",
        "．．/x.mp4",
        "a//b.mp4",
        "dir/",
        "",
    ],
)
@pytest.mark.parametrize("prefix", ["s3://bucket-a/renders", "/tmp/renders", "file:///tmp/renders"])
def test_output_names_cannot_leave_the_prefix(prefix, name):
    with pytest.raises(storage.UnsafeKeyError, match="output name"):
        storage.safe_output_key(prefix, name)


def test_ordinary_output_names_are_joined_in_the_prefix_form(tmp_path):
    assert storage.safe_output_key("s3://bucket-a/renders", "happy/1001 clip.mp4") == (
        "s3://bucket-a/renders/happy/1001 clip.mp4"
    )
    assert storage.safe_output_key("s3://bucket-a/renders/", "100%_sure.mp4") == (
        "s3://bucket-a/renders/100%_sure.mp4"
    )
    assert storage.safe_output_key(str(tmp_path), "a/b.mp4") == str(tmp_path / "a" / "b.mp4")
    assert storage.safe_output_key(tmp_path.as_uri(), "ü.mp4") == (tmp_path / "ü.mp4").as_uri()
    with pytest.raises(TypeError):
        storage.safe_output_key(str(tmp_path), 5)


def test_a_symlink_inside_the_prefix_cannot_lead_out(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "link").symlink_to(elsewhere)
    with pytest.raises(storage.UnsafeKeyError, match="symlink"):
        storage.safe_output_key(str(out), "link/x.mp4")


# ---------------------------------------------------------------- credentials


SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "ray-token-0123456789abcdef0123456789abcdef"
LEAKS = [
    f"AWS_SECRET_ACCESS_KEY={SECRET}",
    f'{{"aws_secret_access_key": "{SECRET}", "n": 3}}',
    f"export AWS_SESSION_TOKEN='{SECRET}'",
    f"RAY_AUTH_TOKEN={TOKEN}",
    f"Authorization: Bearer {TOKEN}",
    f'headers={{"Authorization": "Bearer {TOKEN}"}}',
    f"https://minio:{SECRET}@minio.local:9000/bucket/x",
    f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/s3, Signature={SECRET[:30]}",
    f"https://b.s3.amazonaws.com/k?X-Amz-Security-Token={SECRET}&X-Amz-Signature=abc",
    "access key AKIAIOSFODNN7EXAMPLE",
]


@pytest.mark.parametrize("text", LEAKS)
def test_redact_masks_every_credential_form(text):
    masked = storage.redact(f"failed: {text} (retrying)")
    for secret in (SECRET, SECRET[:30], TOKEN, "AKIAIOSFODNN7EXAMPLE"):
        assert secret not in masked
    assert masked.startswith("failed: ") and masked.endswith(" (retrying)") and "***" in masked


def test_redact_keeps_ordinary_text_and_masks_secret_env_values(monkeypatch):
    plain = "s3://bucket-a/cremad/1001_DFA_ANG_XX.flv: NoFaceError: no face in 30 of 30 frames (tokens=5)"
    assert storage.redact(plain) == plain
    assert storage.redact("RAY_AUTH_TOKEN_PATH=/home/ray/.ray/auth_token") == (
        "RAY_AUTH_TOKEN_PATH=/home/ray/.ray/auth_token"
    )
    monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)
    assert storage.redact(f"GCS said no to {TOKEN}!") == "GCS said no to ***!"
    assert storage.redact_value({"env": [f"x {TOKEN}"], "n": 1}) == {"env": ["x ***"], "n": 1}


def test_errors_rows_and_run_logs_are_written_without_credentials(tmp_path, s3_bucket):
    reason = f"ClientError: https://user:{SECRET}@minio/b/k denied; AWS_SECRET_ACCESS_KEY={SECRET}"
    row = {"clip_id": "c1", "source_uri": "s3://bucket-a/c1.flv", "stage": "decode", "reason": reason}
    table = storage.to_table([{**row, "timestamp": 0.0}], ERRORS_SCHEMA)
    for root in (str(tmp_path), f"s3://{s3_bucket}/run"):
        uri = storage.join(root, "errors", "c1.parquet")
        storage.write_table_atomic(table, uri)
        [back] = storage.from_table(storage.read_table(uri))
        assert SECRET not in back["reason"] and back["reason"].startswith("ClientError: https://***@minio")
        assert back["source_uri"] == row["source_uri"]  # ordinary values untouched
        log = storage.join(root, "_runs", "r.json")
        storage.write_json_atomic(log, {"config": {"weights": f"s3://k:{SECRET}@host/w"}, "errors": [reason]})
        storage.write_text_atomic(storage.join(root, "_runs", "r.txt"), f"Authorization: Bearer {TOKEN}\n")
        assert SECRET not in storage.read_bytes(log).decode()
        assert TOKEN not in storage.read_bytes(storage.join(root, "_runs", "r.txt")).decode()


def test_log_records_are_redacted_for_every_logger_and_handler():
    previous = logging.getLogRecordFactory()
    stream = io.StringIO()
    logger = logging.getLogger("talkingface.test_security")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        storage.install_log_redaction()
        storage.install_log_redaction()  # idempotent: one wrapper
        logger.warning("upload failed with %s", f"AWS_SECRET_ACCESS_KEY={SECRET}")
        try:
            raise OSError(f"Authorization: Bearer {TOKEN}")
        except OSError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(previous)
    text = stream.getvalue()
    assert "AWS_SECRET_ACCESS_KEY=***" in text and "Bearer ***" in text
    assert SECRET not in text and TOKEN not in text


def test_secret_env_values_shorter_than_a_word_are_not_literal_masked(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")  # moto's stand-in credentials
    assert storage.redact("testing the testing corpus") == "testing the testing corpus"
