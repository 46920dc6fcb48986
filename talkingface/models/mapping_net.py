"""MappingNet: a 27-frame window of 3DMM coefficients -> head pose bins, translation and keypoint offsets.

SadTalker's renderer does not read 3DMM coefficients directly; this 1-D conv net maps each frame's
coefficient window (PIRender-style semantics, ``talkingface.render.semantics``) to the face-vid2vid
motion parameters that ``talkingface.render.keypoints`` turns into 3-D keypoints.

Checkpoint keys (manifest parts ``mapping`` with coeff_nc 70 and ``mapping_full`` with 73) are kept
verbatim: ``first.0``, ``encoder{i}.1`` and ``fc_{roll,pitch,yaw,t,exp}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

KERNEL_FIRST = 7  # first conv: length L -> L - 6
KERNEL_RES, DILATION_RES = 3, 3  # residual convs: length L -> L - 6, residual from out[:, :, 3:-3]


@dataclass(frozen=True)
class MappingConfig:
    """Hyperparameters; field names follow SadTalker's ``mapping_params`` (facerender.yaml)."""

    coeff_nc: int = 70  # 70 (crop/extcrop/resize) or 73 (full/extfull: crop params appended)
    descriptor_nc: int = 1024
    layer: int = 3
    num_kp: int = 15
    num_bins: int = 66
    window: int = 27  # 2 * semantic_radius + 1

    def __post_init__(self) -> None:
        shrink = (KERNEL_FIRST - 1) + self.layer * (KERNEL_RES - 1) * DILATION_RES
        if self.window <= shrink:
            raise ValueError(f"window {self.window} too short for {self.layer} layers (needs > {shrink})")


class HeadMotion(NamedTuple):
    """MappingNet output for B frames: pose logits over ``num_bins`` bins, translation, keypoint offsets."""

    yaw: torch.Tensor  # [B, num_bins]
    pitch: torch.Tensor  # [B, num_bins]
    roll: torch.Tensor  # [B, num_bins]
    t: torch.Tensor  # [B, 3]
    exp: torch.Tensor  # [B, num_kp * 3]


class MappingNet(nn.Module):
    """Conv1d k7 -> ``layer`` residual (LeakyReLU 0.1, dilated conv k3) blocks -> mean pool -> 5 heads."""

    def __init__(self, config: MappingConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or MappingConfig()
        self.first = nn.Sequential(nn.Conv1d(cfg.coeff_nc, cfg.descriptor_nc, KERNEL_FIRST))
        for i in range(cfg.layer):
            block = nn.Sequential(
                nn.LeakyReLU(0.1),
                nn.Conv1d(cfg.descriptor_nc, cfg.descriptor_nc, KERNEL_RES, dilation=DILATION_RES),
            )
            self.add_module(f"encoder{i}", block)
        # Registration order = the checkpoint's state_dict order.
        self.fc_roll = nn.Linear(cfg.descriptor_nc, cfg.num_bins)
        self.fc_pitch = nn.Linear(cfg.descriptor_nc, cfg.num_bins)
        self.fc_yaw = nn.Linear(cfg.descriptor_nc, cfg.num_bins)
        self.fc_t = nn.Linear(cfg.descriptor_nc, 3)
        self.fc_exp = nn.Linear(cfg.descriptor_nc, 3 * cfg.num_kp)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], window: int = 27) -> MappingNet:
        """Build a net whose sizes are read off ``state`` (keys without prefix) and load it strictly."""
        missing = [k for k in ("first.0.weight", "fc_yaw.weight", "fc_exp.weight") if k not in state]
        if missing:
            raise KeyError(f"mapping state dict lacks {missing}; has {sorted(state)[:6]}...")
        descriptor_nc, coeff_nc, _ = state["first.0.weight"].shape
        config = MappingConfig(
            coeff_nc=coeff_nc,
            descriptor_nc=descriptor_nc,
            layer=sum(1 for k in state if k.startswith("encoder") and k.endswith(".1.weight")),
            num_kp=state["fc_exp.weight"].shape[0] // 3,
            num_bins=state["fc_yaw.weight"].shape[0],
            window=window,
        )
        net = cls(config)
        net.load_state_dict(state, strict=True)
        return net.eval()

    def forward(self, semantics: torch.Tensor) -> HeadMotion:
        """``semantics`` [B, coeff_nc, window] -> HeadMotion of B frames."""
        cfg = self.config
        if semantics.ndim != 3 or semantics.shape[1:] != (cfg.coeff_nc, cfg.window):
            raise ValueError(
                f"semantics must be [B, {cfg.coeff_nc}, {cfg.window}], got {tuple(semantics.shape)}"
            )
        crop = (KERNEL_RES - 1) * DILATION_RES // 2
        out = self.first(semantics)  # [B, D, 21]
        for i in range(cfg.layer):
            out = getattr(self, f"encoder{i}")(out) + out[:, :, crop:-crop]  # [B, D, 15], then 9, 3
        feature = F.adaptive_avg_pool1d(out, 1).flatten(1)  # [B, D]
        return HeadMotion(
            yaw=self.fc_yaw(feature),  # [B, 66]
            pitch=self.fc_pitch(feature),  # [B, 66]
            roll=self.fc_roll(feature),  # [B, 66]
            t=self.fc_t(feature),  # [B, 3]
            exp=self.fc_exp(feature),  # [B, 45]
        )
