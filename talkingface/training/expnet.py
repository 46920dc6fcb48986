"""ExpNet training: SadTalker's inputs (mel windows, reference exp, blink ratio), losses and exports.

Losses: L1 between predicted and video expressions plus an L1 temporal term on frame-to-frame
differences. SadTalker's paper also trains ExpNet with a lip-sync expert (Wav2Lip's SyncNet on rendered
mouths) and a landmark loss through the BFM face model; we ship neither model, so those terms are absent.
A user who has them adds them in :func:`expnet_loss` (render the predicted coefficients' mouth region
for the sync expert; project BFM landmarks of prediction and target for the landmark term).

Blink ratio: SadTalker feeds the eye-aspect ratio of the video's landmarks. The betas table carries no
landmarks, so training feeds 0 (no blink) and the blink pathway keeps its initial weights; inference
uses the seeded blink sequence of :func:`talkingface.audio2coeff.blink_sequence`.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor, nn

from talkingface.audio2coeff import blink_sequence
from talkingface.models.expnet import ExpNet

FORK_PREFIX = "audio2exp_model.netG."  # the seed fork's train_expnet.py checkpoint keys
SAFETENSORS_FILE, FORK_FILE = "expnet.safetensors", "expnet.pth"


def mel_frames(mels: Tensor) -> Tensor:
    """Flat mel windows [..., 1280] (80 bins x 16 steps, row-major) -> [N, 1, 80, 16]."""
    return mels.reshape(-1, 1, 80, 16)


@torch.no_grad()
def predict_clip(net: ExpNet, mels: Tensor, exp: Tensor, seed: int = 0, batch: int = 512) -> Tensor:
    """ExpNet on one clip as at inference: mels [T, 1280], video exp [T, 64] -> [T, 64].

    The reference expression is the clip's first frame; blinks follow ``blink_sequence(T, seed)``.
    """
    param = next(net.parameters())
    frames = mel_frames(mels).to(param.device, param.dtype)
    num_frames = frames.shape[0]
    ref = exp[:1].to(param.device, param.dtype).expand(num_frames, -1)
    blink = torch.from_numpy(blink_sequence(num_frames, seed)).to(param.device, param.dtype)
    parts = zip(frames.split(batch), ref.split(batch), blink.split(batch), strict=True)
    return torch.cat([net(m, r, b) for m, r, b in parts]).cpu()


def expnet_forward(net: nn.Module, mels: Tensor, ref: Tensor) -> Tensor:
    """Training forward over chunks: mels [B, S, 1280], ref exp [B, 64] -> exp [B, S, 64] (no blinks)."""
    b, s = mels.shape[:2]
    frames = mel_frames(mels)  # [B*S, 1, 80, 16]
    refs = ref[:, None].expand(b, s, ref.shape[-1]).reshape(b * s, -1)  # [B*S, 64]
    blink = frames.new_zeros(b * s, 1)
    return net(frames, refs, blink).reshape(b, s, -1)


def expnet_loss(pred: Tensor, target: Tensor, temporal_weight: float) -> Tensor:
    """L1 on exp [B, S, 64] plus ``temporal_weight`` x L1 on the differences of consecutive frames."""
    loss = F.l1_loss(pred, target)
    if temporal_weight and pred.shape[1] > 1:
        loss = loss + temporal_weight * F.l1_loss(pred.diff(dim=1), target.diff(dim=1))
    return loss


def save_expnet(net: ExpNet, directory: str | Path) -> Path:
    """Write ``expnet.safetensors`` (plain state dict) and ``expnet.pth`` (the seed fork's ``{'model': ...}``
    with ``audio2exp_model.netG.`` keys); both load with ``talkingface render --expnet-checkpoint``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(directory / SAFETENSORS_FILE))
    torch.save({"model": {FORK_PREFIX + k: v for k, v in state.items()}}, directory / FORK_FILE)
    return directory


STAND_IN = "stand-in"


def load_expnet_source(checkpoint: str | None) -> ExpNet:
    """The ExpNet to drive heads with: ``None`` = the seeded stand-in that ``talkingface render`` uses
    without weights; a file (fine-tuned, fork ``.pth`` or official safetensors) or an official weights
    directory / URI prefix."""
    from talkingface.audio2coeff import Audio2Coeff
    from talkingface.render.models import load_expnet
    from talkingface.weights.load import _is_file, load_state, read_parts

    if checkpoint is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # the render stand-in's seed (ModelStore(seed=0))
            return Audio2Coeff().expnet.eval()
    if _is_file(checkpoint):
        return load_expnet(checkpoint)
    net = ExpNet()
    load_state(net, read_parts(checkpoint, ["audio2exp"])["audio2exp"], f"ExpNet of {checkpoint}")
    return net.eval()


def state_hash(net: nn.Module) -> str:
    """sha256 over a module's state (sorted keys, shapes, dtypes and bytes): one id per set of weights."""
    import hashlib

    digest = hashlib.sha256()
    for key, value in sorted(net.state_dict().items()):
        value = value.detach().cpu().contiguous()
        digest.update(f"{key}|{tuple(value.shape)}|{value.dtype}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
