"""KPDetector: a source image -> 15 canonical 3-D keypoints (face-vid2vid, as used by SadTalker).

image [B,3,S,S] -> anti-aliased x0.25 -> KPHourglass (2-D down to [B,1024,S/128,S/128], 1x1 conv, view as
[B,1024,16,.,.], 3-D up to [B,32,16,S/4,S/4]) -> Conv3d k3 to K heatmaps -> softmax (temperature 0.1)
over each volume -> expected (x, y, z) coordinate in [-1, 1]. Checkpoint keys (manifest part
``kp_extractor``): ``predictor.down_blocks.down{i}``, ``predictor.conv``, ``predictor.up_blocks.up{i}``,
``kp`` and the fixed Gaussian buffer ``down.weight``. Jacobians are not supported (SadTalker disables them).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from talkingface.models.blocks import DownBlock2d, UpBlock3d
from talkingface.models.grid3d import coordinate_grid


@dataclass(frozen=True)
class KPDetectorConfig:
    """Hyperparameters; names follow SadTalker's ``kp_detector_params`` (facerender.yaml)."""

    image_channel: int = 3
    num_kp: int = 15
    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    reshape_channel: int = (
        16384  # 1x1 conv output, viewed as [reshape_channel / reshape_depth, reshape_depth]
    )
    reshape_depth: int = 16
    temperature: float = 0.1
    scale_factor: float = 0.25

    def __post_init__(self) -> None:
        bottleneck = self.width(self.num_blocks)
        if self.reshape_channel != bottleneck * self.reshape_depth:
            raise ValueError(
                f"reshape_channel {self.reshape_channel} must be {bottleneck} (bottleneck) x "
                f"reshape_depth {self.reshape_depth}"
            )
        inv = 1 / self.scale_factor
        if not (0 < self.scale_factor <= 1 and inv == round(inv)):
            raise ValueError(f"scale_factor must be 1/n for an integer n, got {self.scale_factor}")

    def width(self, level: int) -> int:
        """Channels at hourglass level ``level``: block_expansion * 2^level, capped at max_features."""
        return min(self.max_features, self.block_expansion * 2**level)

    @classmethod
    def from_kwargs(cls, kwargs: dict) -> KPDetectorConfig:
        """From SadTalker's kwargs (manifest ``config.kwargs``); ``feature_channel`` is unused here."""
        kwargs = dict(kwargs)
        if kwargs.pop("estimate_jacobian", False):
            raise ValueError("kp_detector kwargs: estimate_jacobian=True is not supported")
        kwargs.pop("feature_channel", None)
        return cls(**kwargs)


class AntiAliasDownsample(nn.Module):
    """Gaussian blur (sigma = (1/scale - 1) / 2, zero padding) then keep every (1/scale)-th pixel."""

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        sigma = (1 / scale - 1) / 2
        size = 2 * round(sigma * 4) + 1
        self.pad = size // 2
        self.stride = round(1 / scale)
        ax = torch.arange(size, dtype=torch.float32)
        g = torch.exp(-((ax - (size - 1) / 2) ** 2) / (2 * sigma**2))
        kernel = g[:, None] * g[None, :]
        self.register_buffer("weight", (kernel / kernel.sum()).expand(channels, 1, size, size).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, C, H*scale, W*scale]
        x = F.pad(x, (self.pad, self.pad, self.pad, self.pad))
        x = F.conv2d(x, self.weight, groups=x.shape[1])
        return x[:, :, :: self.stride, :: self.stride]


class KPHourglass(nn.Module):
    """2-D encoder to a bottleneck, 1x1 conv, view as a 3-D volume, 3-D decoder (no skips)."""

    def __init__(self, cfg: KPDetectorConfig) -> None:
        super().__init__()
        n = cfg.num_blocks
        self.down_blocks = nn.Sequential()
        for i in range(n):
            in_features = cfg.image_channel if i == 0 else cfg.width(i)
            self.down_blocks.add_module(f"down{i}", DownBlock2d(in_features, cfg.width(i + 1)))
        self.conv = nn.Conv2d(cfg.width(n), cfg.reshape_channel, kernel_size=1)
        self.up_blocks = nn.Sequential()
        for i in range(n):
            self.up_blocks.add_module(f"up{i}", UpBlock3d(cfg.width(n - i), cfg.width(n - i - 1)))
        self.reshape_depth = cfg.reshape_depth
        self.out_features = cfg.width(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 3, h, w] -> [B, be, D, h, w]
        x = self.conv(self.down_blocks(x))  # [B, reshape_channel, h/2^n, w/2^n]
        b, c, h, w = x.shape
        x = x.reshape(b, c // self.reshape_depth, self.reshape_depth, h, w)
        return self.up_blocks(x)


class KPDetector(nn.Module):
    """Canonical keypoints [B, K, 3] of a source image [B, 3, S, S] in [0, 1]."""

    def __init__(self, config: KPDetectorConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or KPDetectorConfig()
        # Registration order = the checkpoint's state_dict order (predictor, kp, down).
        self.predictor = KPHourglass(cfg)
        self.kp = nn.Conv3d(self.predictor.out_features, cfg.num_kp, kernel_size=3, padding=1)
        self.down = (
            AntiAliasDownsample(cfg.image_channel, cfg.scale_factor) if cfg.scale_factor != 1 else None
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if image.ndim != 4 or image.shape[1] != cfg.image_channel:
            raise ValueError(f"image must be [B, {cfg.image_channel}, H, W], got {tuple(image.shape)}")
        small = image if self.down is None else self.down(image)  # [B, 3, S/4, S/4]
        logits = self.kp(self.predictor(small))  # [B, K, D, S/4, S/4]
        b, k, d, h, w = logits.shape
        heat = F.softmax(logits.reshape(b, k, -1) / cfg.temperature, dim=2).view(b, k, d, h, w, 1)
        grid = coordinate_grid(d, h, w, dtype=heat.dtype, device=heat.device)  # [D, H, W, 3]
        return (heat * grid).sum(dim=(2, 3, 4))  # [B, K, 3]
