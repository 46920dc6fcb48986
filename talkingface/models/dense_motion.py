"""DenseMotionNetwork: source feature volume + source/driving keypoints -> dense 3-D warp and occlusion.

feature [B,32,D,h,w] -> 1x1x1 conv to 4 (+BN, ReLU) -> warped once per motion (identity + one per
keypoint: grid - kp_driving + kp_source) -> with driving-minus-source Gaussian heatmaps, [B,(K+1)*5,D,h,w]
-> 3-D hourglass -> 7x7x7 conv, softmax over the K+1 motions (mask) -> entries < 1e-3 zeroed ->
deformation = mask-weighted sum of the motions [B,D,h,w,3]; occlusion = sigmoid(conv7x7 of the
hourglass output viewed as 2-D) [B,1,h,w]. Checkpoint keys (inside ``generator.dense_motion_network``):
``hourglass.encoder.down_blocks.{i}``, ``hourglass.decoder.up_blocks.{i}``, ``hourglass.decoder.conv``,
``hourglass.decoder.norm``, ``mask``, ``compress``, ``norm``, ``occlusion``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from talkingface.models.blocks import DownBlock3d, UpBlock3d
from talkingface.models.grid3d import coordinate_grid, keypoint_gaussians

MASK_FLOOR = 1e-3  # mask weights below this are set to 0 before the weighted sum


@dataclass(frozen=True)
class DenseMotionConfig:
    """Hyperparameters; names follow SadTalker's ``dense_motion_params`` plus the generator's shared ones."""

    num_kp: int = 15
    feature_channel: int = 32  # channels of the generator's feature volume
    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    reshape_depth: int = 16  # depth of the feature volume (the occlusion conv sees depth * channels)
    compress: int = 4
    kp_variance: float = 0.01

    def width(self, level: int) -> int:
        """Hourglass channels at ``level``: block_expansion * 2^level, capped at max_features."""
        return min(self.max_features, self.block_expansion * 2**level)


class DenseMotion(NamedTuple):
    """Outputs for B frames."""

    mask: torch.Tensor  # [B, K+1, D, h, w] softmax over motions, before the MASK_FLOOR threshold
    deformation: torch.Tensor  # [B, D, h, w, 3] sampling grid (x, y, z) into the source volume
    occlusion_map: torch.Tensor  # [B, 1, h, w] in (0, 1)


class HourglassEncoder(nn.Module):
    def __init__(self, cfg: DenseMotionConfig, in_features: int) -> None:
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock3d(in_features if i == 0 else cfg.width(i), cfg.width(i + 1))
            for i in range(cfg.num_blocks)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # every level's output, input first
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class HourglassDecoder(nn.Module):
    def __init__(self, cfg: DenseMotionConfig, in_features: int) -> None:
        super().__init__()
        n = cfg.num_blocks
        self.up_blocks = nn.ModuleList(
            UpBlock3d((1 if i == n - 1 else 2) * cfg.width(i + 1), cfg.width(i)) for i in reversed(range(n))
        )
        self.out_features = cfg.block_expansion + in_features
        self.conv = nn.Conv3d(self.out_features, self.out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_features)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        *skips, out = skips
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return F.relu(self.norm(self.conv(out)))


class Hourglass3d(nn.Module):
    """U-Net over [B, Cin, D, h, w] (pools only h, w) -> [B, block_expansion + Cin, D, h, w]."""

    def __init__(self, cfg: DenseMotionConfig, in_features: int) -> None:
        super().__init__()
        self.encoder = HourglassEncoder(cfg, in_features)
        self.decoder = HourglassDecoder(cfg, in_features)
        self.out_features = self.decoder.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class DenseMotionNetwork(nn.Module):
    def __init__(self, config: DenseMotionConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DenseMotionConfig()
        motions = cfg.num_kp + 1
        # Registration order = the checkpoint's state_dict order.
        self.hourglass = Hourglass3d(cfg, in_features=motions * (cfg.compress + 1))
        self.mask = nn.Conv3d(self.hourglass.out_features, motions, kernel_size=7, padding=3)
        self.compress = nn.Conv3d(cfg.feature_channel, cfg.compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(cfg.compress)
        self.occlusion = nn.Conv2d(
            self.hourglass.out_features * cfg.reshape_depth, 1, kernel_size=7, padding=3
        )

    def sparse_motions(self, size: tuple[int, int, int], kp_driving: torch.Tensor, kp_source: torch.Tensor):
        """Per-motion sampling grids [B, K+1, D, h, w, 3]: identity, then grid - kp_driving + kp_source."""
        b = kp_driving.shape[0]
        identity = coordinate_grid(*size, dtype=kp_driving.dtype, device=kp_driving.device)[None, None]
        to_source = identity - kp_driving[:, :, None, None, None, :] + kp_source[:, :, None, None, None, :]
        return torch.cat([identity.expand(b, 1, *identity.shape[2:]), to_source], dim=1)

    def forward(
        self, feature: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor
    ) -> DenseMotion:
        """feature [B, C, D, h, w]; kp_driving [B, K, 3]; kp_source [B or 1, K, 3]."""
        b, _, d, h, w = feature.shape
        k1 = self.config.num_kp + 1
        feature = F.relu(self.norm(self.compress(feature)))  # [B, c, D, h, w]
        motions = self.sparse_motions((d, h, w), kp_driving, kp_source)  # [B, K+1, D, h, w, 3]
        repeated = feature[:, None].expand(b, k1, *feature.shape[1:]).reshape(b * k1, -1, d, h, w)
        deformed = F.grid_sample(repeated, motions.reshape(b * k1, d, h, w, 3), align_corners=False)
        deformed = deformed.reshape(b, k1, -1, d, h, w)  # [B, K+1, c, D, h, w]

        variance = self.config.kp_variance
        heat = keypoint_gaussians(kp_driving, (d, h, w), variance) - keypoint_gaussians(
            kp_source, (d, h, w), variance
        )
        heat = torch.cat([heat.new_zeros(b, 1, d, h, w), heat], dim=1)  # [B, K+1, D, h, w], background 0
        x = torch.cat([heat[:, :, None], deformed], dim=2).reshape(b, -1, d, h, w)  # [B, (K+1)(c+1), D, h, w]

        prediction = self.hourglass(x)  # [B, F, D, h, w]
        mask = F.softmax(self.mask(prediction), dim=1)  # [B, K+1, D, h, w]
        kept = torch.where(mask < MASK_FLOOR, torch.zeros_like(mask), mask)[
            :, :, None
        ]  # [B, K+1, 1, D, h, w]
        deformation = (motions.permute(0, 1, 5, 2, 3, 4) * kept).sum(dim=1).permute(0, 2, 3, 4, 1)
        occlusion_map = torch.sigmoid(self.occlusion(prediction.reshape(b, -1, h, w)))
        return DenseMotion(mask=mask, deformation=deformation, occlusion_map=occlusion_map)
