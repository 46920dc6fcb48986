"""Face-renderer model configs (official and ``tiny``), and building / loading the two networks.

``official`` is SadTalker's facerender.yaml (= the manifest's ``kp_extractor`` and ``generator`` kwargs),
the same for the 256 and 512 checkpoints. ``tiny`` uses the SAME classes with every width cut down and
the volumes made shallower, so the whole renderer runs in well under a second per frame on a CPU; it
exists for pipeline tests and benchmarks of the plumbing, not for pictures:

* KPDetector: block_expansion 32 -> 4, max_features 1024 -> 32, volume depth 16 -> 4
  (reshape_channel 16384 -> 32 x 4 = 128).
* Generator: block_expansion 64 -> 8, feature volume 32 ch x 16 deep -> 8 ch x 4 deep (max_features
  512 -> 32), 6 -> 2 3-D residual blocks, SPADE hidden width 128 -> 16 (decoder 256/512/64 -> 32/64/8 ch).
* DenseMotionNetwork: block_expansion 32 -> 4, max_features 1024 -> 32, compress 4 -> 1.

Kept as is: 15 keypoints, 5 hourglass levels (so image sides stay multiples of 128), x0.25 keypoint
input, the 6 SPADE middle blocks, every kernel size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from talkingface.models.dense_motion import DenseMotionConfig
from talkingface.models.generator import GeneratorConfig, OcclusionAwareSPADEGenerator
from talkingface.models.kp_detector import KPDetector, KPDetectorConfig
from talkingface.models.spade import SpectralNormConv2d


@dataclass(frozen=True)
class RendererConfig:
    """The two renderer networks' configs."""

    kp_detector: KPDetectorConfig
    generator: GeneratorConfig

    @classmethod
    def from_manifest(cls, manifest: dict) -> RendererConfig:
        """From an oracle manifest's ``kp_extractor`` / ``generator`` ``config.kwargs``."""
        return cls(
            kp_detector=KPDetectorConfig.from_kwargs(manifest["kp_extractor"]["config"]["kwargs"]),
            generator=GeneratorConfig.from_kwargs(manifest["generator"]["config"]["kwargs"]),
        )

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this (both hourglasses halve the side 2^num_blocks times)."""
        kp, gen = self.kp_detector, self.generator
        kp_multiple = round(1 / kp.scale_factor) * 2**kp.num_blocks
        gen_multiple = 2**gen.num_down_blocks * 2**gen.dense_motion.num_blocks
        return max(kp_multiple, gen_multiple)


OFFICIAL = RendererConfig(kp_detector=KPDetectorConfig(), generator=GeneratorConfig())

TINY = RendererConfig(
    kp_detector=KPDetectorConfig(block_expansion=4, max_features=32, reshape_channel=32 * 4, reshape_depth=4),
    generator=GeneratorConfig(
        block_expansion=8,
        max_features=8 * 4,
        reshape_channel=8,
        reshape_depth=4,
        num_resblocks=2,
        spade_hidden=16,
        dense_motion=DenseMotionConfig(
            feature_channel=8, block_expansion=4, max_features=32, reshape_depth=4, compress=1
        ),
    ),
)

CONFIGS = {"official": OFFICIAL, "tiny": TINY}


def renderer_config(name: str) -> RendererConfig:
    """``official`` or ``tiny``."""
    if name not in CONFIGS:
        raise ValueError(f"unknown renderer config {name!r}; choose one of {sorted(CONFIGS)}")
    return CONFIGS[name]


def build_renderer(config: RendererConfig, seed: int = 0) -> tuple[KPDetector, OcclusionAwareSPADEGenerator]:
    """Both networks in eval mode, randomly initialised from ``seed`` (the global RNG is left untouched).

    Every conv weight is He-normal (std sqrt(2 / fan_in)); with torch's default init the keypoints
    collapse towards 0 and the frames barely depend on them.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        nets = KPDetector(config.kp_detector).eval(), OcclusionAwareSPADEGenerator(config.generator).eval()
        for net in nets:
            _he_init(net)
    return nets


@torch.no_grad()
def _he_init(net: torch.nn.Module) -> None:
    for param in net.parameters():
        if param.ndim >= 2:
            param.normal_(0.0, math.sqrt(2.0 / param[0].numel()))
    for module in net.modules():
        if isinstance(module, SpectralNormConv2d):
            module.reset_u()


def load_renderer(
    config: RendererConfig,
    kp_detector_state: dict[str, torch.Tensor],
    generator_state: dict[str, torch.Tensor],
) -> tuple[KPDetector, OcclusionAwareSPADEGenerator]:
    """Both networks in eval mode holding the given state dicts (official keys, no part prefix), strictly."""
    with torch.device("meta"):  # no random init: every tensor comes from the state dicts
        nets = KPDetector(config.kp_detector).eval(), OcclusionAwareSPADEGenerator(config.generator).eval()
    for name, net, state in zip(
        ("kp_extractor", "generator"), nets, (kp_detector_state, generator_state), strict=True
    ):
        try:
            net.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as err:
            raise ValueError(
                f"{name} state dict does not fit {type(net).__name__} with this config: {err}"
            ) from err
    return nets
