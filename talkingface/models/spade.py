"""SPADE decoder of the face renderer: a 256-ch warped feature map -> RGB image at 4x its size.

feature [B,256,h,w] -> conv3x3 to 512 -> 6 SPADEResnetBlock(512) -> nearest x2 -> block 512->256 ->
nearest x2 -> block 256->64 -> LeakyReLU 0.2 -> conv3x3 to 3 -> sigmoid -> [B,3,4h,4w]. Each block's
norms are SPADE: InstanceNorm (no affine) modulated by gamma/beta convolved from the segmentation map,
which is the decoder's own input feature (nearest-resized). The block convs are spectrally normalised.
Under bf16/fp16 autocast the residual stream and the SPADE modulation stay float32 (the convolutions
take low-precision operands; their results join the float32 stream): rounding the stream to bf16 at
every block is a measurable share of the bf16 frame error. In float32 the casts are no-ops.
Checkpoint keys (inside ``generator.decoder``): ``fc``, ``G_middle_{i}``, ``up_0``, ``up_1``, ``conv_img``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LEAKY_SLOPE = 0.2


class SpectralNormConv2d(nn.Module):
    """Conv2d whose weight is ``weight_orig / sigma``, sigma = u . (W v) from the stored u, v.

    This is the inference behaviour of ``torch.nn.utils.spectral_norm`` (eval mode: no power
    iteration) with its checkpoint keys ``weight_orig``, ``weight_u``, ``weight_v`` (and ``bias``),
    without the hooks.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> None:
        super().__init__()
        # Registration order = the checkpoint's state_dict order (bias, weight_orig, weight_u, weight_v).
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        weight = torch.empty(out_channels, in_channels, kernel_size, kernel_size)
        nn.init.kaiming_uniform_(weight, a=5**0.5)
        self.weight_orig = nn.Parameter(weight)
        self.register_buffer("weight_u", torch.empty(out_channels))
        self.register_buffer("weight_v", F.normalize(torch.randn(weight[0].numel()), dim=0))
        self.padding = kernel_size // 2
        self.reset_u()

    @torch.no_grad()
    def reset_u(self) -> None:
        """Set u = normalize(W v), as a converged power iteration leaves it; call after changing W."""
        self.weight_u.copy_(F.normalize(self.weight_orig.flatten(1) @ self.weight_v, dim=0))

    def weight(self) -> torch.Tensor:
        """weight_orig / sigma, computed outside autocast so sigma keeps the parameters' precision."""
        with torch.autocast(self.weight_orig.device.type, enabled=False):
            sigma = torch.dot(self.weight_u, torch.mv(self.weight_orig.flatten(1), self.weight_v))
            return self.weight_orig / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, Cin, H, W] -> [B, Cout, H, W]
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)


class SPADE(nn.Module):
    """InstanceNorm(x) * (1 + gamma(seg)) + beta(seg), seg nearest-resized to x's size."""

    def __init__(self, norm_nc: int, label_nc: int, hidden: int) -> None:
        super().__init__()
        self.param_free_norm = nn.InstanceNorm2d(norm_nc, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, kernel_size=3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, kernel_size=3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:  # x [B,C,H,W], seg [B,L,h,w]
        normalized = self.param_free_norm(x.float())
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(seg)  # [B, hidden, H, W]
        return normalized * (1 + self.mlp_gamma(actv).float()) + self.mlp_beta(actv).float()


class SPADEResnetBlock(nn.Module):
    """x_s + conv_1(act(norm_1(conv_0(act(norm_0(x, seg))), seg))); x_s is a learned 1x1 when fin != fout."""

    def __init__(self, fin: int, fout: int, label_nc: int, hidden: int) -> None:
        super().__init__()
        fmiddle = min(fin, fout)
        self.conv_0 = SpectralNormConv2d(fin, fmiddle, kernel_size=3)
        self.conv_1 = SpectralNormConv2d(fmiddle, fout, kernel_size=3)
        self.conv_s = SpectralNormConv2d(fin, fout, kernel_size=1, bias=False) if fin != fout else None
        self.norm_0 = SPADE(fin, label_nc, hidden)
        self.norm_1 = SPADE(fmiddle, label_nc, hidden)
        self.norm_s = SPADE(fin, label_nc, hidden) if fin != fout else None

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:  # [B,fin,H,W] -> [B,fout,H,W]
        x_s = x if self.conv_s is None else self.conv_s(self.norm_s(x, seg))
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), LEAKY_SLOPE))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), LEAKY_SLOPE))
        return x_s + dx


class SPADEDecoder(nn.Module):
    """Warped feature [B, C, h, w] -> image [B, 3, 4h, 4w] in (0, 1)."""

    def __init__(
        self, in_channels: int = 256, out_channels: int = 64, hidden: int = 128, num_middle: int = 6
    ) -> None:
        super().__init__()
        mid = 2 * in_channels
        self.fc = nn.Conv2d(in_channels, mid, kernel_size=3, padding=1)
        for i in range(num_middle):
            self.add_module(f"G_middle_{i}", SPADEResnetBlock(mid, mid, in_channels, hidden))
        self.num_middle = num_middle
        self.up_0 = SPADEResnetBlock(mid, in_channels, in_channels, hidden)
        self.up_1 = SPADEResnetBlock(in_channels, out_channels, in_channels, hidden)
        self.conv_img = nn.Conv2d(out_channels, 3, kernel_size=3, padding=1)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        x = self.fc(feature).float()  # [B, 2C, h, w], the float32 residual stream
        for i in range(self.num_middle):
            x = getattr(self, f"G_middle_{i}")(x, feature)
        x = self.up_0(F.interpolate(x, scale_factor=2), feature)  # [B, C, 2h, 2w]
        x = self.up_1(F.interpolate(x, scale_factor=2), feature)  # [B, out, 4h, 4w]
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, LEAKY_SLOPE)).float())
