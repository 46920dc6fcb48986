"""Every network of the talking-face pipeline, loaded once per render size and kept for many clips.

Weights come from an official checkpoint directory (local path or storage URI, read through
:mod:`talkingface.weights`): ``SadTalker_V0.0.2_<size>.safetensors`` for Audio2Coeff, the recon net and
the renderer, ``mapping_00229`` (crop/extcrop/resize) or ``mapping_00109`` (full/extfull) for MappingNet.
Without a directory every network gets seeded random stand-in weights, and :attr:`ModelStore.warnings`
says loudly that the output is not a real face animation. The ``tiny`` renderer config always uses
seeded random renderer weights (it has no checkpoint).

A fine-tuned ExpNet (``--expnet-checkpoint``) is read by :func:`read_expnet_state`: a plain ExpNet state
dict (``.pt``/``.pth``/``.safetensors``), optionally under ``audio2exp.``, or the seed fork's
``{'model': ...}`` dict whose keys carry ``audio2exp_model.netG.``.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from talkingface.audio2coeff import Audio2Coeff
from talkingface.models.expnet import ExpNet
from talkingface.models.mapping_net import MappingConfig, MappingNet
from talkingface.models.recon_net import ReconNet
from talkingface.render.animate import FaceRenderer, RenderOptions
from talkingface.render.configs import build_renderer, load_renderer, renderer_config
from talkingface.weights.load import CheckpointError, load_state, read_parts

log = logging.getLogger(__name__)

EXPNET_PREFIXES = ("audio2exp_model.netG.", "audio2exp.")  # the seed fork's wrapper, the packed file
STAND_IN_WARNING = (
    "no --checkpoint-dir: every network runs on seeded RANDOM stand-in weights, so the output is NOT a "
    "real face animation (fetch the official weights with `talkingface models fetch`)"
)
TINY_WARNING = (
    "--model-config tiny: the renderer runs on seeded RANDOM weights (a plumbing test config), so the "
    "frames are NOT a real face animation"
)
M = TypeVar("M", bound=nn.Module)


def _seeded(build: Callable[[], M], seed: int) -> M:
    """A module built with torch's default init from ``seed`` (the global RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def read_expnet_state(path: str | Path) -> dict[str, torch.Tensor]:
    """An ExpNet state dict (keys without prefix) from a fine-tuned checkpoint file or URI."""
    from storage import download_to_cache

    try:
        local = download_to_cache(str(path))
    except FileNotFoundError as err:
        raise FileNotFoundError(f"expnet checkpoint not found: {path}") from err
    try:
        if local.suffix == ".safetensors":
            blob = load_file(str(local))
        else:
            blob = torch.load(local, map_location="cpu", weights_only=True)
    except (SafetensorError, EOFError, RuntimeError, pickle.UnpicklingError) as err:
        raise CheckpointError(f"expnet checkpoint {path}: unreadable ({err})") from err
    if isinstance(blob, dict) and isinstance(blob.get("model"), dict):
        blob = blob["model"]
    if not isinstance(blob, dict) or not all(isinstance(v, torch.Tensor) for v in blob.values()):
        raise CheckpointError(
            f"expnet checkpoint {path}: expected a state dict of tensors (or {{'model': ...}})"
        )
    for prefix in EXPNET_PREFIXES:
        if any(key.startswith(prefix) for key in blob):
            return {k[len(prefix) :]: v for k, v in blob.items() if k.startswith(prefix)}
    return dict(blob)


def load_expnet(path: str | Path) -> ExpNet:
    """A fine-tuned ExpNet in eval mode; CheckpointMismatch lists every bad key."""
    net = ExpNet()
    load_state(net, read_expnet_state(path), what=f"ExpNet (expnet checkpoint {path})")
    return net.eval()


def load_trained_posevae(directory: str | Path) -> nn.Module:
    """A PoseVAE exported by the training job (local dir or URI prefix), in eval mode."""
    from talkingface.training.posevae import load_posevae

    return load_posevae(_local_dir(directory, ("posevae.safetensors", "config.json")))[0]


def _local_dir(directory: str | Path, names: tuple[str, ...]) -> Path:
    """A local directory holding the files ``names`` of ``directory`` (a URI prefix is copied down)."""
    if "://" not in str(directory):
        return Path(directory)
    import tempfile

    from storage import join, read_bytes

    local = Path(tempfile.mkdtemp(prefix="tf-model-"))
    for name in names:
        (local / name).write_bytes(read_bytes(join(str(directory), name)))
    return local


def with_expnet(base: Audio2Coeff, expnet: ExpNet) -> Audio2Coeff:
    """An Audio2Coeff that shares ``base``'s PoseVAE but predicts expressions with ``expnet``."""
    with torch.device("meta"):
        model = Audio2Coeff()
    model.expnet, model.posevae = expnet, base.posevae
    return model.eval()


@dataclass
class SizeModels:
    """The networks whose weights live in the per-size checkpoint file."""

    audio2coeff: Audio2Coeff
    recon: ReconNet
    renderer: FaceRenderer


class ModelStore:
    """Lazily loaded, cached networks on one device: per render size, per mapping kind, per ExpNet/head."""

    def __init__(
        self,
        checkpoint_dir: str | Path | None = None,
        model_config: str = "official",
        device: str = "cpu",
        seed: int = 0,
        render_options: RenderOptions | None = None,
    ) -> None:
        self.checkpoint_dir = checkpoint_dir
        self.render_options = render_options or RenderOptions()
        self.renderer_config = renderer_config(model_config)
        self.model_config = model_config
        self.device = torch.device(device)
        self.seed = seed
        notices = ((STAND_IN_WARNING, checkpoint_dir is None), (TINY_WARNING, model_config == "tiny"))
        self.warnings: tuple[str, ...] = tuple(text for text, on in notices if on)
        for warning in self.warnings:
            log.warning(warning)
        self._cache: dict[tuple, object] = {}

    def _cached(self, key: tuple, build: Callable[[], object]) -> object:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def size_models(self, size: int) -> SizeModels:
        """Audio2Coeff, recon net and renderer for render ``size`` (loaded on first use)."""
        return self._cached(("size", size), lambda: self._load_size(size))

    def audio2coeff(
        self, size: int, expnet_checkpoint: str | None = None, posevae_checkpoint: str | None = None
    ) -> Audio2Coeff:
        """ExpNet + PoseVAE of the ``size`` checkpoint, either optionally replaced by a trained one."""
        base = self.size_models(size).audio2coeff
        if expnet_checkpoint is None and posevae_checkpoint is None:
            return base
        expnet = base.expnet
        if expnet_checkpoint is not None:
            expnet = self._cached(
                ("expnet", str(expnet_checkpoint)), lambda: load_expnet(expnet_checkpoint).to(self.device)
            )
        model = with_expnet(base, expnet)
        if posevae_checkpoint is not None:
            model.posevae = self._cached(
                ("posevae", str(posevae_checkpoint)),
                lambda: load_trained_posevae(posevae_checkpoint).to(self.device),
            )
        return model

    def mapping(self, full: bool) -> MappingNet:
        """MappingNet with 73 input channels for the full modes (``mapping_00109``), else 70."""
        return self._cached(("mapping", full), lambda: self._load_mapping(full))

    def head(self, directory: str | Path) -> nn.Module:
        """A saved emotion head (``talkingface.emotion``) on this store's device."""
        from talkingface.emotion import load_head

        return self._cached(("head", str(directory)), lambda: load_head(directory, self.device))

    def _load_size(self, size: int) -> SizeModels:
        """Load (or stand in) every per-size network in one pass over the checkpoint file."""
        audio2coeff = _seeded(Audio2Coeff, self.seed)
        recon = _seeded(ReconNet, self.seed + 1)
        states = {}
        if self.checkpoint_dir is not None:
            parts = ["audio2exp", "audio2pose", "face_3drecon"]
            if self.model_config == "official":
                parts += ["kp_extractor", "generator"]
            states = read_parts(self.checkpoint_dir, parts, size=size)
            load_state(audio2coeff.expnet, states["audio2exp"], "part 'audio2exp'")
            load_state(audio2coeff.posevae, states["audio2pose"], "part 'audio2pose'")
            load_state(recon, states["face_3drecon"], "part 'face_3drecon'")
        if "generator" in states:
            nets = load_renderer(self.renderer_config, states["kp_extractor"], states["generator"])
        else:
            nets = build_renderer(self.renderer_config, self.seed + 2)
        return SizeModels(
            audio2coeff=audio2coeff.to(self.device).eval(),
            recon=recon.to(self.device).eval(),
            renderer=FaceRenderer(*nets, self.render_options, self.device),
        )

    def _load_mapping(self, full: bool) -> MappingNet:
        config = MappingConfig(coeff_nc=73 if full else 70)
        net = _seeded(lambda: MappingNet(config), self.seed + 3)
        if self.checkpoint_dir is not None:
            name = "mapping_full" if full else "mapping"
            load_state(net, read_parts(self.checkpoint_dir, [name])[name], f"part {name!r}")
        return net.to(self.device).eval()
