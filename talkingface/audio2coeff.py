"""Audio -> per-frame 3DMM coefficients [T, 70] (SadTalker's Audio2Coeff): ExpNet + PoseVAE + smoothing.

Randomness is explicit and seeded (``Audio2CoeffConfig.seed``):

* Blinks: :func:`blink_sequence` places 5-frame blinks (0.5, 0.9, 1, 0.9, 0.5) after gaps drawn
  uniformly from ``[min(10, T), min(T // 2, 70))`` with ``random.Random(seed)``, stopping when the next
  blink would not end before the last frame; clips of 21 frames or fewer get none. This is SadTalker's
  rule, and since ``random.Random(seed).choice`` draws like the global ``random`` after
  ``random.seed(seed)``, it also reproduces SadTalker's sequence for the same seed.
* PoseVAE latents: one z per 32-frame chunk, ``torch.randn(n_chunks, 64)`` from
  ``torch.Generator().manual_seed(seed)``, unless z is passed in.

Long clips: :meth:`Audio2Coeff.expression_span` and :meth:`Audio2Coeff.pose_span` give the rows of any
frame range, the same as :meth:`Audio2Coeff.predict` of the whole clip, from the mel windows of that range
and the neighbours its PoseVAE chunks and pose smoothing reach.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from scipy.signal import savgol_filter
from torch import nn

from talkingface.audio.features import WindowSource
from talkingface.coeffs import COEFF_70, COEFF_73
from talkingface.models.expnet import ExpNet
from talkingface.models.posevae import Audio2Pose, PoseChunks

BLINK_SHAPE = (0.5, 0.9, 1.0, 0.9, 0.5)
NUM_POSE_STYLES = 46


@dataclass(frozen=True)
class Audio2CoeffConfig:
    """Inference knobs.

    ``pose_style`` picks one of the 46 learned head-motion styles; ``seed`` drives blinks and z;
    ``use_blink`` False gives no blinks; ``frames_per_batch`` bounds the frames one audio-encoder call
    sees (memory only: results agree to float rounding); ``smooth_window``/``smooth_order`` set the
    Savitzky-Golay filter applied to the pose over time.
    """

    pose_style: int = 0
    seed: int = 0
    use_blink: bool = True
    frames_per_batch: int = 512
    smooth_window: int = 13
    smooth_order: int = 2

    def __post_init__(self) -> None:
        style = self.pose_style
        if isinstance(style, bool) or not isinstance(style, int) or not 0 <= style < NUM_POSE_STYLES:
            raise ValueError(f"pose_style must be an int in [0, {NUM_POSE_STYLES}), got {style!r}")
        if self.frames_per_batch < 1:
            raise ValueError(f"frames_per_batch must be >= 1, got {self.frames_per_batch}")
        if self.smooth_window < 1 or self.smooth_window % 2 == 0:
            raise ValueError(f"smooth_window must be a positive odd number, got {self.smooth_window}")


@dataclass
class CoeffPrediction:
    """Audio2Coeff outputs for one clip of T frames (float32, CPU).

    ``coeffs`` [T, 70] = exp | smoothed pose (the renderer's driving rows, layout ``COEFF_70``);
    ``exp`` [T, 64]; ``pose`` [T, 6] before smoothing; ``pose_motion`` [T, 6] residuals to the source
    pose; ``blink`` [T, 1]; ``z`` [n_chunks, 64]; ``audio_emb`` [n_chunks, 32, 512] PoseVAE inputs.
    """

    coeffs: torch.Tensor
    exp: torch.Tensor
    pose: torch.Tensor
    pose_motion: torch.Tensor
    blink: torch.Tensor
    z: torch.Tensor
    audio_emb: torch.Tensor


def blink_sequence(num_frames: int, seed: int) -> np.ndarray:
    """Seeded blink ratios [T, 1] float32 (rule in the module docstring)."""
    ratio = np.zeros((num_frames, 1), dtype=np.float32)
    gaps = range(min(10, num_frames), min(num_frames // 2, 70))
    if num_frames <= 20 or not gaps:  # SadTalker fails on an empty gap range (T = 21); no blinks here
        return ratio
    rng = random.Random(seed)
    frame = 0
    while frame < num_frames:
        start = frame + rng.choice(gaps)
        if start + len(BLINK_SHAPE) > num_frames - 1:
            break
        ratio[start : start + len(BLINK_SHAPE), 0] = BLINK_SHAPE
        frame = start + len(BLINK_SHAPE)
    return ratio


def smooth_pose(pose: np.ndarray, window: int = 13, order: int = 2) -> np.ndarray:
    """Savitzky-Golay filter over time of pose [T, 6]; shorter clips use the largest odd window <= T.

    A window that cannot exceed ``order`` (T <= 2 for order 2) leaves the pose unchanged.
    """
    num_frames = pose.shape[0]
    if num_frames < window:
        window = int((num_frames - 1) / 2) * 2 + 1
    if window <= order:
        return pose
    return savgol_filter(pose, window, order, axis=0)


def loop_to(rows: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Repeat rows [N, D] end to end until there are ``num_frames`` of them."""
    reps = -(-num_frames // rows.shape[0])
    return rows.repeat(reps, 1)[:num_frames]


def _coeff_rows(rows: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    """Rows in layout COEFF_70 or COEFF_73 -> float32 [N, 70]; a bad shape is reported under ``name``."""
    rows = torch.as_tensor(rows, dtype=torch.float32)
    if rows.ndim not in (1, 2) or rows.shape[-1] not in (COEFF_70.dim, COEFF_73.dim) or rows.numel() == 0:
        raise ValueError(
            f"{name} must be rows of {COEFF_70.dim} or {COEFF_73.dim} coefficients, got {tuple(rows.shape)}"
        )
    return rows.reshape(-1, rows.shape[-1])[:, : COEFF_70.dim]


def _source_row(source_coeff: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The source image's single COEFF_70/73 row as [70]."""
    source = _coeff_rows(source_coeff, "source_coeff")
    if source.shape[0] != 1:
        raise ValueError(f"source_coeff must be a single row, got shape {tuple(source.shape)}")
    return source[0]


def _span(start: int, stop: int | None, num_frames: int) -> tuple[int, int]:
    """(start, stop) of frames start..stop-1 (stop None: to the end); ValueError outside the clip."""
    stop = num_frames if stop is None else stop
    if not 0 <= start < stop <= num_frames:
        raise ValueError(f"frame span [{start}, {stop}) is not inside the clip's {num_frames} frames")
    return start, stop


def _pose_of(rows: torch.Tensor) -> torch.Tensor:
    """angle | trans (layout POSE_6) of COEFF_70 rows."""
    return torch.cat([COEFF_70.get(rows, "angle"), COEFF_70.get(rows, "trans")], dim=-1)


def _mel_windows(windows: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Mel windows [T, 80, 16] / [T, 1, 80, 16] / [1, T, 1, 80, 16] -> float32 [T, 1, 80, 16]."""
    windows = torch.as_tensor(windows, dtype=torch.float32)
    if windows.ndim < 3 or windows.shape[-2:] != (80, 16) or windows.numel() == 0:
        raise ValueError(f"mel windows must be [T, 80, 16] with T >= 1, got {tuple(windows.shape)}")
    return windows.reshape(-1, 1, 80, 16)


class _WindowBatches:
    """Frames ``start..stop-1`` of a clip's mel windows as [n, 1, 80, 16] on ``device``: sliced from a
    tensor, or cut on demand from a :class:`WindowSource` (a long clip's windows never all exist)."""

    def __init__(self, windows: np.ndarray | torch.Tensor | WindowSource, device: torch.device) -> None:
        self.device = device
        if isinstance(windows, WindowSource):
            if len(windows) < 1:
                raise ValueError("mel windows must hold T >= 1 frames, got 0")
            self.lazy, self.num_frames = windows, len(windows)
        else:
            self.lazy, self.tensor = None, _mel_windows(windows).to(device)
            self.num_frames = self.tensor.shape[0]

    def __call__(self, start: int, stop: int) -> torch.Tensor:
        if self.lazy is None:
            return self.tensor[start:stop]
        return torch.from_numpy(self.lazy.batch(start, stop)).reshape(-1, 1, 80, 16).to(self.device)


def _blink_input(num_frames: int, seed: int, blink: np.ndarray | torch.Tensor | None) -> torch.Tensor:
    """The given blink ratios as [T, 1], or the seeded sequence when none are given."""
    if blink is None:
        return torch.from_numpy(blink_sequence(num_frames, seed))
    blink = torch.as_tensor(blink, dtype=torch.float32)
    if blink.numel() != num_frames:
        raise ValueError(
            f"blink must have one value per frame ({num_frames}), got shape {tuple(blink.shape)}"
        )
    return blink.reshape(num_frames, 1)


def _latents(count: int, latent: int, seed: int, z: np.ndarray | torch.Tensor | None) -> torch.Tensor:
    """The given z as [count, latent], or ``randn(count, latent)`` from ``Generator().manual_seed(seed)``."""
    if z is None:
        return torch.randn(count, latent, generator=torch.Generator().manual_seed(seed))
    z = torch.as_tensor(z, dtype=torch.float32)
    if z.numel() != count * latent:
        raise ValueError(f"z must hold {count} chunk latents of size {latent}, got shape {tuple(z.shape)}")
    return z.reshape(count, latent)


class Audio2Coeff(nn.Module):
    """ExpNet (``expnet``) and PoseVAE (``posevae``) with the official parameter names."""

    def __init__(self) -> None:
        super().__init__()
        self.expnet = ExpNet()
        self.posevae = Audio2Pose()

    @classmethod
    def from_state_dicts(
        cls, audio2exp: Mapping[str, torch.Tensor], audio2pose: Mapping[str, torch.Tensor]
    ) -> Audio2Coeff:
        """Strictly load both parts (keys without their ``audio2exp.``/``audio2pose.`` prefix); eval mode."""
        model = cls()
        model.expnet.load_state_dict(audio2exp, strict=True)
        model.posevae.load_state_dict(audio2pose, strict=True)
        return model.eval()

    @classmethod
    def from_checkpoint(cls, state: Mapping[str, torch.Tensor]) -> Audio2Coeff:
        """From the flat official dict (``SadTalker_V0.0.2_*.safetensors``): the keys that start with
        ``audio2exp.`` and ``audio2pose.``; other parts are ignored."""
        parts: dict[str, dict[str, torch.Tensor]] = {"audio2exp.": {}, "audio2pose.": {}}
        for key, value in state.items():
            for prefix, part in parts.items():
                if key.startswith(prefix):
                    part[key[len(prefix) :]] = value
        return cls.from_state_dicts(parts["audio2exp."], parts["audio2pose."])

    @torch.inference_mode()
    def predict(
        self,
        windows: np.ndarray | torch.Tensor | WindowSource,
        source_coeff: np.ndarray | torch.Tensor,
        cfg: Audio2CoeffConfig | None = None,
        *,
        z: np.ndarray | torch.Tensor | None = None,
        blink: np.ndarray | torch.Tensor | None = None,
        ref_eyeblink: np.ndarray | torch.Tensor | None = None,
        ref_pose: np.ndarray | torch.Tensor | None = None,
    ) -> CoeffPrediction:
        """Coefficients for T frames from their mel windows and the source image's 3DMM row.

        windows: [T, 80, 16] (``AudioFeatures.windows``) or, for long clips, ``AudioFeatures.mel_windows``
        (the same values, cut ``frames_per_batch`` at a time).
        source_coeff: one row [70] or [73] (COEFF_70/73).
        z: [n_chunks, 64] or [n_chunks, 1, 64] PoseVAE latents (default: seeded draw).
        blink: [T] or [T, 1] blink ratios (default: :func:`blink_sequence`; zeros if not ``use_blink``).
        ref_eyeblink: [N, 70|73] rows of a reference clip; their expressions, looped to T, replace the
        source expression frame by frame, and blinks are off (the clip brings its own).
        ref_pose: [N, 70|73] rows of a reference clip; their pose relative to its first row, looped
        to T, is added to the smoothed pose.
        """
        cfg = cfg or Audio2CoeffConfig()
        device = next(self.parameters()).device
        mels = _WindowBatches(windows, device)  # mels(a, b): [b - a, 1, 80, 16]
        num_frames = mels.num_frames
        source = _source_row(source_coeff).to(device)  # [70]

        if ref_eyeblink is None:
            ref_exp = COEFF_70.get(source, "exp").expand(num_frames, -1)  # [T, 64]
        else:
            ref_exp = COEFF_70.get(loop_to(_coeff_rows(ref_eyeblink, "ref_eyeblink"), num_frames), "exp")
        if cfg.use_blink and ref_eyeblink is None:
            blink = _blink_input(num_frames, cfg.seed, blink)
        else:
            blink = torch.zeros(num_frames, 1)
        exp = self._expressions(mels, ref_exp.to(device), blink.to(device), cfg.frames_per_batch)

        plan = PoseChunks.plan(num_frames, self.posevae.cfg.seq_len)
        z = _latents(plan.count, self.posevae.cfg.latent, cfg.seed, z).to(device)
        ref6 = _pose_of(source)  # [6]
        frame_emb = self._pose_audio(mels, cfg.frames_per_batch)  # [T-1, 512]
        motion, chunk_emb = self.posevae.predict(frame_emb, ref6, z, cfg.pose_style)  # [T, 6]
        pose = (ref6 + motion).cpu()

        smoothed = smooth_pose(pose.numpy(), cfg.smooth_window, cfg.smooth_order)
        smoothed = torch.from_numpy(np.ascontiguousarray(smoothed, dtype=np.float32))
        if ref_pose is not None:
            ref_rows = _pose_of(loop_to(_coeff_rows(ref_pose, "ref_pose"), num_frames))  # [T, 6]
            smoothed = smoothed + (ref_rows - ref_rows[:1])
        return CoeffPrediction(
            coeffs=torch.cat([exp.cpu(), smoothed], dim=1),
            exp=exp.cpu(),
            pose=pose,
            pose_motion=motion.cpu(),
            blink=blink.cpu(),
            z=z.cpu(),
            audio_emb=chunk_emb.cpu(),
        )

    @torch.inference_mode()
    def expression_span(
        self,
        windows: np.ndarray | torch.Tensor | WindowSource,
        source_coeff: np.ndarray | torch.Tensor,
        cfg: Audio2CoeffConfig | None = None,
        start: int = 0,
        stop: int | None = None,
        *,
        blink: np.ndarray | torch.Tensor | None = None,
        ref_eyeblink: np.ndarray | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``predict(...).exp[start:stop]`` [n, 64], computed from those frames' mel windows only."""
        cfg, mels, start, stop, source = self._span_inputs(windows, source_coeff, cfg, start, stop)
        device = mels.device
        frames = torch.arange(start, stop)
        if ref_eyeblink is None:
            ref_exp = COEFF_70.get(source, "exp").expand(len(frames), -1)  # [n, 64]
        else:
            rows = _coeff_rows(ref_eyeblink, "ref_eyeblink")
            ref_exp = COEFF_70.get(rows[frames % rows.shape[0]], "exp")  # looped to T, as predict
        if cfg.use_blink and ref_eyeblink is None:
            blink = _blink_input(mels.num_frames, cfg.seed, blink)[start:stop]
        else:
            blink = torch.zeros(len(frames), 1)
        return self._expressions(
            mels, ref_exp.to(device), blink.to(device), cfg.frames_per_batch, start
        ).cpu()

    @torch.inference_mode()
    def pose_span(
        self,
        windows: np.ndarray | torch.Tensor | WindowSource,
        source_coeff: np.ndarray | torch.Tensor,
        cfg: Audio2CoeffConfig | None = None,
        start: int = 0,
        stop: int | None = None,
        *,
        z: np.ndarray | torch.Tensor | None = None,
        ref_pose: np.ndarray | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``predict(...).coeffs[start:stop, 64:]``: the smoothed pose [n, 6] of those frames, from the
        PoseVAE chunks that cover them and the smoothing window around them."""
        cfg, mels, start, stop, source = self._span_inputs(windows, source_coeff, cfg, start, stop)
        device, num_frames = mels.device, mels.num_frames
        ref6 = _pose_of(source)  # [6]
        # the Savitzky-Golay filter sees [lo, hi): every output frame keeps its whole window, and a clip
        # edge inside the span is fitted from the same `window` frames as in the whole clip
        half, window = cfg.smooth_window // 2, cfg.smooth_window
        lo = max(0, min(start - half, num_frames - window))
        hi = min(num_frames, max(stop + half, lo + window))
        plan = PoseChunks.plan(num_frames, self.posevae.cfg.seq_len)
        z = _latents(plan.count, self.posevae.cfg.latent, cfg.seed, z).to(device)
        pose = (ref6 + self._motion_span(mels, ref6, z, cfg, lo, hi)).cpu()  # [hi - lo, 6]
        smoothed = smooth_pose(pose.numpy(), cfg.smooth_window, cfg.smooth_order)[start - lo : stop - lo]
        smoothed = torch.from_numpy(np.ascontiguousarray(smoothed, dtype=np.float32))
        if ref_pose is not None:
            rows = _pose_of(_coeff_rows(ref_pose, "ref_pose"))  # [N, 6], looped to T as predict
            smoothed = smoothed + (rows[torch.arange(start, stop) % rows.shape[0]] - rows[:1])
        return smoothed

    def _span_inputs(
        self,
        windows: np.ndarray | torch.Tensor | WindowSource,
        source_coeff: np.ndarray | torch.Tensor,
        cfg: Audio2CoeffConfig | None,
        start: int,
        stop: int | None,
    ) -> tuple[Audio2CoeffConfig, _WindowBatches, int, int, torch.Tensor]:
        """A span call's config, mel batches on the model's device, checked span and source row [70]."""
        mels = _WindowBatches(windows, next(self.parameters()).device)
        start, stop = _span(start, stop, mels.num_frames)
        return cfg or Audio2CoeffConfig(), mels, start, stop, _source_row(source_coeff).to(mels.device)

    def _motion_span(
        self,
        mels: _WindowBatches,
        ref6: torch.Tensor,
        z: torch.Tensor,
        cfg: Audio2CoeffConfig,
        lo: int,
        hi: int,
    ) -> torch.Tensor:
        """PoseVAE motion residuals of frames lo..hi-1 [hi - lo, 6], from the chunks covering them."""
        seq = self.posevae.cfg.seq_len
        plan = PoseChunks.plan(mels.num_frames, seq)
        out = torch.zeros(hi - lo, 6, device=mels.device)
        if plan.count == 0 or hi <= 1:
            return out  # frame 0 has no motion
        chunks = range((max(lo, 1) - 1) // seq, min((hi - 2) // seq, plan.count - 1) + 1)
        first = min(plan.embedded(k, seq).start for k in chunks)
        last = max(plan.embedded(k, seq).stop for k in chunks)
        emb = self._pose_audio(mels, cfg.frames_per_batch, first, last)  # frames first..last-1
        inputs = []
        for k in chunks:  # short clips: the remainder chunk is left-padded with its first frame
            part = emb[plan.embedded(k, seq).start - first : plan.embedded(k, seq).stop - first]
            inputs.append(torch.cat([part[:1].expand(seq - part.shape[0], -1), part]))
        cls = torch.full((len(chunks),), cfg.pose_style, dtype=torch.long, device=mels.device)
        ref = ref6.expand(len(chunks), -1)
        motion = self.posevae.netG.decoder(z[chunks[0] : chunks[-1] + 1], ref, torch.stack(inputs), cls)
        for i, k in enumerate(chunks):  # [n, seq, 6] -> the frames each chunk outputs, cut to [lo, hi)
            kept = plan.outputs(k, seq)
            rows = motion[i, seq - len(kept) :]
            a, b = max(kept.start, lo), min(kept.stop, hi)
            out[a - lo : b - lo] = rows[a - kept.start : b - kept.start]
        return out

    def _expressions(
        self, mels: _WindowBatches, ref_exp: torch.Tensor, blink: torch.Tensor, batch: int, start: int = 0
    ) -> torch.Tensor:
        """ExpNet over frames start..start+len(ref_exp)-1, ``batch`` frames per call -> [n, 64]."""
        count = ref_exp.shape[0]
        out = []
        for i in range(0, count, batch):
            j = min(i + batch, count)
            out.append(self.expnet(mels(start + i, start + j), ref_exp[i:j], blink[i:j]))
        return torch.cat(out)

    def _pose_audio(self, mels: _WindowBatches, batch: int, first: int = 1, last: int | None = None):
        """PoseVAE audio embeddings of frames first..last-1 (default 1..T-1), ``batch`` frames per call
        -> [last - first, 512]."""
        encoder = self.posevae.audio_encoder.audio_encoder
        last = mels.num_frames if last is None else last
        out = torch.empty(max(last - first, 0), 512, device=mels.device)  # filled in place
        for i in range(first, last, batch):
            out[i - first : i - first + batch] = encoder(mels(i, min(i + batch, last)))
        return out
