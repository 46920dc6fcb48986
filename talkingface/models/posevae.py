"""PoseVAE (SadTalker's Audio2Pose): a CVAE that turns audio + a style id into head-motion residuals.

Only the decoder runs at inference. The CVAE encoder and the motion discriminator are training-time
networks; they are defined so that the official checkpoint loads strictly.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from talkingface.models.audio_encoder import AudioEncoder
from talkingface.models.pose_unet import ResUnet

POSE_DIM = 6  # angle 3 | trans 3


@dataclass(frozen=True)
class PoseVAEConfig:
    """Sizes from ``auido2pose.yaml``."""

    seq_len: int = 32
    latent: int = 64
    num_classes: int = 46
    audio_emb_in: int = 512
    audio_emb_out: int = 6
    hidden: int = 128


class SequenceAudioEncoder(nn.Module):
    """[B, S, 1, 80, 16] mel windows -> [B, S, 512] (the Wav2Lip encoder applied frame by frame)."""

    def __init__(self) -> None:
        super().__init__()
        self.audio_encoder = AudioEncoder()

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        b, s = mels.shape[:2]
        return self.audio_encoder(mels.reshape(b * s, 1, 80, 16)).reshape(b, s, -1)


class CVAEEncoder(nn.Module):
    """Training only: (motion [B,S,6], ref [B,6], audio [B,S,512], class [B]) -> (mu, logvar) [B, latent]."""

    def __init__(self, cfg: PoseVAEConfig) -> None:
        super().__init__()
        seq = cfg.seq_len * POSE_DIM
        self.classbias = nn.Parameter(torch.zeros(cfg.num_classes, cfg.latent))
        self.resunet = ResUnet()
        in_size = POSE_DIM + seq + cfg.seq_len * cfg.audio_emb_out + cfg.latent  # 6 + 192 + 192 + 64 = 454
        self.MLP = nn.Sequential(OrderedDict(L0=nn.Linear(in_size, cfg.hidden), A0=nn.ReLU()))
        self.linear_means = nn.Linear(cfg.hidden, cfg.latent)
        self.linear_logvar = nn.Linear(cfg.hidden, cfg.latent)
        self.linear_audio = nn.Linear(cfg.audio_emb_in, cfg.audio_emb_out)

    def forward(
        self, motion: torch.Tensor, ref: torch.Tensor, audio_emb: torch.Tensor, cls: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b = motion.shape[0]
        pose_emb = self.resunet(motion.unsqueeze(1)).reshape(b, -1)  # [B, 192]
        audio = self.linear_audio(audio_emb).reshape(b, -1)  # [B, 192]
        hidden = self.MLP(torch.cat([ref, pose_emb, audio, self.classbias[cls]], dim=-1))  # [B, 128]
        return self.linear_means(hidden), self.linear_logvar(hidden)


class CVAEDecoder(nn.Module):
    """(z [B,latent], ref [B,6], audio [B,S,512], class [B]) -> motion residuals [B, S, 6]."""

    def __init__(self, cfg: PoseVAEConfig) -> None:
        super().__init__()
        self.seq_len = cfg.seq_len
        self.classbias = nn.Parameter(torch.zeros(cfg.num_classes, cfg.latent))
        self.resunet = ResUnet()
        in_size = POSE_DIM + cfg.latent + cfg.seq_len * cfg.audio_emb_out  # 6 + 64 + 192 = 262
        layers = OrderedDict(
            L0=nn.Linear(in_size, cfg.hidden),
            A0=nn.ReLU(),
            L1=nn.Linear(cfg.hidden, cfg.seq_len * POSE_DIM),
            sigmoid=nn.Sigmoid(),
        )
        self.MLP = nn.Sequential(layers)
        self.pose_linear = nn.Linear(POSE_DIM, POSE_DIM)
        self.linear_audio = nn.Linear(cfg.audio_emb_in, cfg.audio_emb_out)

    def forward(
        self, z: torch.Tensor, ref: torch.Tensor, audio_emb: torch.Tensor, cls: torch.Tensor
    ) -> torch.Tensor:
        b = z.shape[0]
        audio = self.linear_audio(audio_emb).reshape(b, -1)  # [B, S, 512] -> [B, 192]
        x = self.MLP(torch.cat([ref, z + self.classbias[cls], audio], dim=-1))  # [B, 262] -> [B, 192]
        x = self.resunet(x.reshape(b, 1, self.seq_len, POSE_DIM))  # [B, 1, S, 6]
        return self.pose_linear(x.squeeze(1))  # [B, S, 6]


class CVAE(nn.Module):
    """``netG``: encoder (training) + decoder (inference)."""

    def __init__(self, cfg: PoseVAEConfig) -> None:
        super().__init__()
        self.encoder = CVAEEncoder(cfg)
        self.decoder = CVAEDecoder(cfg)


class ConvNormRelu1d(nn.Module):
    """Conv1d without bias -> BatchNorm1d -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, stride, padding, bias=False)
        self.norm = nn.BatchNorm1d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.conv(x)))


class PoseSequenceDiscriminator(nn.Module):
    """Training only: motion [B, S, 6] -> per-step real/fake logits [B, S/4]."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            ConvNormRelu1d(POSE_DIM, 256, 4, 2, 1),  # S/2
            ConvNormRelu1d(256, 512, 4, 2, 1),  # S/4
            ConvNormRelu1d(512, 1024, 3, 1, 1),
            nn.Conv1d(1024, 1, 3, 1, 1),
        )

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        return self.seq(motion.transpose(1, 2)).squeeze(1)


@dataclass(frozen=True)
class PoseChunks:
    """How T frames split into decoder chunks: frame 0 has zero motion, frames 1..T-1 go in
    ``full`` chunks of ``seq_len`` plus, when ``remainder`` > 0, one chunk over the last ``seq_len``
    frames that keeps only its last ``remainder`` outputs."""

    full: int
    remainder: int

    @classmethod
    def plan(cls, num_frames: int, seq_len: int = 32) -> PoseChunks:
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        full, remainder = divmod(num_frames - 1, seq_len)
        return cls(full, remainder)

    @property
    def count(self) -> int:
        return self.full + (self.remainder > 0)

    def embedded(self, k: int, seq_len: int = 32) -> range:
        """The frames whose audio chunk ``k`` embeds (the remainder chunk: the last seq_len from frame 1)."""
        if k < self.full:
            return range(1 + seq_len * k, 1 + seq_len * (k + 1))
        num_frames = 1 + seq_len * self.full + self.remainder
        return range(max(1, num_frames - seq_len), num_frames)

    def outputs(self, k: int, seq_len: int = 32) -> range:
        """The frames chunk ``k``'s motion is kept for: its last ``len(outputs)`` decoder steps."""
        if k < self.full:
            return self.embedded(k, seq_len)
        return range(1 + seq_len * self.full, 1 + seq_len * self.full + self.remainder)


class Audio2Pose(nn.Module):
    """Audio encoder + CVAE (``netG``) + motion discriminator (``netD_motion``)."""

    def __init__(self, cfg: PoseVAEConfig = PoseVAEConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.audio_encoder = SequenceAudioEncoder()
        self.netG = CVAE(cfg)
        self.netD_motion = PoseSequenceDiscriminator()

    def chunk_embeddings(self, frame_emb: torch.Tensor) -> torch.Tensor:
        """Audio embeddings of frames 1..T-1 [T-1, 512] -> per-chunk inputs [n_chunks, S, 512].

        A remainder chunk with fewer than S frames available is left-padded with its first frame.
        """
        seq = self.cfg.seq_len
        plan = PoseChunks.plan(frame_emb.shape[0] + 1, seq)
        width = frame_emb.shape[-1]
        chunks = frame_emb[: plan.full * seq].reshape(plan.full, seq, width)
        if plan.remainder:
            last = frame_emb[-seq:]
            pad = last[:1].expand(seq - last.shape[0], width)
            chunks = torch.cat([chunks, torch.cat([pad, last])[None]])
        return chunks

    def predict(
        self, frame_emb: torch.Tensor, ref_pose: torch.Tensor, z: torch.Tensor, pose_style: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Motion residuals [T, 6] (frame 0 = 0) and the chunk inputs [n, S, 512].

        ``frame_emb`` [T-1, 512] embeds frames 1..T-1, ``ref_pose`` [6] is the source pose and
        ``z`` [n, latent] holds one latent per chunk, in chunk order.
        """
        plan = PoseChunks.plan(frame_emb.shape[0] + 1, self.cfg.seq_len)
        if z.shape != (plan.count, self.cfg.latent):
            raise ValueError(
                f"z must be [{plan.count}, {self.cfg.latent}] (one row per chunk), got {tuple(z.shape)}"
            )
        if not 0 <= pose_style < self.cfg.num_classes:
            raise ValueError(f"pose_style must be in [0, {self.cfg.num_classes}), got {pose_style}")
        chunk_emb = self.chunk_embeddings(frame_emb)  # [n, S, 512]
        if plan.count == 0:
            return frame_emb.new_zeros(1, POSE_DIM), chunk_emb
        cls = torch.full((plan.count,), pose_style, dtype=torch.long, device=z.device)
        motion = self.netG.decoder(z, ref_pose.expand(plan.count, POSE_DIM), chunk_emb, cls)  # [n, S, 6]
        return self.assemble(motion, plan), chunk_emb

    @staticmethod
    def assemble(motion: torch.Tensor, plan: PoseChunks) -> torch.Tensor:
        """Chunk outputs [n, S, 6] -> [T, 6]: zeros for frame 0, full chunks, then the remainder's tail."""
        parts = [motion.new_zeros(1, POSE_DIM), motion[: plan.full].reshape(-1, POSE_DIM)]
        if plan.remainder:
            parts.append(motion[plan.full, -plan.remainder :])
        return torch.cat(parts, dim=0)
