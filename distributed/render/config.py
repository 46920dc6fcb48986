"""Configuration of the bulk rendering job (``jobs.render``): manifest defaults, models, stage sizes."""

from __future__ import annotations

from dataclasses import dataclass

from distributed.faults import crash_switches
from talkingface.precision import PRECISIONS
from talkingface.render.pipeline import PipelineConfig


@dataclass(frozen=True)
class RenderBatchConfig:
    """Knobs of ``jobs.render`` (CLI flags map one to one; manifest columns left empty take these)."""

    manifest: str
    out: str
    results: str | None = None  # results Parquet URI; None: OUT/_results/<run start>.parquet
    # defaults of the manifest's optional columns
    emotion: str | None = None
    intensity: float = 1.0
    alpha: float = 1.0
    ortho: bool = False
    head: str | None = None
    pose_style: int = 0
    expression_scale: float = 1.0
    still: bool = False
    size: int = 256
    preprocess: str = "crop"
    seed: int = 0
    # models (as ``talkingface render``)
    checkpoint_dir: str | None = None  # None: seeded RANDOM stand-in weights (loudly warned)
    model_config: str = "official"  # or "tiny" (tests, benchmarks)
    detector: str = "auto"
    landmarks: str = "auto"
    face_weights: str | None = None
    align: str = "auto"
    precision: str | None = None  # fp32 | bf16 | fp16 of the renderer; None: bf16 where native, else fp32
    compile: bool = False  # torch.compile the render actors' renderer (once per actor)
    # stages
    source_actors: int = 1  # crop + source 3DMM + keypoints, once per distinct image
    coeff_actors: int = 1  # audio -> ExpNet (+ head) + PoseVAE -> keypoints
    render_actors: int = 1
    num_gpus_per_actor: float = 0.0  # render actors (fractional GPUs share one device)
    num_cpus_per_actor: float = 1.0  # render actors
    prep_num_gpus: float = 0.0  # source and coefficient actors
    batch_size: int = 4  # frames per renderer call
    segment_frames: int = 250  # long audio renders in segments of this many frames (10 s)
    crf: int = 23  # libx264 quality (0 = lossless)
    preset: str = "veryfast"
    max_retries: int = 2  # retries of a task whose worker died (then one last pass, then an error row)
    crash_on: str | None = None  # test-only: distributed.faults.CrashSwitch specs (a render actor dies)

    def __post_init__(self) -> None:
        for name in ("source_actors", "coeff_actors", "render_actors", "batch_size", "segment_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ValueError(f"--precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not 0 <= self.num_gpus_per_actor <= 8 or not 0 <= self.prep_num_gpus <= 8:
            raise ValueError("--num-gpus-per-actor and --prep-num-gpus must be in [0, 8]")
        if not 0 <= self.crf <= 51 or self.max_retries < 0:
            raise ValueError(
                f"--crf must be in [0, 51] and --max-retries >= 0, got {self.crf}, {self.max_retries}"
            )
        crash_switches(self.crash_on)
        PipelineConfig(align=self.align)

    def pipeline_config(self, device: str) -> PipelineConfig:
        """The single-clip pipeline's config on ``device``; the one place precision is wired."""
        return PipelineConfig(
            checkpoint_dir=self.checkpoint_dir,
            model_config=self.model_config,
            device=device,
            detector=self.detector,
            landmarks=self.landmarks,
            face_weights=self.face_weights,
            align=self.align,
            precision=self.precision,
            compile=self.compile,
        )
