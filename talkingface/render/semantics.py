"""Renderer inputs from a source image and 3DMM coefficients (SadTalker's ``get_facerender_data``).

Every frame is described to MappingNet by a window of 2 * radius + 1 = 27 coefficient rows centred on
it (indices clamped at the ends), laid out channels-first as [C, 27]. C is 70 (exp | angle | trans) or,
for the ``full`` preprocess modes, 73 with the source's crop parameters appended to every frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import img_as_float32
from skimage.transform import resize

from talkingface.coeffs import COEFF_70, COEFF_73


@dataclass(frozen=True)
class SemanticsConfig:
    """Knobs of renderer input preparation (SadTalker CLI names in comments)."""

    size: int = 256  # --size: source image side in pixels
    radius: int = 13  # semantic_radius: windows of 2 * radius + 1 frames
    expression_scale: float = 1.0  # --expression_scale: exp coefficients multiplied by this
    still: bool = False  # --still: every frame keeps the source's pose (and crop params)
    full: bool = False  # --preprocess full/extfull: 73-dim rows with the source's crop params
    yaw: tuple[float, ...] | None = None  # --input_yaw: free-view degrees, interpolated over the frames
    pitch: tuple[float, ...] | None = None  # --input_pitch
    roll: tuple[float, ...] | None = None  # --input_roll

    def __post_init__(self) -> None:
        if self.size <= 0 or self.radius < 0:
            raise ValueError(f"size must be > 0 and radius >= 0, got size={self.size}, radius={self.radius}")

    @property
    def channels(self) -> int:
        return COEFF_73.dim if self.full else COEFF_70.dim

    @property
    def window(self) -> int:
        return 2 * self.radius + 1


@dataclass
class RendererInputs:
    """What the renderer consumes for one clip of T frames."""

    source_image: torch.Tensor  # [1, 3, size, size] float in [0, 1]
    source_semantics: torch.Tensor  # [1, C, W]
    target_semantics: torch.Tensor  # [T, C, W], frame-major
    yaw: torch.Tensor | None = None  # [T] degrees replacing the predicted yaw, or None
    pitch: torch.Tensor | None = None  # [T]
    roll: torch.Tensor | None = None  # [T]

    @property
    def num_frames(self) -> int:
        return self.target_semantics.shape[0]


def load_source_image(image: str | Path | np.ndarray, size: int = 256) -> torch.Tensor:
    """An RGB image (file or uint8 HxWx3 array) -> [1, 3, size, size] float32 in [0, 1].

    Pixels go through ``img_as_float32`` and ``skimage.transform.resize`` exactly as SadTalker's renderer
    input does (bilinear, reflect mode, Gaussian anti-aliasing when shrinking).
    """
    if isinstance(image, (str, Path)):
        with Image.open(image) as img:
            pixels = np.array(img.convert("RGB"))
    else:
        pixels = np.asarray(image)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"source image must be HxWx3 RGB, got shape {pixels.shape}")
    resized = resize(img_as_float32(pixels), (size, size, 3))  # [size, size, 3]
    return torch.from_numpy(np.ascontiguousarray(resized.transpose(2, 0, 1), dtype=np.float32))[None]


def _source_row(source_coeff, cfg: SemanticsConfig) -> torch.Tensor:
    """The source's 3DMM row [C] (a [73] or [1, 73] COEFF_73 row; [70] allowed when not ``full``)."""
    row = torch.as_tensor(source_coeff, dtype=torch.float32)
    if row.ndim == 2 and row.shape[0] == 1:
        row = row[0]
    allowed = (COEFF_73.dim,) if cfg.full else (COEFF_70.dim, COEFF_73.dim)
    if row.ndim != 1 or row.shape[0] not in allowed:
        raise ValueError(
            f"source_coeff must be one row of {' or '.join(map(str, allowed))}, got {tuple(row.shape)}"
        )
    return row[: cfg.channels]


def source_semantics(source_coeff, cfg: SemanticsConfig) -> torch.Tensor:
    """The source row repeated over the window: [1, C, W]."""
    row = _source_row(source_coeff, cfg)
    return row[None, :, None].expand(1, -1, cfg.window).contiguous()


def driving_rows(coeffs, source_coeff, cfg: SemanticsConfig) -> torch.Tensor:
    """Audio2Coeff rows [T, 70] -> the rows the windows are cut from [T, C] (inputs are not modified).

    Order as SadTalker: scale exp, append the source's crop params (``full``), then ``still`` copies the
    source's angle, trans (and crop) into every frame.
    """
    rows = torch.as_tensor(coeffs, dtype=torch.float32)
    if rows.ndim != 2 or rows.shape[1] != COEFF_70.dim or rows.shape[0] == 0:
        raise ValueError(f"coeffs must be [T>0, {COEFF_70.dim}], got {tuple(rows.shape)}")
    source = _source_row(source_coeff, cfg)
    rows = rows.clone()
    rows[:, COEFF_70.span("exp")] *= cfg.expression_scale
    if cfg.full:
        crop = COEFF_73.get(source, "crop")
        rows = torch.cat([rows, crop.expand(rows.shape[0], -1)], dim=1)
    if cfg.still:
        pose = slice(COEFF_70.span("angle").start, None)
        rows[:, pose] = source[pose]
    return rows


def semantic_windows(
    rows: torch.Tensor,
    radius: int = 13,
    frames: slice | None = None,
    first_row: int = 0,
    num_frames: int | None = None,
) -> torch.Tensor:
    """Rows [T, C] -> per-frame windows [T, C, 2r+1]: frame f sees rows clamp(f-r .. f+r).

    ``frames`` (a step-1 slice of 0..T-1) builds only those frames' windows, [len(frames), C, 2r+1]: the
    same values as the matching slice of the whole clip's, in memory for the slice alone. ``rows`` may
    also hold only rows ``first_row..`` of a ``num_frames``-frame clip, as long as they cover the windows.
    """
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise ValueError(f"rows must be [T>0, C], got {tuple(rows.shape)}")
    num_frames = first_row + rows.shape[0] if num_frames is None else num_frames
    frames = torch.arange(num_frames)[frames or slice(None)]
    index = (frames[:, None] + torch.arange(-radius, radius + 1)[None]).clamp(0, num_frames - 1) - first_row
    if index.numel() and (index.min() < 0 or index.max() >= rows.shape[0]):
        span = f"{int(frames[0])}..{int(frames[-1])}"
        raise ValueError(
            f"rows {first_row}..{first_row + rows.shape[0] - 1} do not cover the windows of frames {span}"
        )
    return rows[index].transpose(1, 2).contiguous()  # [T, W, C] -> [T, C, W]


def batch_major(per_frame: torch.Tensor, batch_size: int) -> torch.Tensor:
    """SadTalker's renderer layout: [T, ...] padded by repeating the last frame to a multiple of
    ``batch_size``, then [batch_size, ceil(T / batch_size), ...] (batch b, step j = frame b*steps + j)."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    if per_frame.ndim == 0 or per_frame.shape[0] == 0:
        raise ValueError(f"per_frame must be [T>0, ...], got {tuple(per_frame.shape)}")
    pad = -per_frame.shape[0] % batch_size
    padded = torch.cat([per_frame, per_frame[-1:].expand(pad, *per_frame.shape[1:])])
    return padded.reshape(batch_size, -1, *per_frame.shape[1:])


def camera_angles(degrees: Sequence[float], num_frames: int) -> torch.Tensor:
    """Free-view key angles (degrees) -> [num_frames] degrees, as SadTalker's ``gen_camera_pose``.

    One value holds still. Several are joined by linear ramps at one common speed (total travel over
    num_frames - 1 steps), each ramp excluding its end; the result is cut or padded with its last value.
    """
    keys = [float(d) for d in degrees]
    if not keys or num_frames <= 0:
        raise ValueError(f"need at least one angle and num_frames > 0, got {keys} and {num_frames}")
    travel = sum(abs(b - a) for a, b in pairwise(keys))
    if travel == 0 or num_frames == 1:
        return torch.full((num_frames,), keys[0], dtype=torch.float32)
    speed = travel / (num_frames - 1)
    sequence: list[float] = []
    for a, b in pairwise(keys):
        if b != a:
            sequence.extend(np.arange(a, b, speed if b > a else -speed).tolist())
    sequence = sequence[:num_frames] + sequence[-1:] * (num_frames - len(sequence))
    return torch.tensor(sequence, dtype=torch.float32)


def prepare_renderer_inputs(
    image: str | Path | np.ndarray, source_coeff, coeffs, cfg: SemanticsConfig | None = None
) -> RendererInputs:
    """Source image, source 3DMM row ([1, 73]) and Audio2Coeff rows ([T, 70]) -> RendererInputs."""
    cfg = cfg or SemanticsConfig()
    rows = driving_rows(coeffs, source_coeff, cfg)
    views = {
        name: None if keys is None else camera_angles(keys, rows.shape[0])
        for name, keys in (("yaw", cfg.yaw), ("pitch", cfg.pitch), ("roll", cfg.roll))
    }
    return RendererInputs(
        source_image=load_source_image(image, cfg.size),
        source_semantics=source_semantics(source_coeff, cfg),
        target_semantics=semantic_windows(rows, cfg.radius),
        **views,
    )
