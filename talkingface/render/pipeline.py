"""One portrait + one speech clip -> a talking-face mp4 with the speech as its audio track (SadTalker).

Flow of :meth:`TalkingFacePipeline.render`:

1. source image -> landmarks -> crop (preprocess mode) -> ``size`` x ``size`` -> landmarks on the crop ->
   5-point alignment -> recon net -> the source's 73-dim row; the renderer encodes the crop once
   (canonical keypoints, feature volume). All of it is cached per (image content, size, mode), so more
   clips of the same image skip it (``RenderResult.source_cached``);
2. audio -> mel windows -> Audio2Coeff [T, 70] (fine-tuned ExpNet optional) -> emotion head on exp
   (optional) -> ``save_betas`` (write and stop) -> ``override_betas`` (replace columns);
3. 27-frame windows -> MappingNet -> keypoints -> streamed renderer frames -> pasted back into the
   original image (full/extfull) or resized to the crop's aspect ratio -> H.264/AAC mp4 at 25 fps with
   the driving audio, published atomically to a local path or storage URI.

Networks are loaded once (:class:`talkingface.render.models.ModelStore`); a pipeline is meant to live in
a long-running worker and render many requests.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from talkingface.audio import FPS, AudioFeatures, audio_features
from talkingface.audio.features import WindowSource
from talkingface.audio2coeff import Audio2CoeffConfig
from talkingface.face.crop import MODES, CropInfo
from talkingface.face.detect import DetectorConfig, LandmarkDetector
from talkingface.face.paste import METHODS, PasteConfig, paste_frames
from talkingface.face.reconstruct import FaceReconstructor, check_align
from talkingface.precision import check_precision, resolve_precision
from talkingface.render.animate import PreparedSource, RenderOptions
from talkingface.render.betas import override_betas, read_betas, save_betas
from talkingface.render.keypoints import transform_keypoints
from talkingface.render.models import ModelStore
from talkingface.render.semantics import (
    SemanticsConfig,
    camera_angles,
    driving_rows,
    load_source_image,
    semantic_windows,
    source_semantics,
)
from talkingface.video import SAMPLE_RATE, read_frames, write_video
from talkingface.weights.registry import SIZES

# Sides the renderer networks accept that have no official checkpoint: stand-in / tiny weights only
# (cheap test and benchmark renders; a checkpoint dir at this size fails with the registry's message).
STAND_IN_SIZES = (128,)

log = logging.getLogger(__name__)

MAPPING_CHUNK = 64  # frames per MappingNet call while streaming


@dataclass(frozen=True)
class PipelineConfig:
    """What stays fixed for a pipeline's life: weights, device, landmark detector, alignment.

    ``checkpoint_dir`` None gives seeded random stand-in weights (loudly warned). ``detector`` is
    ``haar`` (offline OpenCV boxes) or a face-alignment detector (``sfd``...); ``landmarks`` ``fan`` or
    ``template`` (the mean face placed in the box: offline smoke runs only); ``face_weights`` a local
    folder with face-alignment's weight files. ``align``: see :mod:`talkingface.face.reconstruct`.
    """

    checkpoint_dir: str | None = None
    model_config: str = "official"
    device: str = "cpu"
    detector: str = "auto"
    landmarks: str = "auto"
    face_weights: str | None = None
    align: str = "auto"
    precision: str | None = None  # fp32 | bf16 | fp16 (renderer + recon net); None: bf16 where native
    compile: bool = False  # torch.compile the renderer's per-frame path (CUDA graphs on GPU)
    weights_seed: int = 0
    source_cache: int = 8

    def __post_init__(self) -> None:
        check_align(self.align)
        if self.precision is not None:
            check_precision(self.precision)
        if self.source_cache < 0:
            raise ValueError(f"source_cache must be >= 0, got {self.source_cache}")


@dataclass(frozen=True)
class RenderRequest:
    """One clip. Paths may be local or storage URIs; SadTalker / seed-fork CLI names in the docs."""

    image: str
    audio: str
    out: str | None = None  # mp4 path or URI; may be None only with save_betas
    size: int = 256
    preprocess: str = "crop"  # crop | extcrop | resize | full | extfull
    still: bool = False
    pose_style: int = 0  # 0..45
    expression_scale: float = 1.0
    batch_size: int = 2  # frames per renderer call
    ref_eyeblink: str | None = None  # video whose expressions (and blinks) drive the eyes
    ref_pose: str | None = None  # video whose head motion is added to the pose
    seed: int = 0  # blinks and PoseVAE latents
    emotion: str | None = None  # with ``head``: emotion head applied to the expressions
    intensity: float = 1.0
    alpha: float = 1.0
    ortho: bool = False
    head: str | None = None  # directory of a saved emotion head
    expnet_checkpoint: str | None = None  # fine-tuned ExpNet file (plain or seed-fork format)
    posevae_checkpoint: str | None = None  # trained PoseVAE export dir (``jobs.train posevae``)
    save_betas: str | None = None  # write the [T, 70] coefficients (.pt) and stop before rendering
    override_betas: str | None = None  # [T, D] tensor replacing coefficients[:, :D]
    paste: str = "seamless"  # full modes: seamless (Poisson, as SadTalker) or feather
    # free view (SadTalker's --input_yaw/pitch/roll): key angles in degrees ramped over the clip
    yaw: tuple[float, ...] | None = None
    pitch: tuple[float, ...] | None = None
    roll: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.size not in SIZES + STAND_IN_SIZES:
            raise ValueError(f"size must be one of {SIZES + STAND_IN_SIZES}, got {self.size!r}")
        if self.preprocess not in MODES:
            raise ValueError(f"unknown preprocess {self.preprocess!r}; expected one of {MODES}")
        if self.paste not in METHODS:
            raise ValueError(f"unknown paste method {self.paste!r}; expected one of {METHODS}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        for name in ("expression_scale", "intensity", "alpha"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)}")
        if (self.emotion is None) != (self.head is None):
            raise ValueError("emotion and head go together: give both an emotion name and a head directory")
        if self.out is None and self.save_betas is None:
            raise ValueError("nothing to write: give an output video (out) or save_betas")
        if self.save_betas is not None and self.override_betas is not None:
            raise ValueError("save_betas stops before override_betas would apply: give only one of them")
        Audio2CoeffConfig(pose_style=self.pose_style, seed=self.seed)

    def inputs(self) -> dict[str, str]:
        """Every input file of the request by role (CLI option name), for existence checks."""
        roles = {
            "image": self.image,
            "audio": self.audio,
            "ref-eyeblink": self.ref_eyeblink,
            "ref-pose": self.ref_pose,
            "expnet checkpoint": self.expnet_checkpoint,
            "override betas": self.override_betas,
        }
        return {role: str(uri) for role, uri in roles.items() if uri is not None}


@dataclass(frozen=True)
class RenderResult:
    """What one request produced. ``seconds`` is the video length (frames / fps)."""

    out: str | None
    betas: str | None
    frames: int
    seconds: float
    fps: int
    warnings: tuple[str, ...]
    source_cached: bool
    elapsed_s: float

    def summary(self) -> dict:
        """JSON-ready dict (the CLI's one-line summary)."""
        return {**asdict(self), "warnings": list(self.warnings), "elapsed_s": round(self.elapsed_s, 3)}


@dataclass(frozen=True)
class SourceFace:
    """Cached per-image work: original picture, crop, its CropInfo, 73-dim row, renderer encoding."""

    image: np.ndarray
    info: CropInfo
    row: torch.Tensor  # [1, 73]
    prepared: PreparedSource
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ClipInputs:
    """One clip's inputs for span-by-span work on long audio (:meth:`TalkingFacePipeline.keypoint_span`):
    the request, its prepared source, the audio's mel windows (e.g. a ``PcmFeatures``), the emotion head
    and the reference videos' rows (:meth:`TalkingFacePipeline.references`)."""

    request: RenderRequest
    source: SourceFace
    features: WindowSource
    head: torch.nn.Module | None = None
    refs: dict[str, torch.Tensor | None] = field(default_factory=dict)


def local_input(uri: str, role: str) -> Path:
    """A local path for an input file or storage URI; FileNotFoundError naming the input otherwise."""
    from storage import download_to_cache

    try:
        return download_to_cache(str(uri))
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{role} not found: {uri}") from err


def read_image(uri: str) -> tuple[np.ndarray, str]:
    """RGB uint8 pixels of an image file/URI (EXIF orientation applied) and its content's sha256."""
    data = local_input(uri, "image").read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as img:
            pixels = np.array(ImageOps.exif_transpose(img).convert("RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"image {uri}: not a readable picture ({err})") from err
    return pixels, hashlib.sha256(data).hexdigest()


def _emotional(head: torch.nn.Module, exp: torch.Tensor, request: RenderRequest) -> torch.Tensor:
    """The request's emotion head applied to ExpNet betas exp [n, 64] (the first frame_len - 1 rows of a
    span that starts inside the clip are only the head's warm-up)."""
    from talkingface.emotion import apply_head

    return apply_head(head, exp, request.emotion, request.intensity, request.alpha, request.ortho)


def crop_aspect_frames(frames: Iterator[np.ndarray], info: CropInfo, size: int) -> Iterator[np.ndarray]:
    """Frames resized to ``size`` x ``int(size * h / w)`` of the cut region, as SadTalker writes them."""
    width, height = info.as_sadtalker()[0]
    target = (size, int(size * height / width))
    for frame in frames:
        yield frame if frame.shape[:2] == target[::-1] else cv2.resize(frame, target)


class TalkingFacePipeline:
    """Networks loaded once, per-image results cached; :meth:`render` runs one :class:`RenderRequest`."""

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()
        cfg = self.config
        self.models = ModelStore(
            cfg.checkpoint_dir,
            cfg.model_config,
            cfg.device,
            cfg.weights_seed,
            RenderOptions(precision=resolve_precision(cfg.precision, cfg.device), compile=cfg.compile),
        )
        self.precision = self.models.render_options.precision  # the resolved precision, recon net too
        self._detector: LandmarkDetector | None = None
        self._sources: OrderedDict[tuple, SourceFace] = OrderedDict()

    def detector(self) -> LandmarkDetector:
        """The landmark detector, built on first use."""
        if self._detector is None:
            cfg = self.config
            weights = Path(cfg.face_weights) if cfg.face_weights else None
            self._detector = LandmarkDetector(
                DetectorConfig(
                    device=cfg.device,
                    face_detector=cfg.detector,
                    landmarks=cfg.landmarks,
                    weights_dir=weights,
                )
            )
        return self._detector

    def warm_up(self, size: int = 256, batch_size: int = 2) -> float:
        """Load the ``size`` models and render one batch (with ``compile``: compile it); seconds taken.

        Call once per worker before the first request so no request pays the compile time.
        """
        return self.models.size_models(size).renderer.warm_up((size, size), batch_size)

    def render(self, request: RenderRequest) -> RenderResult:
        """Render (or, with ``save_betas``, only predict) one clip."""
        start = time.perf_counter()
        head = self._check_emotion(request)
        local = {role: local_input(uri, role) for role, uri in request.inputs().items()}
        features = audio_features(local["audio"])
        betas = None
        if request.override_betas is not None:
            betas = read_betas(request.override_betas, features.num_frames)
        source, cached = self.source(request.image, request.size, request.preprocess)
        coeffs = self.coefficients(request, source, features, head)
        count = 0
        if request.save_betas is not None:
            save_betas(coeffs, request.save_betas)
        else:
            if betas is not None:
                coeffs = override_betas(coeffs, betas)
            from storage import atomic_output

            with atomic_output(str(request.out)) as tmp:
                count = write_video(tmp, self.frames(request, source, coeffs), features.wav, SAMPLE_RATE)
        return RenderResult(
            out=None if request.save_betas is not None else str(request.out),
            betas=request.save_betas,
            frames=count or features.num_frames,
            seconds=(count or features.num_frames) / FPS,
            fps=FPS,
            warnings=(*self.models.warnings, *source.warnings),
            source_cached=cached,
            elapsed_s=time.perf_counter() - start,
        )

    def _check_emotion(self, request: RenderRequest) -> torch.nn.Module | None:
        """The emotion head of the request (None without one), after checking the emotion name."""
        if request.head is None:
            return None
        if not Path(request.head).is_dir():
            raise FileNotFoundError(f"emotion head directory not found: {request.head}")
        head = self.models.head(request.head)
        head.condition.index([request.emotion])  # ValueError listing the head's emotions
        return head

    def source(self, image: str, size: int, preprocess: str) -> tuple[SourceFace, bool]:
        """The (cached) per-image work for ``image`` at ``size`` in ``preprocess`` mode; True if cached."""
        pixels, digest = read_image(image)
        key = (digest, size, preprocess)
        if key in self._sources:
            self._sources.move_to_end(key)
            return self._sources[key], True
        models = self.models.size_models(size)
        face = FaceReconstructor(models.recon, self.detector, precision=self.precision).reconstruct(
            [pixels], preprocess, size, self.config.align, str(image)
        )
        prepared = models.renderer.prepare(load_source_image(face.crop, size))
        found = SourceFace(pixels, face.info, face.rows[:1], prepared, face.warnings)
        for warning in face.warnings:
            log.warning(warning)
        if self.config.source_cache:
            self._sources[key] = found
            while len(self._sources) > self.config.source_cache:
                self._sources.popitem(last=False)
        return found, False

    def reference_rows(self, video: str, role: str, request: RenderRequest) -> torch.Tensor:
        """73-dim rows of every frame (25 fps) of a reference video."""
        frames = list(read_frames(local_input(video, role)))
        recon = self.models.size_models(request.size).recon
        return (
            FaceReconstructor(recon, self.detector, precision=self.precision)
            .reconstruct(frames, request.preprocess, request.size, self.config.align, video)
            .rows
        )

    def references(self, request: RenderRequest) -> dict[str, torch.Tensor | None]:
        """Rows [N, 73] of the request's reference videos (``ref_eyeblink``, ``ref_pose``; None: unset)."""
        return {
            name: None if path is None else self.reference_rows(path, name.replace("_", "-"), request)
            for name, path in (("ref_eyeblink", request.ref_eyeblink), ("ref_pose", request.ref_pose))
        }

    def coefficients(
        self,
        request: RenderRequest,
        source: SourceFace,
        features: AudioFeatures,
        head: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        """Audio2Coeff's [T, 70] coefficients, the emotion head applied to the expression columns."""
        model = self.models.audio2coeff(request.size, request.expnet_checkpoint, request.posevae_checkpoint)
        cfg = Audio2CoeffConfig(pose_style=request.pose_style, seed=request.seed)
        coeffs = model.predict(features.mel_windows, source.row, cfg, **self.references(request)).coeffs
        if head is None:
            return coeffs
        return torch.cat([_emotional(head, coeffs[:, :64], request).to(coeffs), coeffs[:, 64:]], dim=1)

    def coefficient_span(self, clip: ClipInputs, start: int, stop: int) -> torch.Tensor:
        """``coefficients(...)[start:stop]`` (to float rounding) from the audio of those frames and their
        neighbours (PoseVAE chunks, smoothing, the head's window): long clips, span by span."""
        request, head = clip.request, clip.head
        model = self.models.audio2coeff(request.size, request.expnet_checkpoint, request.posevae_checkpoint)
        cfg = Audio2CoeffConfig(pose_style=request.pose_style, seed=request.seed)
        features, row, refs = clip.features, clip.source.row, clip.refs
        first = start if head is None else max(0, start - (head.config.frame_len - 1))  # causal windows
        exp = model.expression_span(features, row, cfg, first, stop, ref_eyeblink=refs.get("ref_eyeblink"))
        if head is not None:
            exp = _emotional(head, exp, request)
        pose = model.pose_span(features, row, cfg, start, stop, ref_pose=refs.get("ref_pose"))
        return torch.cat([exp[start - first :].to(pose), pose], dim=1)

    def frames(
        self, request: RenderRequest, source: SourceFace, coeffs: torch.Tensor
    ) -> Iterator[np.ndarray]:
        """Output frames (uint8 HxWx3), streamed ``batch_size`` renderer frames at a time."""
        kp_source, kp_driving = self.keypoints(request, source, coeffs)
        return self.render_keypoints(request, source, kp_source, kp_driving)

    def keypoints(
        self, request: RenderRequest, source: SourceFace, coeffs: torch.Tensor
    ) -> tuple[torch.Tensor, Iterator[torch.Tensor]]:
        """kp_source [1, K, 3] and the driving keypoints of every frame as [<=64, K, 3] chunks.

        Everything temporal (27-frame coefficient windows, free-view ramps) happens here, over the whole
        clip (windows built chunk by chunk, so memory grows with the [T, 73] rows only); rendering the
        keypoints is then independent per frame, so any slice of them renders the same frames as the
        whole clip does.
        """
        return self._keypoints(request, source, coeffs, 0, len(coeffs), range(len(coeffs)))

    def keypoint_span(self, clip: ClipInputs, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """kp_source [1, K, 3] and the driving keypoints [stop - start, K, 3] of frames start..stop-1: those
        of :meth:`keypoints` over the whole clip's coefficients (to float rounding), computed from the
        coefficients their windows reach. Memory depends on the span, not on the clip's length."""
        radius, num_frames = SemanticsConfig.radius, len(clip.features)
        lo, hi = max(0, start - radius), min(num_frames, stop + radius)
        coeffs = self.coefficient_span(clip, lo, hi)
        frames = range(start, stop)
        kp_source, chunks = self._keypoints(clip.request, clip.source, coeffs, lo, num_frames, frames)
        return kp_source, torch.cat(list(chunks))

    def _keypoints(
        self,
        request: RenderRequest,
        source: SourceFace,
        coeffs: torch.Tensor,
        first_row: int,
        num_frames: int,
        frames: range,
    ) -> tuple[torch.Tensor, Iterator[torch.Tensor]]:
        """kp_source and the keypoints of ``frames`` in chunks; ``coeffs`` are rows ``first_row..`` of a
        ``num_frames``-frame clip and cover the frames' windows."""
        full = source.info.pastes_back
        cfg = SemanticsConfig(
            size=request.size, expression_scale=request.expression_scale, still=request.still, full=full
        )
        device = self.models.device
        mapping = self.models.mapping(full)
        rows = driving_rows(coeffs, source.row, cfg)  # [n, 73]
        kp_canonical = source.prepared.kp_canonical.to(device)
        views = {
            name: None if keys is None else camera_angles(keys, num_frames).to(device)
            for name, keys in (("yaw", request.yaw), ("pitch", request.pitch), ("roll", request.roll))
        }

        def posed(semantics: torch.Tensor, span: slice | None = None) -> torch.Tensor:
            angles = {} if span is None else {k: v[span] for k, v in views.items() if v is not None}
            with torch.inference_mode():
                return transform_keypoints(kp_canonical, mapping(semantics.to(device)), **angles)

        kp_source = posed(source_semantics(source.row, cfg))
        chunks = (
            slice(i, min(i + MAPPING_CHUNK, frames.stop))
            for i in range(frames.start, frames.stop, MAPPING_CHUNK)
        )
        # windows built per chunk: memory for 64 frames' [73, 27] windows, not the whole clip's
        kp_driving = (
            posed(semantic_windows(rows, cfg.radius, span, first_row, num_frames), span) for span in chunks
        )
        return kp_source, kp_driving

    def render_keypoints(
        self,
        request: RenderRequest,
        source: SourceFace,
        kp_source: torch.Tensor,
        kp_driving: torch.Tensor | Iterator[torch.Tensor],
    ) -> Iterator[np.ndarray]:
        """Output frames (uint8 HxWx3) of driving keypoints: rendered, then pasted back or resized."""
        renderer = self.models.size_models(request.size).renderer
        rendered = renderer.frames(source.prepared, kp_source, kp_driving, request.batch_size)
        if source.info.pastes_back:
            return paste_frames(source.image, rendered, source.info, PasteConfig(request.paste))
        return crop_aspect_frames(rendered, source.info, request.size)
