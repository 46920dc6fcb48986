"""Configuration of the training job: what every model shares, and each model's own knobs."""

from __future__ import annotations

from dataclasses import dataclass

from talkingface.corpus.labels import EMOTIONS
from talkingface.emotion.heads import HEADS

MODELS = ("expnet", "head", "posevae")


@dataclass(frozen=True)
class TrainJobConfig:
    """Knobs of ``jobs.train`` (CLI flags map one to one); ``model`` picks the network."""

    model: str
    features: str  # extraction output (local dir or s3://)
    out: str  # run root: OUT/checkpoints (Ray Train storage), OUT/model (export)
    name: str | None = None  # Ray Train run name (default: the model); same name = resume
    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    num_workers: int = 1
    use_gpu: bool = False
    cpus_per_worker: float = 0.5  # < 1 so Ray Data's tasks still get CPUs on small machines
    num_to_keep: int = 2
    max_failures: int = 2
    shuffle_buffer: int = 4096  # rows of each worker's local shuffle buffer
    # cut the examples once into Ray's object store (distributed, spilled to disk when large) instead of
    # re-running read + cut every epoch
    materialize: bool = True
    # head
    head: str = "transformer"  # linear | mlp | transformer | tcn
    frame_len: int = 5
    head_options: dict | None = None  # family config overrides, e.g. {"d_model": 64}
    expnet_checkpoint: str | None = None  # ExpNet making the head inputs; None = seeded stand-in
    classifier: str | None = None  # saved expression classifier for Acc_emo; None = train one
    classifier_epochs: int = 20
    # expnet
    weights: str | None = None  # official weights dir/URI to fine-tune from; None = from scratch
    chunk: int = 8  # consecutive frames per ExpNet example (temporal term)
    temporal_weight: float = 1.0
    # posevae
    style_by: str = "emotion"  # pose-style classes: 'emotion' or 'actor' (of the train split)
    kl_weight: float = 0.01
    adv_weight: float = 0.1
    # test only: a worker calls os._exit(1) at the start of this epoch, once (marker file)
    crash_at_epoch: int | None = None
    crash_marker: str | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if not self.features or not self.out:
            raise ValueError("--features and --out are required")
        if min(self.epochs, self.batch_size, self.num_workers, self.frame_len, self.chunk) < 1:
            raise ValueError("epochs, batch_size, num_workers, frame_len and chunk must be >= 1")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {list(HEADS)}, got {self.head!r}")
        if self.style_by not in ("emotion", "actor"):
            raise ValueError(f"style_by must be 'emotion' or 'actor', got {self.style_by!r}")
        if not self.cpus_per_worker > 0:
            raise ValueError(f"cpus_per_worker must be > 0, got {self.cpus_per_worker}")
        if (self.crash_at_epoch is None) != (self.crash_marker is None):
            raise ValueError("crash_at_epoch and crash_marker go together (test-only switch)")

    @property
    def run_name(self) -> str:
        return self.name or self.model

    @property
    def emotions(self) -> tuple[str, ...]:
        return EMOTIONS
