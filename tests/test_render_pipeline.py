"""Single-clip talking-face pipeline and ``talkingface render`` CLI, on the tiny renderer config.

Faces come from OpenCV Haar boxes with template landmarks (no face-alignment weights needed); clips
are cut from the espeak-ng fixture so that only a few tiny-renderer frames are computed per test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import soundfile
import torch
from PIL import Image
from safetensors.torch import save_file

from talkingface.audio import load_audio, num_video_frames
from talkingface.models.expnet import ExpNet
from talkingface.render.cli import main
from talkingface.render.models import STAND_IN_WARNING, TINY_WARNING
from talkingface.render.pipeline import ClipInputs, PipelineConfig, RenderRequest, TalkingFacePipeline
from talkingface.video import probe, read_frames, write_video
from talkingface.weights.load import CheckpointError, CheckpointMismatch, read_parts
from talkingface.weights.rule import write_rule_checkpoints

OFFLINE_FACES = ["--model-config", "tiny", "--detector", "haar", "--landmarks", "template"]


@pytest.fixture(scope="module")
def pipeline() -> TalkingFacePipeline:
    return TalkingFacePipeline(PipelineConfig(model_config="tiny", detector="haar", landmarks="template"))


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("img") / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(path)
    return str(path)


def _cut(wav: Path, directory: Path, seconds: float) -> str:
    """The first ``seconds`` of ``wav`` as a 16 kHz wav in ``directory``."""
    path = directory / f"cut{seconds}.wav"
    soundfile.write(path, load_audio(wav)[: int(seconds * 16000)], 16000)
    return str(path)


@pytest.fixture(scope="module")
def short_wav(espeak_wav, tmp_path_factory) -> str:
    """0.2 s of the espeak clip: 5 frames, for coefficient-only (save_betas) runs."""
    return _cut(espeak_wav, tmp_path_factory.mktemp("audio"), 0.2)


@pytest.fixture(scope="module")
def clip_wav(espeak_wav, tmp_path_factory) -> str:
    """0.12 s of the espeak clip: 3 frames to render (a tiny-renderer frame can take seconds on two
    busy cores)."""
    return _cut(espeak_wav, tmp_path_factory.mktemp("audio"), 0.12)


def _betas(pipeline: TalkingFacePipeline, tmp_path, name: str, **kwargs) -> torch.Tensor:
    out = tmp_path / f"{name}.pt"
    result = pipeline.render(RenderRequest(save_betas=str(out), **kwargs))
    assert result.betas == str(out) and result.out is None
    return torch.load(out, weights_only=True)


def _random_head(directory: Path, seed: int) -> Path:
    """A saved linear emotion head with small random weights (it changes the betas visibly)."""
    from talkingface.emotion import build_head, head_config, save_module

    torch.manual_seed(seed)
    head = build_head(head_config("linear"))
    with torch.no_grad():
        for param in head.parameters():
            param.normal_(0, 0.05)
    return save_module(head, directory)


def _run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else None, captured.err


def test_cli_renders_an_mp4_with_the_driving_audio(espeak_wav, astronaut, tmp_path, capsys, caplog):
    audio = _cut(espeak_wav, tmp_path, 0.4)
    out = tmp_path / "clip.mp4"
    code, summary, err = _run(capsys, "--image", astronaut, "--audio", audio, "--out", out, *OFFLINE_FACES)
    assert code == 0, err
    num_frames = num_video_frames(len(load_audio(audio)))
    info = probe(out)
    assert (info.video_codec, info.audio_codec, info.fps) == ("h264", "aac", 25.0)
    assert info.n_frames == num_frames == summary["frames"] == 10
    assert (info.width, info.height) == (256, 256)
    assert abs(info.video_duration - len(load_audio(audio)) / 16000) <= 1 / 25
    assert abs(info.audio_duration - info.video_duration) <= 1 / 25
    assert summary["out"] == str(out) and summary["fps"] == 25 and summary["seconds"] == 10 / 25
    # The stand-in weights are announced in the log (stderr for the CLI) and in the result.
    assert summary["warnings"] == [STAND_IN_WARNING, TINY_WARNING]
    logged = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert STAND_IN_WARNING in logged and TINY_WARNING in logged


def test_second_clip_of_the_same_image_reuses_the_source(pipeline, astronaut, short_wav, tmp_path):
    first = _betas(pipeline, tmp_path, "a", image=astronaut, audio=short_wav, preprocess="extcrop")
    again = pipeline.render(
        RenderRequest(astronaut, short_wav, save_betas=str(tmp_path / "b.pt"), preprocess="extcrop")
    )
    assert again.source_cached
    assert torch.equal(torch.load(tmp_path / "b.pt", weights_only=True), first)  # seeded: reproducible
    reseeded = _betas(pipeline, tmp_path, "c", image=astronaut, audio=short_wav, preprocess="extcrop", seed=1)
    assert torch.equal(reseeded[:, :64], first[:, :64])  # 5 frames: no blinks, only the pose latents move
    assert not torch.equal(reseeded[:, 64:], first[:, 64:])
    flipped = tmp_path / "flipped.png"
    Image.fromarray(skimage.data.astronaut()[:, ::-1].copy()).save(flipped)
    other = pipeline.render(RenderRequest(str(flipped), short_wav, save_betas=str(tmp_path / "d.pt")))
    assert not other.source_cached


def test_inputs_and_outputs_as_s3_uris(pipeline, astronaut, clip_wav, s3_bucket, tmp_path):
    from storage import download_to_cache, put_file_atomic

    image, audio = f"s3://{s3_bucket}/in/face.png", f"s3://{s3_bucket}/in/speech.wav"
    put_file_atomic(astronaut, image)
    put_file_atomic(clip_wav, audio)
    out, betas = f"s3://{s3_bucket}/out/clip.mp4", f"s3://{s3_bucket}/out/betas.pt"
    assert pipeline.render(RenderRequest(image, audio, save_betas=betas)).frames == 3
    assert torch.load(download_to_cache(betas), weights_only=True).shape == (3, 70)
    result = pipeline.render(RenderRequest(image, audio, out))
    assert result.out == out and probe(download_to_cache(out)).n_frames == 3


def test_save_betas_then_override_betas(pipeline, astronaut, clip_wav, tmp_path):
    saved = _betas(pipeline, tmp_path, "saved", image=astronaut, audio=clip_wav)
    assert saved.shape == (num_video_frames(len(load_audio(clip_wav))), 70) and saved.dtype == torch.float32

    def frames(name: str, betas: torch.Tensor | None) -> np.ndarray:
        override = None
        if betas is not None:
            override = tmp_path / f"{name}.pt"
            torch.save(betas, override)
        out = tmp_path / f"{name}.mp4"
        pipeline.render(
            RenderRequest(astronaut, clip_wav, str(out), override_betas=override and str(override))
        )
        return read_frames(out).astype(np.float32)

    plain = frames("plain", None)
    same = frames("same", saved[:, :64].clone())  # D = 64: expression only
    changed = frames(
        "changed",
        saved[:, :64] + 3.0 * torch.randn(saved.shape[0], 64, generator=torch.Generator().manual_seed(0)),
    )
    assert np.array_equal(plain, same)
    assert np.abs(changed - plain).mean() > 1.0

    short = tmp_path / "short.pt"
    torch.save(saved[:-1], short)
    with pytest.raises(
        ValueError, match=rf"{short.name}: {len(saved) - 1} frames, but the audio drives {len(saved)}"
    ):
        pipeline.render(
            RenderRequest(astronaut, clip_wav, str(tmp_path / "x.mp4"), override_betas=str(short))
        )
    assert not (tmp_path / "x.mp4").exists()
    with pytest.raises(ValueError, match="only one"):
        RenderRequest(astronaut, clip_wav, save_betas="a.pt", override_betas=str(short))


def test_expnet_checkpoint_in_the_fork_format(pipeline, astronaut, short_wav, tmp_path):
    base = _betas(pipeline, tmp_path, "base", image=astronaut, audio=short_wav)
    torch.manual_seed(5)
    state = ExpNet().state_dict()
    fork = tmp_path / "fine_tuned_expnet.pth"
    torch.save(
        {"epoch": 3, "model": {f"audio2exp_model.netG.{k}": v for k, v in state.items()}, "optimizer": {}},
        fork,
    )
    plain = tmp_path / "expnet.safetensors"
    save_file(state, str(plain))

    tuned = _betas(pipeline, tmp_path, "fork", image=astronaut, audio=short_wav, expnet_checkpoint=str(fork))
    assert not torch.allclose(tuned[:, :64], base[:, :64])
    assert torch.equal(tuned[:, 64:], base[:, 64:])  # PoseVAE and its seed are shared
    same = _betas(pipeline, tmp_path, "plain", image=astronaut, audio=short_wav, expnet_checkpoint=str(plain))
    assert torch.equal(same, tuned)

    broken = tmp_path / "broken.pth"
    torch.save({k: v for k, v in state.items() if k != "mapping1.bias"}, broken)
    with pytest.raises(CheckpointMismatch, match=r"missing: mapping1\.bias"):
        pipeline.render(
            RenderRequest(
                astronaut, short_wav, save_betas=str(tmp_path / "y.pt"), expnet_checkpoint=str(broken)
            )
        )


def test_official_layout_checkpoint_dir(oracle_dir, astronaut, espeak_wav, tmp_path, capsys):
    """Rule weights in the official files (725 MB safetensors + mapping) drive the official renderer."""
    ckpt = tmp_path / "checkpoints"
    parts = ["audio2exp", "audio2pose", "face_3drecon", "kp_extractor", "generator", "mapping"]
    write_rule_checkpoints(ckpt, oracle_dir / "manifest.json", oracle_dir / "weight_rule.py", parts=parts)
    audio = tmp_path / "one_frame.wav"
    soundfile.write(audio, load_audio(espeak_wav)[8000:8700], 16000)
    out = tmp_path / "rule.mp4"
    faces = ["--detector", "haar", "--landmarks", "template"]
    code, summary, err = _run(
        capsys, "--image", astronaut, "--audio", audio, "--out", out, "--checkpoint-dir", ckpt, *faces
    )
    assert code == 0, err
    assert summary["warnings"] == [] and probe(out).n_frames == 1

    pipeline = TalkingFacePipeline(
        PipelineConfig(checkpoint_dir=str(ckpt), detector="haar", landmarks="template")
    )
    expected = read_parts(ckpt, ["audio2exp", "generator", "mapping"])
    models = pipeline.models.size_models(256)
    for net, part in ((models.audio2coeff.expnet, "audio2exp"), (models.renderer.generator, "generator")):
        loaded = net.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in expected[part].items())
    mapping = pipeline.models.mapping(full=False).state_dict()
    assert all(torch.equal(mapping[k], v) for k, v in expected["mapping"].items())
    with pytest.raises(CheckpointError, match=r"mapping_00109-model\.pth\.tar"):
        pipeline.models.mapping(full=True)  # not written: the error names the missing official file
    shutil.rmtree(ckpt)  # 0.9 GB


def test_full_preprocess_pastes_back_into_the_original_image(pipeline, clip_wav, tmp_path):
    background = np.full((512, 640, 3), 90, np.uint8)
    background[:, 64:576] = skimage.data.astronaut()
    image = tmp_path / "wide.png"
    Image.fromarray(background).save(image)
    out = tmp_path / "full.mp4"
    result = pipeline.render(RenderRequest(str(image), clip_wav, str(out), preprocess="full", still=True))
    info = probe(out)
    assert (info.width, info.height) == (640, 512) and info.n_frames == result.frames
    frames = read_frames(out).astype(np.float32)
    box = pipeline.source(str(image), 256, "full")[0].info.paste_box
    outside = np.ones((512, 640), bool)
    outside[box[1] : box[3], box[0] : box[2]] = False
    noise = np.abs(frames[:, outside] - background[outside]).mean()
    inside = frames[:, box[1] : box[3], box[0] : box[2]]
    change = np.abs(inside - background[box[1] : box[3], box[0] : box[2]]).mean()
    assert noise < 5 and change > 4 * noise  # the background only has codec noise; the face is new


def test_reference_videos_drive_eyes_and_pose(pipeline, astronaut, short_wav, tmp_path):
    picture = skimage.data.astronaut()
    video = tmp_path / "ref.mp4"
    write_video(video, (np.roll(picture, (3 * i, 5 * i), axis=(0, 1)) for i in range(6)))
    base = _betas(pipeline, tmp_path, "base", image=astronaut, audio=short_wav)
    posed = _betas(pipeline, tmp_path, "pose", image=astronaut, audio=short_wav, ref_pose=str(video))
    assert torch.equal(posed[:, :64], base[:, :64]) and not torch.allclose(posed[:, 64:], base[:, 64:])
    eyes = _betas(pipeline, tmp_path, "eyes", image=astronaut, audio=short_wav, ref_eyeblink=str(video))
    assert not torch.allclose(eyes[:, :64], base[:, :64])


def test_emotion_head(pipeline, astronaut, short_wav, tmp_path, capsys):
    directory = _random_head(tmp_path / "head", seed=0)
    base = _betas(pipeline, tmp_path, "base", image=astronaut, audio=short_wav)

    def emotional(alpha: float) -> torch.Tensor:
        kwargs = {"emotion": "happy", "head": str(directory), "alpha": alpha}
        return _betas(pipeline, tmp_path, f"a{alpha}", image=astronaut, audio=short_wav, **kwargs)

    assert torch.allclose(emotional(0.0), base)
    strong = emotional(1.0)
    assert not torch.allclose(strong[:, :64], base[:, :64]) and torch.equal(strong[:, 64:], base[:, 64:])

    args = ["--image", astronaut, "--audio", short_wav, "--save-betas", tmp_path / "z.pt", *OFFLINE_FACES]
    code, _, err = _run(capsys, *args, "--head", directory, "--emotion", "hangry")
    assert code == 1 and "hangry" in err and "happy" in err


def test_standard_alignment_is_explicit_and_warned(short_wav, tmp_path):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((256, 256, 3), 128, np.uint8)).save(blank)
    config = PipelineConfig(model_config="tiny", detector="haar", landmarks="template", align="standard")
    request = RenderRequest(str(blank), short_wav, save_betas=str(tmp_path / "b.pt"), preprocess="resize")
    result = TalkingFacePipeline(config).render(request)  # resize + standard points: no detection at all
    assert any("standard 5 points" in w and "--align standard" in w for w in result.warnings)


def test_cli_errors_name_the_bad_input(astronaut, short_wav, tmp_path, capsys):
    out = tmp_path / "o.mp4"
    script = "import sys; from talkingface.render.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = ["--image", tmp_path / "nope.png", "--audio", short_wav, "--out", out, *OFFLINE_FACES]
    run = subprocess.run([sys.executable, "-c", script, *map(str, argv)], capture_output=True, text=True)
    assert run.returncode == 1 and "image not found" in run.stderr and "nope.png" in run.stderr
    assert "WARNING" in run.stderr and "NOT a real face animation" in run.stderr  # loud, on stderr
    code, _, err = _run(
        capsys, "--image", astronaut, "--audio", tmp_path / "nope.wav", "--out", out, *OFFLINE_FACES
    )
    assert code == 1 and "audio not found" in err and "nope.wav" in err
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((240, 320, 3), 128, np.uint8)).save(blank)
    code, _, err = _run(capsys, "--image", blank, "--audio", short_wav, "--out", out, *OFFLINE_FACES)
    assert code == 1 and "no face" in err and "blank.png" in err
    code, _, err = _run(
        capsys, "--image", astronaut, "--audio", short_wav, "--out", out, "--pose-style", "46"
    )
    assert code == 2 and "pose_style" in err and "46" in err
    code, _, err = _run(capsys, "--image", astronaut, "--audio", short_wav, "--emotion", "happy")
    assert code == 2 and "head" in err
    assert not out.exists()


def test_free_view_angles_turn_the_head(pipeline, astronaut, short_wav, tmp_path):
    def render(name: str, **view) -> np.ndarray:
        out = tmp_path / f"{name}.mp4"
        pipeline.render(RenderRequest(astronaut, short_wav, out=str(out), **view))
        return read_frames(out).astype(np.float32)

    plain, same, turned = render("plain"), render("same"), render("turned", yaw=(0.0, 30.0))
    np.testing.assert_array_equal(plain, same)
    assert turned.shape == plain.shape
    assert np.abs(turned[-1] - plain[-1]).mean() > np.abs(turned[0] - plain[0]).mean()
    argv = ["--image", astronaut, "--audio", short_wav, "--out", str(tmp_path / "x.mp4")]
    assert main([*argv, "--input-yaw"]) == 2  # an axis flag needs at least one angle


@pytest.mark.parametrize("preprocess", ["crop", "full"])
def test_keypoint_spans_of_long_audio_match_the_whole_clip(
    pipeline, astronaut, espeak_wav, tmp_path, preprocess
):
    """The render job's path for long audio: the audio decoded once to a raw file, then the keypoints of
    any frame span from the samples that span needs. Every span (across PoseVAE chunks, the smoothing and
    27-frame windows, the emotion head's window, free-view ramps, still, both clip edges) gives the
    whole clip's keypoints."""
    from talkingface.audio import audio_features
    from talkingface.audio.pcm import decode_pcm

    head_dir = _random_head(tmp_path / "head", seed=1)
    wav = str(tmp_path / "long.wav")  # 100 frames: the espeak clip, then noise
    speech = load_audio(espeak_wav)
    noise = np.random.default_rng(0).uniform(-0.2, 0.2, 64000 - len(speech)).astype(np.float32)
    soundfile.write(wav, np.concatenate([speech, noise]), 16000)
    features, pcm = audio_features(wav), decode_pcm(wav, tmp_path / "audio.f32")
    assert len(pcm) == features.num_frames == 100
    requests = [
        RenderRequest(astronaut, wav, out="x.mp4", size=128, seed=3, pose_style=5),
        RenderRequest(astronaut, wav, out="x.mp4", size=128, preprocess="full", emotion="happy",
                      head=str(head_dir), alpha=0.7, yaw=(0.0, 20.0, -10.0), expression_scale=1.3),
        RenderRequest(astronaut, wav, out="x.mp4", size=128, still=True),
    ]  # fmt: skip
    for request in requests:
        source, _ = pipeline.source(request.image, request.size, request.preprocess)
        loaded = None if request.head is None else pipeline.models.head(request.head)
        kp_source, chunks = pipeline.keypoints(
            request, source, pipeline.coefficients(request, source, features, loaded)
        )
        whole = torch.cat(list(chunks))
        for start, stop in [(0, 100), (0, 1), (99, 100), (0, 30), (30, 61), (61, 100), (14, 15), (40, 88)]:
            span_source, span = pipeline.keypoint_span(ClipInputs(request, source, pcm, loaded), start, stop)
            torch.testing.assert_close(span_source, kp_source)
            torch.testing.assert_close(span, whole[start:stop], rtol=1e-4, atol=1e-5)
