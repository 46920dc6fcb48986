"""Head pairs from features extracted out of the synthetic corpus: ExpNet in a Ray Data actor stage."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import storage
from distributed.extract.config import ExtractConfig
from distributed.extract.pipeline import run_extract
from distributed.train import ensure_head_pairs, split_clips
from talkingface.synth import make_corpus
from talkingface.training.expnet import load_expnet_source, predict_clip


@pytest.fixture(scope="module")
def features(ray_session, tmp_path_factory) -> str:
    """4 clips (2 CREMA-D + 2 RAVDESS, 4 actors) extracted with the offline stand-in face models."""
    root = tmp_path_factory.mktemp("pairs")
    make_corpus(root / "corpus", n_clips_per_dataset=2, seconds=1.0, seed=0)
    out = str(root / "features")
    config = ExtractConfig(
        corpus=str(root / "corpus"),
        out=out,
        detector="haar",
        landmarks="template",
        batch_size=8,
        stand_in_weights=True,
    )
    assert run_extract(config).succeeded == 4
    return out


def test_pairs_are_expnet_on_each_clip_cached_per_checkpoint(features):
    uri = ensure_head_pairs(features, None)
    assert uri == storage.join(features, "head_pairs", "stand-in")
    pairs = {r["clip_id"]: r for r in storage.from_table(storage.read_table(uri, storage.HEAD_PAIRS_SCHEMA))}
    betas = {r["clip_id"]: r for r in storage.from_table(storage.read_table(storage.join(features, "betas")))}
    clips = storage.read_table(storage.join(features, "clips")).to_pylist()
    assert set(pairs) == set(betas) and len(pairs) == 4
    net = load_expnet_source(None)
    for clip in clips:
        pair, row = pairs[clip["clip_id"]], betas[clip["clip_id"]]
        assert (pair["actor"], pair["emotion"], pair["expnet"]) == (
            clip["actor"],
            clip["emotion"],
            "stand-in",
        )
        np.testing.assert_array_equal(pair["target_exp"], row["exp"])
        expected = predict_clip(net, torch.from_numpy(row["mels"]), torch.from_numpy(row["exp"]))
        np.testing.assert_allclose(pair["source_exp"], expected.numpy(), atol=1e-5)
        assert pair["source_exp"].shape == (row["n_frames"], 64)
    files = storage.list_uris(uri)
    stamps = {f: storage.parse_uri(f).path for f in files}
    mtimes = {f: os.path.getmtime(p) for f, p in stamps.items()}
    assert ensure_head_pairs(features, None) == uri  # the rerun reuses every committed clip
    assert {f: os.path.getmtime(p) for f, p in stamps.items()} == mtimes
    split, of_clip = split_clips(features, 0.25, 0.25, seed=0)
    assert (len(split.train), len(split.val), len(split.test)) == (2, 1, 1)
    assert set(of_clip) == set(pairs)
