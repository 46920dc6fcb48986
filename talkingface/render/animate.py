"""Batched, streaming face rendering: one source image + driving keypoints -> uint8 video frames.

SadTalker's ``make_animation`` re-runs the whole generator (encoder included) for every step and keeps
every prediction in memory. Here the per-source work (canonical keypoints, the generator's feature
volume) is done once by ``FaceRenderer.prepare``; ``FaceRenderer.frames`` then renders contiguous
batches of driving frames and yields them one by one as uint8 HWC arrays, so a long clip never holds
more than one batch. Keypoints come from ``talkingface.render.keypoints.transform_keypoints`` applied to
``PreparedSource.kp_canonical``.

Typical use::

    renderer = FaceRenderer(*load_renderer(OFFICIAL, kp_state, gen_state), RenderOptions(batch_size=4))
    source = renderer.prepare(image)                      # [1, 3, S, S] in [0, 1]
    kp_source = transform_keypoints(source.kp_canonical, mapping(source_semantics))
    for frame in renderer.frames(source, kp_source, kp_driving):   # kp_driving [T, K, 3]
        writer.write(frame)                               # np.uint8 [S, S, 3]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from talkingface.models.generator import OcclusionAwareSPADEGenerator
from talkingface.models.kp_detector import KPDetector
from talkingface.precision import check_precision, clear_fp32_islands, region, set_fp32_islands
from talkingface.render.configs import RendererConfig

log = logging.getLogger(__name__)

# Modules kept in float32 under bf16/fp16 (benchmarks/precision_sweep.py measures each on golden set A).
# The KPDetector and the generator's encoder run once per source image (free per frame once cached); the
# dense-motion mask and occlusion convs feed a softmax / sigmoid that set where every pixel is sampled;
# ``third`` (the 512-channel 3x3 conv + BatchNorm after the warp), ``fourth``, the decoder's ``fc`` and the
# second conv of each SPADE middle block carry most of the remaining error (measured on golden set A,
# README "Precision"); the SPADE modulation convs and the upsampling blocks, most of the FLOPs, stay bf16.
FP32_ISLANDS: tuple[str, ...] = (
    "kp_detector",
    "generator.first",
    "generator.down_blocks",
    "generator.second",
    "generator.resblocks_3d",
    "generator.dense_motion_network.mask",
    "generator.dense_motion_network.occlusion",
    "generator.third",
    "generator.fourth",
    "generator.decoder.fc",
    *(f"generator.decoder.G_middle_{i}.conv_1" for i in range(6)),
)


@dataclass(frozen=True)
class RenderOptions:
    """How frames are computed. fp32 options change the result only by float rounding (parity holds)."""

    batch_size: int = 4  # driving frames per generator call
    # fp32 | bf16 | fp16: every network under autocast, FP32_ISLANDS excepted (talkingface.precision)
    precision: str = "fp32"
    channels_last: bool = False  # channels-last weights and activations (channels_last_3d for volumes)
    # torch.compile the per-frame path (dense motion, warp, decoder) for fixed batch shapes (short final
    # batches are padded); CUDA: mode "reduce-overhead" (CUDA graphs). Compiled once per renderer.
    compile: bool = False
    # bf16/fp16 numerics at fp32 speed (precision.EmulatedLowPrecision), for CPUs without native bf16
    emulate: bool = False
    fp32_islands: tuple[str, ...] = FP32_ISLANDS  # names under "kp_detector." / "generator."

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        check_precision(self.precision)
        if self.compile and self.emulate:
            raise ValueError("compile and emulate do not go together (emulation is for measurements)")


@dataclass(frozen=True)
class PreparedSource:
    """Per-source-image work, reusable for any number of driving clips."""

    kp_canonical: torch.Tensor  # [1, K, 3] float32, KPDetector output
    feature: torch.Tensor  # [1, C, D, S/4, S/4] generator feature volume (on the renderer's device)
    size: tuple[int, int]  # (H, W) of the source image and of every rendered frame


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images [B, 3, H, W] in [0, 1] -> uint8 [B, H, W, 3], exactly as ``skimage.img_as_ubyte``.

    That is round-half-to-even of float32(x * 255); values outside [0, 1] are clipped.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [B, 3, H, W], got {tuple(images.shape)}")
    x = images.float()
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or infinite values")
    return (x * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def contiguous_batches(
    kp_driving: torch.Tensor | Iterable[torch.Tensor], batch_size: int
) -> Iterator[torch.Tensor]:
    """Driving keypoints [T, K, 3] (or an iterable of [n, K, 3] chunks) in order, as [<=batch_size, K, 3]."""
    chunks = [kp_driving] if isinstance(kp_driving, torch.Tensor) else kp_driving
    pending: list[torch.Tensor] = []
    count = 0
    for chunk in chunks:
        if not isinstance(chunk, torch.Tensor) or chunk.ndim != 3 or chunk.shape[2] != 3:
            shape = tuple(chunk.shape) if isinstance(chunk, torch.Tensor) else type(chunk).__name__
            raise ValueError(f"kp_driving must be [T, K, 3] (or chunks of [n, K, 3]), got {shape}")
        pending.append(chunk)
        count += chunk.shape[0]
        while count >= batch_size:
            joined = torch.cat(pending)
            yield joined[:batch_size]
            pending, count = [joined[batch_size:]], count - batch_size
    if count:
        yield torch.cat(pending)


def _set_memory_format(net: torch.nn.Module, channels_last: bool) -> None:
    """Conv weights channels-last (channels_last_3d for 5-D ones), or back to contiguous."""
    formats = {4: torch.channels_last, 5: torch.channels_last_3d} if channels_last else {}
    for param in net.parameters():
        if param.ndim >= 4:
            param.data = param.data.contiguous(memory_format=formats.get(param.ndim, torch.contiguous_format))


class FaceRenderer:
    """KPDetector + OcclusionAwareSPADEGenerator on one device, rendering batches under inference mode.

    The networks are moved to ``device`` and given the options' memory format and fp32 islands in
    place (one renderer per pair of networks). With ``compile`` the first batch of each shape compiles
    the per-frame path; :attr:`compile_seconds` records how long that took (call :meth:`warm_up` once
    per worker to pay it before the first request).
    """

    def __init__(
        self,
        kp_detector: KPDetector,
        generator: OcclusionAwareSPADEGenerator,
        options: RenderOptions | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.options = options = options or RenderOptions()
        self.device = torch.device(device)
        self.kp_detector = kp_detector.to(self.device).eval()
        self.generator = generator.to(self.device).eval()
        nets = torch.nn.ModuleDict({"kp_detector": self.kp_detector, "generator": self.generator})
        clear_fp32_islands(nets)
        if options.precision != "fp32":
            set_fp32_islands(nets, options.fp32_islands, self.device.type)
        for net in (self.kp_detector, self.generator):
            _set_memory_format(net, options.channels_last)
        self.size_multiple = RendererConfig(kp_detector.config, generator.config).size_multiple
        self.num_kp = generator.config.num_kp
        self.compile_seconds: dict[int, float] = {}  # batch size -> seconds of its first (compiling) call
        self._step = self._render_batch
        if options.compile:
            mode = "reduce-overhead" if self.device.type == "cuda" else None  # CUDA graphs on GPU
            self._step = torch.compile(self._render_batch, dynamic=False, mode=mode)

    def _region(self):
        return region(self.options.precision, self.device, self.options.emulate)

    def _image(self, image: torch.Tensor) -> torch.Tensor:
        if image.ndim == 3:
            image = image[None]
        if image.ndim != 4 or image.shape[:2] != (1, 3) or not image.is_floating_point():
            raise ValueError(
                f"source image must be a float [1, 3, H, W] or [3, H, W] tensor, got {tuple(image.shape)}"
            )
        h, w = image.shape[2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(f"source image sides must be multiples of {self.size_multiple}, got {h}x{w}")
        if image.min() < 0 or image.max() > 1:
            raise ValueError("source image values must lie in [0, 1]")
        image = image.to(self.device, torch.float32)
        return image.contiguous(memory_format=torch.channels_last) if self.options.channels_last else image

    @torch.inference_mode()
    def prepare(self, image: torch.Tensor) -> PreparedSource:
        """Canonical keypoints (float32) and the generator's feature volume (the precision's dtype)."""
        image = self._image(image)
        with self._region():
            kp_canonical = self.kp_detector(image).float()
            feature = self.generator.encode(image)
        if self.options.channels_last:
            feature = feature.contiguous(memory_format=torch.channels_last_3d)
        return PreparedSource(kp_canonical=kp_canonical, feature=feature, size=tuple(image.shape[2:]))

    def _render_batch(
        self, feature: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor
    ) -> torch.Tensor:
        """feature [1, C, D, h, w], kp_driving [B, K, 3], kp_source [1, K, 3] -> float32 [B, 3, H, W]."""
        feature = feature.expand(kp_driving.shape[0], *feature.shape[1:])
        with self._region():
            warped = self.generator.warp(feature, self.generator.motion(feature, kp_driving, kp_source))
            return self.generator.decoder(warped).float()

    @torch.inference_mode()
    def predict(
        self,
        source: PreparedSource,
        kp_source: torch.Tensor,
        kp_driving: torch.Tensor,
        pad_to: int | None = None,
    ) -> torch.Tensor:
        """One batch: kp_source [1, K, 3], kp_driving [B, K, 3] -> float32 frames [B, 3, H, W] in [0, 1].

        With ``compile``, batches shorter than ``pad_to`` (default: the options' batch size) are
        padded to it, so a clip runs one compiled shape.
        """
        k = self.num_kp
        if kp_source.shape != (1, k, 3):
            raise ValueError(f"kp_source must be [1, {k}, 3], got {tuple(kp_source.shape)}")
        if kp_driving.ndim != 3 or kp_driving.shape[1:] != (k, 3):
            raise ValueError(f"kp_driving must be [B, {k}, 3], got {tuple(kp_driving.shape)}")
        kp_source = kp_source.to(self.device, torch.float32)
        kp_driving = kp_driving.to(self.device, torch.float32)
        count = kp_driving.shape[0]
        if not self.options.compile:
            return self._step(source.feature, kp_driving, kp_source)
        size = max(count, pad_to or self.options.batch_size)
        padded = torch.cat([kp_driving, kp_driving[-1:].expand(size - count, k, 3)])
        first = size not in self.compile_seconds
        start = time.perf_counter()
        cuda = self.device.type == "cuda"
        if cuda:
            torch.compiler.cudagraph_mark_step_begin()  # the previous batch's outputs were consumed
        frames = self._step(source.feature, padded, kp_source)[:count]
        frames = frames.clone() if cuda else frames  # CUDA-graph outputs are overwritten by the next call
        if first:
            self.compile_seconds[size] = time.perf_counter() - start
            log.info("renderer compiled for batch %d in %.1f s", size, self.compile_seconds[size])
        return frames

    def warm_up(self, size: tuple[int, int] = (256, 256), batch_size: int | None = None) -> float:
        """Render one batch of ``batch_size`` (default: the options') from a blank source, which compiles
        that shape with ``compile``; seconds it took."""
        start = time.perf_counter()
        source = self.prepare(torch.zeros(1, 3, *size))
        kp = source.kp_canonical
        self.predict(source, kp, kp.expand(batch_size or self.options.batch_size, -1, -1))
        return time.perf_counter() - start

    def frames(
        self,
        source: PreparedSource,
        kp_source: torch.Tensor,
        kp_driving: torch.Tensor | Iterable[torch.Tensor],
        batch_size: int | None = None,
    ) -> Iterator[np.ndarray]:
        """One uint8 [H, W, 3] frame per driving row, ``batch_size`` (default: the options') at a time."""
        batch_size = batch_size or self.options.batch_size
        for batch in contiguous_batches(kp_driving, batch_size):
            frames = to_uint8(self.predict(source, kp_source, batch, batch_size)).cpu().numpy()
            yield from frames
