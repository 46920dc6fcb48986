"""Configuration of the head-search job (``jobs.tune``)."""

from __future__ import annotations

from dataclasses import dataclass

from talkingface.emotion.heads import HEADS


@dataclass(frozen=True)
class HeadSearchConfig:
    """Knobs of ``jobs.tune`` (CLI flags map one to one). Exactly one of ``pairs`` / ``features``."""

    out: str
    pairs: str | None = None  # head_pairs table (Parquet file or directory, local or s3://)
    features: str | None = None  # extraction output; pairs are built from it with the ExpNet checkpoint
    expnet_checkpoint: str | None = None  # ExpNet for --features (None: stand-in weights)
    name: str = "head_search"  # Tune experiment name under OUT/_tune (a rerun with it resumes)
    num_samples: int = 32  # trials
    time_budget_s: float | None = None  # stop starting / running trials after this many seconds
    max_concurrent_trials: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0  # fractional GPUs per trial (e.g. 0.25: four trials share one GPU)
    max_epochs: int = 20  # ASHA max_t: epochs of a trial that is never stopped early
    grace_period: int = 2  # ASHA: epochs every trial gets before it can be stopped
    reduction_factor: int = 3  # ASHA: keep the best 1/reduction_factor at each rung
    families: tuple[str, ...] = tuple(HEADS)  # head families searched
    widths: tuple[int, ...] = (32, 64, 128, 256)  # MLP hidden / transformer d_model / TCN channels
    frame_len_min: int = 3
    frame_len_max: int = 9
    lr_min: float = 1e-4
    lr_max: float = 3e-2
    val_fraction: float = 0.2  # of the actors
    test_fraction: float = 0.2  # of the actors; 0 = report the best head's val loss as its test loss
    seed: int = 0  # actor split, Optuna (TPE) and trial initialisation

    def __post_init__(self) -> None:
        if (self.pairs is None) == (self.features is None):
            raise ValueError("give exactly one of --pairs (a head_pairs table) and --features")
        unknown = sorted(set(self.families) - set(HEADS))
        if unknown or not self.families:
            raise ValueError(f"--families must be a non-empty subset of {list(HEADS)}, got {self.families}")
        if self.num_samples < 1 or self.max_concurrent_trials < 1:
            raise ValueError("--num-samples and --max-concurrent-trials must be >= 1")
        if not self.cpus_per_trial > 0 or self.gpus_per_trial < 0:
            raise ValueError("--cpus-per-trial must be > 0 (Tune rejects 0) and --gpus-per-trial >= 0")
        if self.max_epochs < 1 or not 1 <= self.grace_period <= self.max_epochs:
            raise ValueError("need --max-epochs >= 1 and 1 <= --grace-period <= --max-epochs")
        if self.reduction_factor < 2:
            raise ValueError(f"--reduction-factor must be >= 2, got {self.reduction_factor}")
        if not self.widths or min(self.widths) < 1 or any(w % 4 for w in self.widths):
            raise ValueError(f"--widths must be positive multiples of 4 (attention heads), got {self.widths}")
        if not 1 <= self.frame_len_min <= self.frame_len_max:
            raise ValueError("need 1 <= --frame-len-min <= --frame-len-max")
        if not 0 < self.lr_min <= self.lr_max:
            raise ValueError("need 0 < --lr-min <= --lr-max")
        if not (
            self.val_fraction > 0 and self.test_fraction >= 0 and self.val_fraction + self.test_fraction < 1
        ):
            raise ValueError("need --val-fraction > 0, --test-fraction >= 0 and their sum < 1")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ValueError(f"--time-budget-s must be > 0, got {self.time_budget_s}")
