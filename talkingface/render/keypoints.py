"""Canonical 3-D keypoints + MappingNet motion -> posed keypoints (SadTalker's ``keypoint_transformation``).

kp = R(yaw, pitch, roll) @ kp_canonical + (0, t_y, 0) + exp, per frame, with SadTalker's quirks kept for
checkpoint compatibility: pose angles are the softmax expectation over 66 bins of 3 degrees starting at
-99 degrees, degrees become radians with 3.14 (not pi), and only the y component of t is used.
"""

from __future__ import annotations

import torch

from talkingface.models.mapping_net import HeadMotion

BIN_DEGREES = 3.0  # width of one pose bin
FIRST_BIN_DEGREES = -99.0  # angle of bin 0
SADTALKER_PI = 3.14  # SadTalker converts degrees with this, not math.pi
T_MASK = (0.0, 1.0, 0.0)  # translation x and z are multiplied by 0


def bins_to_degrees(logits: torch.Tensor) -> torch.Tensor:
    """Pose logits [B, bins] -> angle in degrees [B]: softmax expectation of the bin index * 3 - 99."""
    if logits.ndim != 2:
        raise ValueError(f"pose logits must be [B, bins], got {tuple(logits.shape)}")
    index = torch.arange(logits.shape[1], dtype=logits.dtype, device=logits.device)
    return (logits.softmax(dim=1) * index).sum(dim=1) * BIN_DEGREES + FIRST_BIN_DEGREES


def _axis_rotation(radians: torch.Tensor, axis: int) -> torch.Tensor:
    """Right-handed rotation about x (0), y (1) or z (2) by ``radians`` [B] -> [B, 3, 3]."""
    c, s = radians.cos(), radians.sin()
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    rows = {
        0: ((one, zero, zero), (zero, c, -s), (zero, s, c)),
        1: ((c, zero, s), (zero, one, zero), (-s, zero, c)),
        2: ((c, -s, zero), (s, c, zero), (zero, zero, one)),
    }[axis]
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)


def rotation_matrix(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Angles in degrees [B] -> R = R_pitch(x) @ R_yaw(y) @ R_roll(z) [B, 3, 3]."""
    if not (yaw.shape == pitch.shape == roll.shape) or yaw.ndim != 1:
        raise ValueError(
            "yaw, pitch, roll must be [B] each, got "
            f"{tuple(yaw.shape)}, {tuple(pitch.shape)}, {tuple(roll.shape)}"
        )
    pitch_r, yaw_r, roll_r = (a / 180 * SADTALKER_PI for a in (pitch, yaw, roll))
    return _axis_rotation(pitch_r, 0) @ _axis_rotation(yaw_r, 1) @ _axis_rotation(roll_r, 2)


def _override(name: str, predicted: torch.Tensor, degrees: torch.Tensor | None) -> torch.Tensor:
    if degrees is None:
        return predicted
    degrees = torch.as_tensor(degrees, dtype=predicted.dtype, device=predicted.device)
    if degrees.shape != predicted.shape:
        raise ValueError(
            f"{name} override must be [B]={tuple(predicted.shape)} degrees, got {tuple(degrees.shape)}"
        )
    return degrees


def transform_keypoints(
    kp_canonical: torch.Tensor,
    motion: HeadMotion,
    yaw: torch.Tensor | None = None,
    pitch: torch.Tensor | None = None,
    roll: torch.Tensor | None = None,
) -> torch.Tensor:
    """Posed keypoints [B, K, 3] from canonical ones [B or 1, K, 3] and B frames of MappingNet motion.

    ``yaw``/``pitch``/``roll`` ([B] degrees) replace the predicted angles (SadTalker's free-view
    ``input_yaw``...). Nothing passed in is modified.
    """
    batch = motion.t.shape[0]
    if kp_canonical.ndim != 3 or kp_canonical.shape[2] != 3 or kp_canonical.shape[0] not in (1, batch):
        raise ValueError(f"kp_canonical must be [{batch} or 1, K, 3], got {tuple(kp_canonical.shape)}")
    num_kp = kp_canonical.shape[1]
    if motion.t.shape != (batch, 3) or motion.exp.shape != (batch, 3 * num_kp):
        raise ValueError(
            f"motion must have t [{batch}, 3] and exp [{batch}, {3 * num_kp}], "
            f"got {tuple(motion.t.shape)} and {tuple(motion.exp.shape)}"
        )
    angles = {
        name: _override(name, bins_to_degrees(logits), given)
        for name, logits, given in (
            ("yaw", motion.yaw, yaw),
            ("pitch", motion.pitch, pitch),
            ("roll", motion.roll, roll),
        )
    }
    rot = rotation_matrix(**angles)  # [B, 3, 3]
    kp_rot = torch.einsum("bmp,bkp->bkm", rot, kp_canonical.expand(batch, -1, -1))  # [B, K, 3]
    t = motion.t * motion.t.new_tensor(T_MASK)  # [B, 3], x and z zeroed (a copy)
    return kp_rot + t[:, None] + motion.exp.view(batch, num_kp, 3)
