"""Checkpoint registry, rule-weight files in the official layouts, exact-prefix reading, strict loading."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from talkingface.models.recon_net import ReconNet
from talkingface.weights.load import CheckpointError, CheckpointMismatch, load_part, load_state, read_parts
from talkingface.weights.registry import PARTS, SAFETENSORS_FILE, layout_files, layout_parts, part
from talkingface.weights.rule import load_weight_rule, rule_state, write_rule_checkpoints

SMALL_PARTS = ["audio2exp", "face_3drecon"]


class NotATensor:
    """A pickled object that weights_only loading must refuse."""


@pytest.fixture(scope="module")
def manifest(oracle_dir) -> dict:
    return json.loads((oracle_dir / "manifest.json").read_text())


@pytest.fixture(scope="module")
def rule(oracle_dir):
    return load_weight_rule(oracle_dir / "weight_rule.py")


@pytest.fixture(scope="module")
def rule_states(manifest, rule) -> dict[str, dict[str, torch.Tensor]]:
    return {name: rule_state(manifest, rule, name) for name in SMALL_PARTS}


@pytest.fixture(scope="module")
def ckpt_dirs(oracle_dir, tmp_path_factory):
    """Rule checkpoints for two parts, in the current and the legacy layout."""
    args = (oracle_dir / "manifest.json", oracle_dir / "weight_rule.py")
    current, legacy = tmp_path_factory.mktemp("current"), tmp_path_factory.mktemp("legacy")
    write_rule_checkpoints(current, *args, parts=SMALL_PARTS)
    write_rule_checkpoints(legacy, *args, legacy=True, parts=SMALL_PARTS)
    return current, legacy


def test_registry_matches_the_manifest(manifest):
    assert set(PARTS) == {k for k, v in manifest.items() if isinstance(v, dict) and "keys" in v}
    for name, p in PARTS.items():
        facts = manifest[name]
        old = facts["old_checkpoint"]
        assert (p.legacy.file, p.legacy.dict_key) == (old["file"], old["dict_key"])
        assert p.legacy.prefix == old["inner_prefix"]
        stored = facts.get("in_safetensors", True)
        assert (p.current is not None and p.current.is_safetensors) == stored
        if stored:
            assert p.current.prefix == facts["prefix"]
    for size in (256, 512):
        assert SAFETENSORS_FILE.format(size=size) in manifest["checkpoint_files"]
    assert PARTS["mapping"].current.file in manifest["checkpoint_files"]
    assert PARTS["mapping_full"].current.file in manifest["checkpoint_files"]


def test_layout_files():
    assert layout_files() == [
        "SadTalker_V0.0.2_256.safetensors",
        "mapping_00229-model.pth.tar",
        "mapping_00109-model.pth.tar",
    ]
    assert layout_files(512)[0] == "SadTalker_V0.0.2_512.safetensors"
    assert set(layout_files(legacy=True)) == {
        "auido2exp_00300-model.pth",
        "auido2pose_00140-model.pth",
        "facevid2vid_00189-model.pth.tar",
        "epoch_20.pth",
        "mapping_00229-model.pth.tar",
        "mapping_00109-model.pth.tar",
    }
    assert "he_estimator" in layout_parts(legacy=True) and "he_estimator" not in layout_parts()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: part("he_estimator").entry(), "not stored in the safetensors"),
        (lambda: part("generator").entry(512, legacy=True), "legacy"),
        (lambda: part("generator").entry(384), "size"),
        (lambda: part("face_recon"), "unknown checkpoint part"),
    ],
)
def test_registry_errors_name_the_problem(call, match):
    with pytest.raises((ValueError, KeyError), match=match):
        call()


def test_rule_files_have_the_official_layout(ckpt_dirs, manifest):
    current, legacy = ckpt_dirs
    with safe_open(str(current / "SadTalker_V0.0.2_256.safetensors"), framework="pt") as f:
        keys = set(f.keys())
    assert keys == {key for name in SMALL_PARTS for key, _shape, _dtype in manifest[name]["keys"]}
    blob = torch.load(legacy / "epoch_20.pth", weights_only=True)
    assert list(blob) == ["net_recon"]
    prefix = manifest["face_3drecon"]["prefix"]
    assert list(blob["net_recon"]) == [key[len(prefix) :] for key, *_ in manifest["face_3drecon"]["keys"]]


def test_both_layouts_read_back_the_rule_weights(ckpt_dirs, rule_states):
    current, legacy = ckpt_dirs
    from_current = read_parts(current, SMALL_PARTS)
    from_legacy = read_parts(legacy, SMALL_PARTS, legacy=True)
    for name in SMALL_PARTS:
        want = rule_states[name]
        for got in (from_current[name], from_legacy[name]):
            assert set(got) == set(want)
            assert all(torch.equal(got[k], want[k]) and got[k].dtype == want[k].dtype for k in want)


def test_single_file_source_finds_its_parts(ckpt_dirs):
    current, legacy = ckpt_dirs
    assert sorted(read_parts(current / "SadTalker_V0.0.2_256.safetensors")) == SMALL_PARTS
    assert list(read_parts(legacy / "auido2exp_00300-model.pth")) == ["audio2exp"]
    with pytest.raises(CheckpointError, match="holds parts"):
        read_parts(legacy / "epoch_20.pth", ["audio2exp"])


def test_prefix_match_is_exact_not_substring(tmp_path):
    path = tmp_path / "SadTalker_V0.0.2_256.safetensors"
    save_file(
        {
            "audio2exp.fc.weight": torch.ones(2, 2),
            "xaudio2exp.fc.weight": torch.zeros(2, 2),  # SadTalker's substring match would take these
            "audio2pose.netG.audio2exp.bias": torch.zeros(2),
            "audio2expnet.bias": torch.zeros(2),
        },
        str(path),
    )
    state = read_parts(path, ["audio2exp"])["audio2exp"]
    assert list(state) == ["fc.weight"] and torch.equal(state["fc.weight"], torch.ones(2, 2))


def test_requesting_an_absent_part_is_an_error(ckpt_dirs):
    current, _legacy = ckpt_dirs
    with pytest.raises(CheckpointError, match="audio2pose"):
        read_parts(current, ["audio2pose"])
    with pytest.raises(CheckpointError, match="not found"):
        read_parts(current, ["mapping"])


def test_strict_loading_lists_every_mismatch(rule_states):
    net = ReconNet()
    state = dict(rule_states["face_3drecon"])
    del state["backbone.layer2.1.bn2.running_var"]
    state["final_layers.7.weight"] = torch.zeros(1)
    state["final_layers.3.bias"] = torch.zeros(4)
    with pytest.raises(CheckpointMismatch) as err:
        load_state(net, state, what="ReconNet")
    assert err.value.missing == ["backbone.layer2.1.bn2.running_var"]
    assert err.value.unexpected == ["final_layers.7.weight"]
    assert err.value.mis_shaped == [("final_layers.3.bias", (4,), (3,))]
    for key in ("running_var", "final_layers.7.weight", "final_layers.3.bias"):
        assert key in str(err.value)


def test_load_part_fills_the_module(ckpt_dirs, rule_states):
    current, legacy = ckpt_dirs
    want = rule_states["face_3drecon"]
    for source, is_legacy in ((current, False), (legacy, True)):
        net = ReconNet()
        load_part(net, source, "face_3drecon", legacy=is_legacy)
        assert all(torch.equal(v, want[k]) for k, v in net.state_dict().items())


def test_truncated_files_get_a_clear_error(ckpt_dirs, tmp_path):
    current, legacy = ckpt_dirs
    for src in (current / "SadTalker_V0.0.2_256.safetensors", legacy / "epoch_20.pth"):
        cut = tmp_path / src.name
        cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
        with pytest.raises(CheckpointError, match="truncated or corrupted"):
            read_parts(cut)
    header_only = tmp_path / "h" / "SadTalker_V0.0.2_256.safetensors"
    header_only.parent.mkdir()
    header_only.write_bytes(b"\x01\x00")
    with pytest.raises(CheckpointError, match="fetch"):
        read_parts(header_only.parent, ["audio2exp"])


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "epoch_20.pth"
    torch.save({"net_recon": {"w": torch.zeros(1)}, "extra": NotATensor()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        read_parts(path)


def test_storage_uri_source(ckpt_dirs, s3_bucket):
    import boto3

    current, _legacy = ckpt_dirs
    client = boto3.client("s3")
    local_file = current / "SadTalker_V0.0.2_256.safetensors"
    client.upload_file(str(local_file), s3_bucket, f"ckpt/{local_file.name}")
    from_s3 = read_parts(f"s3://{s3_bucket}/ckpt", ["audio2exp"])["audio2exp"]
    from_file_uri = read_parts(local_file.as_uri(), ["audio2exp"])["audio2exp"]
    local = read_parts(current, ["audio2exp"])["audio2exp"]
    assert all(torch.equal(from_s3[k], v) and torch.equal(from_file_uri[k], v) for k, v in local.items())
    with pytest.raises(CheckpointError, match="not found"):
        read_parts(f"s3://{s3_bucket}/elsewhere", ["audio2exp"])
