"""PoseVAE training: 32-frame pose chunks, the CVAE's losses and the motion discriminator's, exports.

As in SadTalker's paper, the CVAE learns head-motion residuals (pose minus the clip's first-frame pose)
of a chunk from its audio and a pose-style class, with a KL term on the latent, a reconstruction term
and an adversarial term from the motion discriminator (least-squares GAN). The audio encoder keeps its
(pretrained or stand-in) weights: only the CVAE and the discriminator train.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from talkingface.models.posevae import Audio2Pose, PoseVAEConfig

WEIGHTS_FILE, CONFIG_FILE = "posevae.safetensors", "config.json"


def pose_chunks(pose: Tensor, mels: Tensor, seq_len: int = 32) -> tuple[Tensor, Tensor, Tensor]:
    """One clip -> (ref [N, 6], motion [N, S, 6], mels [N, S, 1280]) over its full chunks.

    Chunks start at frame 1 as at inference (frame 0 is the reference, residual 0); a clip of T frames
    has (T - 1) // S full chunks (possibly none).
    """
    count = (pose.shape[0] - 1) // seq_len
    span = slice(1, 1 + count * seq_len)
    ref = pose[:1].expand(count, -1)
    motion = (pose[span] - pose[:1]).reshape(count, seq_len, pose.shape[-1])
    return ref, motion, mels[span].reshape(count, seq_len, mels.shape[-1])


class PoseGenerator(nn.Module):
    """The trainable CVAE with its (frozen) audio encoder: the DDP unit of the generator step."""

    def __init__(self, posevae: Audio2Pose) -> None:
        super().__init__()
        self.audio_encoder = posevae.audio_encoder
        self.netG = posevae.netG
        self.audio_encoder.requires_grad_(False)

    def forward(
        self, mels: Tensor, ref: Tensor, motion: Tensor, cls: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """mels [B,S,1280], ref [B,6], motion [B,S,6], cls [B] -> recon [B,S,6], mu, logvar [B,z]."""
        with torch.no_grad():
            audio = self.audio_encoder(mels.reshape(*mels.shape[:2], 1, 80, 16))  # [B, S, 512]
        mu, logvar = self.netG.encoder(motion, ref, audio, cls)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.netG.decoder(z, ref, audio, cls), mu, logvar


def kl_loss(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)), summed over the latent, averaged over the batch."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)).mean()


def generator_loss(
    recon: Tensor,
    motion: Tensor,
    mu: Tensor,
    logvar: Tensor,
    fake_logits: Tensor,
    kl_weight: float,
    adv_weight: float,
) -> tuple[Tensor, dict[str, float]]:
    """Reconstruction MSE + ``kl_weight`` KL + ``adv_weight`` LSGAN term (fakes judged real)."""
    rec, kl = F.mse_loss(recon, motion), kl_loss(mu, logvar)
    adv = F.mse_loss(fake_logits, torch.ones_like(fake_logits))
    total = rec + kl_weight * kl + adv_weight * adv
    return total, {"rec": rec.item(), "kl": kl.item(), "adv": adv.item()}


def discriminator_loss(logits: Tensor, n_real: int) -> Tensor:
    """LSGAN loss of one discriminator pass over [real; fake]: real -> 1, fake -> 0."""
    target = torch.zeros_like(logits)
    target[:n_real] = 1.0
    return F.mse_loss(logits, target)


def save_posevae(posevae: Audio2Pose, classes: list[str], style_by: str, directory: str | Path) -> Path:
    """Write ``posevae.safetensors`` (official key names) and ``config.json`` (style classes in order)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in posevae.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE))
    config = {"kind": "posevae", "style_by": style_by, "classes": classes}
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return directory


def load_posevae(directory: str | Path) -> tuple[Audio2Pose, dict]:
    """A trained PoseVAE (eval mode) and its config (``classes``: the pose-style names by index)."""
    directory = Path(directory)
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory}: missing {name} (not a trained PoseVAE export)")
    config = json.loads((directory / CONFIG_FILE).read_text())
    if config.get("kind") != "posevae" or not config.get("classes"):
        raise ValueError(f"{directory / CONFIG_FILE}: not a PoseVAE export config")
    net = Audio2Pose(PoseVAEConfig())
    net.load_state_dict(load_file(str(directory / WEIGHTS_FILE)), strict=True)
    return net.eval(), config
