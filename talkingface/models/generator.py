"""OcclusionAwareSPADEGenerator: source image + source/driving keypoints -> rendered frame.

encode:  image [B,3,S,S] -> SameBlock2d 3->64 -> DownBlock2d 64->128 -> 128->256 -> 1x1 conv to 512 ->
         view [B,32,16,S/4,S/4] -> 6 ResBlock3d                                  (per source image)
motion:  DenseMotionNetwork(feature, kp_driving, kp_source) -> deformation, occlusion (per frame)
decode:  grid_sample(feature, deformation) -> view [B,512,S/4,S/4] -> SameBlock2d (LeakyReLU) 512->256 ->
         1x1 conv -> x occlusion -> SPADEDecoder -> [B,3,S,S] in (0, 1)
Weights are resolution independent (256 and 512 share them). Checkpoint keys (manifest part
``generator``): ``dense_motion_network``, ``first``, ``down_blocks.{i}``, ``second``, ``resblocks_3d.3dr{i}``,
``third``, ``fourth``, ``decoder``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from talkingface.models.blocks import DownBlock2d, ResBlock3d, SameBlock2d
from talkingface.models.dense_motion import DenseMotion, DenseMotionConfig, DenseMotionNetwork
from talkingface.models.spade import SPADEDecoder


@dataclass(frozen=True)
class GeneratorConfig:
    """Hyperparameters; names follow SadTalker's ``generator_params`` (facerender.yaml)."""

    image_channel: int = 3
    block_expansion: int = 64
    max_features: int = 512  # channels of the 1x1 conv, viewed as reshape_channel x reshape_depth
    num_down_blocks: int = 2
    reshape_channel: int = 32
    reshape_depth: int = 16
    num_resblocks: int = 6
    spade_hidden: int = 128  # SPADE's mlp_shared width (hard-coded in SadTalker)
    dense_motion: DenseMotionConfig = field(default_factory=DenseMotionConfig)

    def __post_init__(self) -> None:
        if self.max_features != self.reshape_channel * self.reshape_depth:
            raise ValueError(
                f"max_features {self.max_features} must equal reshape_channel {self.reshape_channel} x "
                f"reshape_depth {self.reshape_depth}"
            )
        dm = self.dense_motion
        if (dm.feature_channel, dm.reshape_depth) != (self.reshape_channel, self.reshape_depth):
            raise ValueError(
                f"dense_motion feature_channel {dm.feature_channel} / reshape_depth {dm.reshape_depth} "
                f"must match the generator's reshape_channel {self.reshape_channel} / "
                f"reshape_depth {self.reshape_depth}"
            )

    @property
    def num_kp(self) -> int:
        return self.dense_motion.num_kp

    @property
    def decoder_channels(self) -> int:
        """Channels of the warped 2-D feature fed to the SPADE decoder (256 officially)."""
        return self.block_expansion * 2**self.num_down_blocks

    @classmethod
    def from_kwargs(cls, kwargs: dict) -> GeneratorConfig:
        """From SadTalker's kwargs (manifest ``config.kwargs``, with nested ``dense_motion_params``)."""
        kwargs = dict(kwargs)
        if kwargs.pop("estimate_jacobian", False):
            raise ValueError("generator kwargs: estimate_jacobian=True is not supported")
        if not kwargs.pop("estimate_occlusion_map", True):
            raise ValueError("generator kwargs: estimate_occlusion_map=False is not supported")
        dense = DenseMotionConfig(
            num_kp=kwargs.pop("num_kp"),
            feature_channel=kwargs.pop("feature_channel"),
            **kwargs.pop("dense_motion_params"),
        )
        return cls(dense_motion=dense, **kwargs)


class OcclusionAwareSPADEGenerator(nn.Module):
    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or GeneratorConfig()
        width = [min(cfg.max_features, cfg.block_expansion * 2**i) for i in range(cfg.num_down_blocks + 1)]
        # Registration order = the checkpoint's state_dict order.
        self.dense_motion_network = DenseMotionNetwork(cfg.dense_motion)
        self.first = SameBlock2d(cfg.image_channel, cfg.block_expansion)
        self.down_blocks = nn.ModuleList(
            DownBlock2d(width[i], width[i + 1]) for i in range(cfg.num_down_blocks)
        )
        self.second = nn.Conv2d(width[-1], cfg.max_features, kernel_size=1)
        self.resblocks_3d = nn.Sequential()
        for i in range(cfg.num_resblocks):
            self.resblocks_3d.add_module(f"3dr{i}", ResBlock3d(cfg.reshape_channel))
        self.third = SameBlock2d(cfg.max_features, cfg.decoder_channels, lrelu=True)
        self.fourth = nn.Conv2d(cfg.decoder_channels, cfg.decoder_channels, kernel_size=1)
        self.decoder = SPADEDecoder(cfg.decoder_channels, cfg.block_expansion, cfg.spade_hidden)

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """Source image [B, 3, S, S] in [0, 1] -> feature volume [B, C, D, S/4, S/4] (C, D = reshape_*)."""
        cfg = self.config
        if image.ndim != 4 or image.shape[1] != cfg.image_channel:
            raise ValueError(f"source image must be [B, {cfg.image_channel}, H, W], got {tuple(image.shape)}")
        x = self.first(image)
        for block in self.down_blocks:
            x = block(x)
        x = self.second(x)  # [B, max_features, h, w]
        b, _, h, w = x.shape
        return self.resblocks_3d(x.reshape(b, cfg.reshape_channel, cfg.reshape_depth, h, w))

    def motion(self, feature: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor) -> DenseMotion:
        """Dense motion of B frames: feature [B, ...], kp_driving [B, K, 3], kp_source [B or 1, K, 3]."""
        k = self.config.num_kp
        b = feature.shape[0]
        if kp_driving.shape != (b, k, 3):
            raise ValueError(
                f"kp_driving must be [{b}, {k}, 3] (one row per feature), got {tuple(kp_driving.shape)}"
            )
        if kp_source.ndim != 3 or kp_source.shape[0] not in (1, b) or kp_source.shape[1:] != (k, 3):
            raise ValueError(f"kp_source must be [{b} or 1, {k}, 3], got {tuple(kp_source.shape)}")
        return self.dense_motion_network(feature, kp_driving, kp_source)

    def warp(self, feature: torch.Tensor, motion: DenseMotion) -> torch.Tensor:
        """Warp ``feature`` [B, C, D, h, w] by ``motion`` -> occluded 2-D feature [B, C_dec, h, w]."""
        warped = F.grid_sample(feature, motion.deformation, align_corners=False)  # [B, C, D, h, w]
        b, c, d, h, w = warped.shape
        x = self.fourth(self.third(warped.reshape(b, c * d, h, w)))  # [B, decoder_channels, h, w]
        return x * motion.occlusion_map

    def decode(self, feature: torch.Tensor, motion: DenseMotion) -> torch.Tensor:
        """Warp ``feature`` [B, C, D, h, w] by ``motion`` and decode to images [B, 3, 4h, 4w]."""
        return self.decoder(self.warp(feature, motion))

    def forward(self, image: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor) -> torch.Tensor:
        """Frames [B, 3, S, S] for a source image [B, 3, S, S] and keypoints [B, K, 3]."""
        feature = self.encode(image)
        return self.decode(feature, self.motion(feature, kp_driving, kp_source))
