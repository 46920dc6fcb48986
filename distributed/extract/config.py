"""Configuration of the extraction job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from distributed.faults import crash_switches
from talkingface.face.detect import DetectorConfig


@dataclass(frozen=True)
class ExtractConfig:
    """Knobs of ``jobs.extract`` (CLI flags map one to one)."""

    corpus: str
    out: str
    dataset: str = "auto"
    weights: str | None = None  # dir/URI with official SadTalker files (required unless stand_in_weights)
    stand_in_weights: bool = False  # allow seeded random recon weights when weights is None (tests, demos)
    # auto: face-alignment SFD + FAN where their weight files are present, else dlib (pip-shipped, offline)
    detector: str = "auto"  # auto, dlib, dlib-cnn, sfd or haar
    landmarks: str = "auto"  # auto, dlib, fan or template (mean face in the box: explicit smoke runs only)
    detect_every: int = 5  # video: detect faces every n-th frame, track landmarks in between (dlib)
    allow_mixed_provenance: bool = False  # write into an output made with other weights / backends
    face_weights: str | None = None  # local dir with face-alignment weights (else torch hub cache / download)
    num_gpus_per_actor: float = 0.0
    num_cpus_per_actor: float = 1.0
    concurrency: int = 1  # recon actors (the pool's maximum when min_concurrency is set)
    min_concurrency: int | None = None  # autoscale the recon pool between this and concurrency
    # frames per recon-net forward; None: 32 on GPU, 4 on CPU (larger CPU batches were slower, benchmarks/)
    batch_size: int | None = None
    landmark_stride: int = 1  # run the landmark net every n-th frame, interpolate between (1 = exact)
    min_face_ratio: float = 0.5  # clips with faces in fewer frames than this fail with a reason
    min_frames: int = 5
    retry_errors: bool = False  # rerun clips whose previous attempt committed an error row
    limit: int | None = None  # process at most this many pending clips (smoke runs)
    precision: str | None = None  # recon net: fp32 | bf16 | fp16; None = bf16 where native, else fp32
    max_retries: int = 2  # retries of a task whose worker died (then one last pass, then an error row)
    crash_on: str | None = None  # test-only: distributed.faults.CrashSwitch specs (a recon actor dies)

    def actor_pool(self) -> tuple[int, int]:
        """(min, max) recon actors: fixed at ``concurrency`` unless ``min_concurrency`` is set."""
        return (self.min_concurrency or self.concurrency, self.concurrency)

    def recon_batch_size(self, device: str) -> int:
        """Frames per recon-net forward on ``device``."""
        return self.batch_size or (32 if device.startswith("cuda") else 4)

    def detector_config(self) -> DetectorConfig:
        """The face detector + landmark backend these flags ask for."""
        weights_dir = Path(self.face_weights) if self.face_weights else None
        return DetectorConfig(face_detector=self.detector, landmarks=self.landmarks, weights_dir=weights_dir,
                              detect_every=self.detect_every)  # fmt: skip

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"--concurrency must be >= 1, got {self.concurrency}")
        if self.min_concurrency is not None and not 1 <= self.min_concurrency <= self.concurrency:
            raise ValueError(
                f"--min-concurrency must be in [1, {self.concurrency}], got {self.min_concurrency}"
            )
        if (self.batch_size is not None and self.batch_size < 1) or min(
            self.landmark_stride, self.detect_every
        ) < 1:
            raise ValueError(f"--batch-size, --landmark-stride and --detect-every must be >= 1, got {self}")
        if not 0 <= self.num_gpus_per_actor <= 8:
            raise ValueError(f"--num-gpus-per-actor must be in [0, 8], got {self.num_gpus_per_actor}")
        if self.precision is not None:
            from talkingface.precision import PRECISIONS  # torch: not at module level, see udfs.py

            if self.precision not in PRECISIONS:
                raise ValueError(f"--precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.max_retries < 0:
            raise ValueError(f"--max-retries must be >= 0, got {self.max_retries}")
        crash_switches(self.crash_on)
        if not 0 < self.min_face_ratio <= 1:
            raise ValueError(f"--min-face-ratio must be in (0, 1], got {self.min_face_ratio}")
