"""Emotion heads: windowing, causality, blending, save/load, learning a planted transformation, the
expression classifier, per-emotion metrics, beta files and the ``talkingface heads`` CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from talkingface.emotion import (
    HEADS,
    BetaClip,
    ClassifierConfig,
    ExpressionClassifier,
    TrainConfig,
    apply_head,
    blend,
    build_head,
    emotion_accuracy,
    expression_errors,
    head_config,
    load_classifier,
    load_head,
    predict,
    save_module,
    split_clips,
    train_classifier,
    train_head,
)
from talkingface.emotion.betas_io import load_betas, load_clip_pairs, save_betas
from talkingface.emotion.cli import main as heads_main
from talkingface.emotion.windows import sliding_windows

EMOS = ("happy", "sad", "angry", "fear")
SMALL = {"linear": {}, "mlp": {}, "transformer": {"d_model": 64}, "tcn": {"channels": 64}}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: the 2 shared cores are faster without thread contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_head(kind: str, seed: int = 0, randomize: bool = False):
    torch.manual_seed(seed)
    head = build_head(head_config(kind, emb_dim=8, **SMALL[kind]))
    if randomize:  # fresh heads output the identity; give every weight a value to see dependencies
        with torch.no_grad():
            for p in head.parameters():
                p.normal_(0.0, 0.1)
    return head.eval()


def latent_sequence(T: int, g: torch.Generator, proj: torch.Tensor) -> torch.Tensor:
    """Smooth synthetic betas [T, 64]: an AR(1) walk in 8 latent dimensions projected to 64."""
    z, h = torch.zeros(T, proj.shape[0]), torch.randn(proj.shape[0], generator=g)
    for t in range(T):
        h = 0.9 * h + 0.44 * torch.randn(proj.shape[0], generator=g)
        z[t] = h
    return z @ proj


def planted_clips(per_emotion: int, T: int, seed: int) -> list[BetaClip]:
    """target = source + intensity * (v_e + a_e * x_t + b_e * (x_t - x_{t-1})): a known per-emotion,
    intensity-scaled function of the window (offset, gain and velocity term)."""
    g = torch.Generator().manual_seed(123)
    proj = torch.linalg.qr(torch.randn(64, 8, generator=g))[0].T * 8**0.5  # [8, 64]
    offsets = torch.randn(len(EMOS), 64, generator=g) * 0.6
    gains, velocity = torch.tensor([0.5, -0.4, 0.8, -0.6]), torch.tensor([1.0, 0.0, -0.8, 0.6])
    g = torch.Generator().manual_seed(seed)
    clips = []
    for j, emotion in enumerate(EMOS):
        for k in range(per_emotion):
            x = latent_sequence(T, g, proj)
            prev = torch.cat([x[:1], x[:-1]])
            intensity = (1 / 3, 2 / 3, 1.0)[k % 3]
            y = x + intensity * (offsets[j] + gains[j] * x + velocity[j] * (x - prev))
            clips.append(BetaClip(f"{emotion}_{k:02d}", x, y, emotion, intensity, actor=f"a{k % 4}"))
    return clips


@pytest.fixture(scope="module")
def planted_split():
    return split_clips(planted_clips(12, 48, seed=0), val_fraction=0.25, seed=0)


# ---- windowing and shapes ------------------------------------------------------------------------


def test_sliding_windows_pad_with_frame_zero_and_end_at_each_frame():
    x = torch.arange(4.0)[:, None].expand(4, 3)  # frame t holds value t
    w = sliding_windows(x, 3)
    assert w.shape == (4, 3, 3)
    assert w[:, :, 0].tolist() == [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3]]
    with pytest.raises(ValueError, match="T, D"):
        sliding_windows(torch.zeros(0, 3), 3)


@pytest.mark.parametrize("kind", list(HEADS))
@pytest.mark.parametrize("T", [1, 3, 20])
def test_every_frame_gets_an_output(kind, T):
    head = small_head(kind, randomize=True)
    x = torch.randn(7, head.config.frame_len, 64)
    assert head(x, torch.zeros(7, dtype=torch.long), torch.ones(7)).shape == (7, 64)
    assert predict(head, torch.randn(T, 64), "angry", 0.5).shape == (T, 64)


@pytest.mark.parametrize("kind", list(HEADS))
def test_fresh_head_is_the_identity_map(kind):
    head = small_head(kind)
    exp = torch.randn(9, 64)
    torch.testing.assert_close(predict(head, exp, "sad", 1.0), exp)


@pytest.mark.parametrize("kind", list(HEADS))
def test_future_frames_do_not_change_past_outputs(kind):
    head = small_head(kind, randomize=True)
    L = head.config.frame_len
    exp = torch.randn(16, 64)
    changed = exp.clone()
    changed[8] += 1.0
    before, after = predict(head, exp, "happy", 0.7), predict(head, changed, "happy", 0.7)
    torch.testing.assert_close(after[:8], before[:8], rtol=0, atol=0)
    assert (after[8 : 8 + L] - before[8 : 8 + L]).abs().amax(-1).min() > 1e-4  # the window sees frame 8
    torch.testing.assert_close(after[8 + L :], before[8 + L :], rtol=0, atol=0)  # and no further


@pytest.mark.parametrize("kind", ["transformer", "tcn"])
def test_tokens_are_causal_inside_the_window(kind):
    head = small_head(kind, randomize=True)
    x = torch.randn(3, head.config.frame_len, 64)
    e, i = torch.tensor([0, 2, 4]), torch.tensor([0.1, 0.5, 1.0])
    for j in range(head.config.frame_len):
        changed = x.clone()
        changed[:, j] += 1.0
        before, after = head.tokens(x, e, i), head.tokens(changed, e, i)
        torch.testing.assert_close(after[:, :j], before[:, :j], rtol=0, atol=0)
        assert (after[:, j:] - before[:, j:]).abs().amax() > 1e-4


@pytest.mark.parametrize("kind", list(HEADS))
def test_conditioning_changes_the_output_and_unknown_emotions_are_named(kind):
    head = small_head(kind, randomize=True)
    exp = torch.randn(6, 64)
    angry, happy = predict(head, exp, "angry", 1.0), predict(head, exp, "happy", 1.0)
    assert (angry - happy).abs().max() > 1e-4
    assert (predict(head, exp, "angry", 0.2) - angry).abs().max() > 1e-4
    with pytest.raises(ValueError, match="joyful"):
        predict(head, exp, "joyful", 1.0)


def test_configs_reject_bad_values():
    with pytest.raises(ValueError, match="divisible"):
        head_config("transformer", d_model=30, n_head=4)
    with pytest.raises(ValueError, match="receptive field"):
        head_config("tcn", frame_len=9, kernel_size=2, dilations=(1, 2))
    with pytest.raises(ValueError, match="frame_len"):
        head_config("mlp", frame_len=0)
    with pytest.raises(ValueError, match="unknown head kind"):
        head_config("gru")


# ---- blending ------------------------------------------------------------------------------------


def test_blend_alpha_interpolates_between_x_and_f():
    x, f = torch.randn(5, 64), torch.randn(5, 64)
    torch.testing.assert_close(blend(x, f, 0.0), x)
    torch.testing.assert_close(blend(x, f, 1.0), f)
    torch.testing.assert_close(blend(x, f, 0.25), 0.75 * x + 0.25 * f)


def test_blend_ortho_projects_the_change_onto_each_frame():
    g = torch.Generator().manual_seed(1)
    x, f = (
        torch.randn(6, 64, generator=g, dtype=torch.float64),
        torch.randn(6, 64, generator=g, dtype=torch.float64),
    )
    x[3] = 0.0  # guarded: a zero beta stays unchanged
    y = blend(x, f, 0.7, ortho=True)
    xn, dn = x.numpy(), (f - x).numpy()
    for t in range(6):
        if t == 3:
            assert torch.equal(y[t], x[t])
            continue
        expected = xn[t] + 0.7 * (dn[t] @ xn[t]) / (xn[t] @ xn[t]) * xn[t]
        np.testing.assert_allclose(y[t].numpy(), expected, rtol=1e-12)
        cosine = (y[t] @ x[t]) / (y[t].norm() * x[t].norm())
        assert abs(abs(cosine.item()) - 1.0) < 1e-12  # parallel to x
    torch.testing.assert_close(blend(x, f, 0.0, ortho=True), x)


@pytest.mark.parametrize("kind", ["mlp", "tcn"])
def test_apply_head_blends_the_prediction_and_checks_inputs(kind):
    head = small_head(kind, randomize=True)
    exp = torch.randn(10, 64)
    f = predict(head, exp, "fear", 0.5)
    torch.testing.assert_close(apply_head(head, exp, "fear", 0.5, alpha=0.0, ortho=False), exp)
    torch.testing.assert_close(apply_head(head, exp, "fear", 0.5, alpha=1.0, ortho=False), f)
    torch.testing.assert_close(apply_head(head, exp, "fear", 0.5, 0.5, ortho=True), blend(exp, f, 0.5, True))
    with pytest.raises(ValueError, match="exp"):
        apply_head(head, torch.randn(10, 63), "fear", 0.5, 1.0, False)
    with pytest.raises(ValueError, match="intensity"):
        apply_head(head, exp, "fear", 1.5, 1.0, False)


# ---- save / load ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(HEADS))
def test_save_load_round_trip(kind, tmp_path):
    head = small_head(kind, randomize=True)
    save_module(head, tmp_path / kind)
    loaded = load_head(tmp_path / kind)
    assert type(loaded) is type(head) and loaded.config == head.config
    exp = torch.randn(12, 64)
    torch.testing.assert_close(
        predict(loaded, exp, "sad", 0.4), predict(head, exp, "sad", 0.4), rtol=0, atol=0
    )


def test_load_rejects_wrong_or_missing_directories(tmp_path):
    save_module(ExpressionClassifier(ClassifierConfig(window=5)), tmp_path / "clf")
    assert load_classifier(tmp_path / "clf").config.window == 5
    with pytest.raises(ValueError, match="classifier"):
        load_head(tmp_path / "clf")
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        load_head(tmp_path / "nothing")


# ---- training ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(HEADS))
def test_each_head_family_learns_a_planted_emotional_transformation(kind, planted_split):
    train, val = planted_split
    head = small_head(kind)
    history = train_head(head, train, val, TrainConfig(epochs=20, batch_size=64, lr=3e-3))
    assert history.epochs[-1].val_loss < 0.3 * history.baseline_val_loss, history.epochs[-1]
    report = expression_errors(
        [predict(head, c.source, c.emotion, c.intensity) for c in val],
        [c.target for c in val],
        [c.emotion for c in val],
    )
    baseline = expression_errors([c.source for c in val], [c.target for c in val], [c.emotion for c in val])
    for emotion in {c.emotion for c in val}:
        assert report[emotion]["l2"] < baseline[emotion]["l2"], emotion


def test_training_is_deterministic_and_refuses_leaking_clips(planted_split):
    train, val = planted_split
    runs = [
        train_head(small_head("linear"), train[:8], val[:4], TrainConfig(epochs=2, seed=3)) for _ in range(2)
    ]
    assert runs[0].to_json() == runs[1].to_json()
    with pytest.raises(ValueError, match="leak"):
        train_head(small_head("linear"), train[:4], [train[0]], TrainConfig(epochs=1))


def test_split_keeps_clips_and_actors_whole():
    clips = planted_clips(4, 6, seed=5)
    train, val = split_clips(clips, 0.25, seed=1)
    assert len(val) == 4 and sorted(c.name for c in train + val) == sorted(c.name for c in clips)
    train, val = split_clips(clips, 0.25, seed=1, by="actor")
    assert val and train and not {c.actor for c in train} & {c.actor for c in val}


def test_beta_clip_validation_names_the_clip():
    with pytest.raises(ValueError, match=r"'c1'.*frames"):
        BetaClip("c1", torch.zeros(5, 64), torch.zeros(6, 64), "sad", 0.5)
    with pytest.raises(ValueError, match=r"'c2' source"):
        BetaClip("c2", torch.zeros(5, 70), torch.zeros(5, 64), "sad", 0.5)
    with pytest.raises(ValueError, match=r"'c3'.*intensity"):
        BetaClip("c3", torch.zeros(5, 64), torch.zeros(5, 64), "sad", 1.5)


# ---- classifier and metrics ----------------------------------------------------------------------


def separable_sequences(per_emotion: int, seed: int) -> list[tuple[torch.Tensor, str]]:
    g = torch.Generator().manual_seed(7)
    proj = torch.linalg.qr(torch.randn(64, 8, generator=g))[0].T
    centres = torch.randn(len(EMOS), 64, generator=g)
    g = torch.Generator().manual_seed(seed)
    return [
        (latent_sequence(30, g, proj) + 0.3 * centres[j], emotion)
        for j, emotion in enumerate(EMOS)
        for _ in range(per_emotion)
    ]


def test_expression_classifier_separates_synthetic_emotions():
    torch.manual_seed(0)
    classifier = ExpressionClassifier(ClassifierConfig(window=10, stride=5, hidden=32))
    train, val = separable_sequences(8, seed=1), separable_sequences(3, seed=2)
    history = train_classifier(classifier, train, val, TrainConfig(epochs=10, batch_size=64, lr=3e-3))
    assert history.epochs[-1].val_accuracy >= 0.9
    accuracy = emotion_accuracy(classifier, val)
    assert accuracy["all"] >= 0.9 and set(accuracy) == {*EMOS, "all"}


def test_expression_errors_per_emotion():
    preds = [torch.zeros(2, 64), torch.ones(3, 64)]
    targets = [torch.full((2, 64), 2.0), torch.ones(3, 64)]
    report = expression_errors(preds, targets, ["sad", "happy"])
    assert report["sad"] == {"l1": 2.0, "l2": pytest.approx(16.0), "frames": 2}
    assert report["happy"] == {"l1": 0.0, "l2": 0.0, "frames": 3}
    assert report["all"]["l1"] == pytest.approx(4 / 5) and report["all"]["frames"] == 5


# ---- beta files and the CLI ----------------------------------------------------------------------


def test_load_betas_takes_expression_columns_of_wider_rows(tmp_path):
    rows = torch.randn(4, 257)
    torch.save(rows, tmp_path / "full.pt")
    torch.testing.assert_close(load_betas(tmp_path / "full.pt"), rows[:, 80:144])
    np.save(tmp_path / "coeff.npy", rows[:, :70].numpy())
    torch.testing.assert_close(load_betas(tmp_path / "coeff.npy"), rows[:, :64])
    torch.save(torch.randn(4, 65), tmp_path / "odd.pt")
    with pytest.raises(ValueError, match=r"odd\.pt"):
        load_betas(tmp_path / "odd.pt")


@pytest.fixture
def beta_folders(tmp_path):
    """Source/target folders named like CREMA-D and RAVDESS clips, with the fork's failure cases."""
    clips = planted_clips(3, 30, seed=9)
    codes = ["HAP", "SAD", "ANG", "FEA"] * 3
    names = [f"{1010 + i}_IEO_{c}_HI" if i % 2 else f"{1010 + i}_DFA_{c}_XX" for i, c in enumerate(codes)]
    src, tgt = tmp_path / "source", tmp_path / "target"
    for clip, name in zip(sorted(clips, key=lambda c: c.name[-2:]), names, strict=True):
        save_betas(src / f"{name}.pt", clip.source)
        save_betas(tgt / f"{name}.pt", clip.target)
    save_betas(src / "01-01-05-02-01-01-03.npy", clips[0].source)  # RAVDESS angry, strong
    save_betas(tgt / "01-01-05-02-01-01-03.npy", clips[0].target)
    save_betas(src / "1090_ITS_SAD_XX.pt", clips[1].source)  # one frame short
    save_betas(tgt / "1090_ITS_SAD_XX.pt", clips[1].target[:-1])
    save_betas(src / "take_01.pt", clips[2].source)  # unparseable name
    save_betas(tgt / "take_01.pt", clips[2].target)
    save_betas(src / "1091_TIE_HAP_XX.pt", clips[3].source)  # no target
    return src, tgt


def test_load_clip_pairs_labels_and_skips_with_reasons(beta_folders):
    src, tgt = beta_folders
    clips, skipped = load_clip_pairs(src, tgt, unknown_intensity=0.5)
    by_name = {c.name: c for c in clips}
    assert len(clips) == 13
    assert by_name["1011_IEO_SAD_HI"].intensity == 1.0 and by_name["1010_DFA_HAP_XX"].intensity == 0.5
    assert (
        by_name["01-01-05-02-01-01-03"].emotion == "angry"
        and by_name["01-01-05-02-01-01-03"].actor == "ravdess/03"
    )
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in skipped}
    assert set(reasons) == {"1090_ITS_SAD_XX.pt", "take_01.pt", "1091_TIE_HAP_XX.pt"}
    assert "length mismatch" in reasons["1090_ITS_SAD_XX.pt"] and "unrecognised" in reasons["take_01.pt"]
    clips, _ = load_clip_pairs(src, tgt, max_length_diff=1)
    assert len({c.name: c for c in clips}["1090_ITS_SAD_XX"].source) == 29


def test_heads_cli_train_eval_classifier_apply(beta_folders, tmp_path, capsys):
    src, tgt = beta_folders
    head_dir, clf_dir, out_dir = tmp_path / "head", tmp_path / "clf", tmp_path / "out"
    common = ["--source", str(src), "--target", str(tgt)]
    assert (
        heads_main(
            [
                "train",
                *common,
                "--out",
                str(head_dir),
                "--model",
                "mlp",
                "--epochs",
                "3",
                "--head-config",
                '{"hidden": 32}',
            ]
        )
        == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sum(r["status"] == "skipped" for r in lines) == 3
    summary = lines[-1]
    assert summary["status"] == "trained" and summary["train_clips"] + summary["val_clips"] == 13
    assert load_head(head_dir).config.hidden == 32
    history = json.loads((head_dir / "history.json").read_text())
    assert len(history["epochs"]) == 3 and not set(history["train_clips"]) & set(history["val_clips"])

    assert (
        heads_main(
            ["classifier", "--target", str(tgt), "--out", str(clf_dir), "--epochs", "2", "--window", "10"]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["status"] == "trained"
    assert heads_main(["eval", *common, "--head", str(head_dir), "--classifier", str(clf_dir)]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["clips"] == 13 and set(report["head"]) == {*EMOS, "all"}
    assert set(report["acc_emo"]) == {"generated", "target", "source"}

    assert (
        heads_main(
            ["apply", "--head", str(head_dir), "--source", str(src), "--out", str(out_dir), "--alpha", "0"]
        )
        == 0
    )
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) == 15 and [
        r["path"].endswith("take_01.pt") for r in records if r["status"] == "skipped"
    ] == [True]
    torch.testing.assert_close(
        load_betas(out_dir / "1011_IEO_SAD_HI.pt"), load_betas(src / "1011_IEO_SAD_HI.pt")
    )
    assert (
        heads_main(
            [
                "apply",
                "--head",
                str(head_dir),
                "--source",
                str(src / "take_01.pt"),
                "--out",
                str(out_dir),
                "--emotion",
                "sad",
                "--intensity",
                "0.3",
            ]
        )
        == 0
    )
    assert (out_dir / "take_01.pt").is_file()


def test_heads_cli_reports_bad_input(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert (
        heads_main(
            [
                "train",
                "--source",
                str(tmp_path / "empty"),
                "--target",
                str(tmp_path / "empty"),
                "--out",
                str(tmp_path / "h"),
            ]
        )
        == 2
    )
    assert "no usable" in capsys.readouterr().err
    assert heads_main(["eval", "--head", str(tmp_path / "missing"), "--source", "x", "--target", "y"]) == 2
    assert "config.json" in capsys.readouterr().err
