"""ReconNet: Deep3DFaceRecon's 3DMM regressor, an aligned 224x224 face crop -> 257 coefficients.

ResNet-50 trunk (``backbone.*``) -> pooled [B, 2048, 1, 1] -> seven parallel 1x1 conv heads
(``final_layers.0..6``) for id 80 | exp 64 | tex 80 | angle 3 | gamma 27 | trans xy 2 | trans z 1,
concatenated in that order (``talkingface.coeffs.FULL_257``). Key names match the checkpoint part
``face_3drecon`` (prefix ``face_3drecon.`` in the safetensors, ``epoch_20.pth["net_recon"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from talkingface.coeffs import FULL_257
from talkingface.models.resnet import ResNetConfig, ResNetTrunk


@dataclass(frozen=True)
class ReconConfig:
    """Head sizes (sum 257) and the input side; the trunk is a ResNet-50."""

    heads: tuple[int, ...] = (80, 64, 80, 3, 27, 2, 1)
    input_size: int = 224
    trunk: ResNetConfig = field(default_factory=ResNetConfig)

    def __post_init__(self) -> None:
        if sum(self.heads) != FULL_257.dim:
            raise ValueError(f"heads {self.heads} sum to {sum(self.heads)}, expected {FULL_257.dim}")


class ReconNet(nn.Module):
    """RGB crops [B, 3, 224, 224] in [0, 1] (no mean/std normalisation) -> coefficients [B, 257]."""

    def __init__(self, config: ReconConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ReconConfig()
        self.backbone = ResNetTrunk(config.trunk)
        feat = config.trunk.out_channels
        self.final_layers = nn.ModuleList(nn.Conv2d(feat, n, 1) for n in config.heads)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = self.config.input_size
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, size, size):
            raise ValueError(f"images: expected [B, 3, {size}, {size}], got {tuple(images.shape)}")
        feat = self.backbone(images)  # [B, 2048, 1, 1]
        heads = torch.cat([layer(feat) for layer in self.final_layers], dim=1)  # [B, 257, 1, 1]
        return heads.flatten(1)  # [B, 257]
