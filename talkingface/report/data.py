"""What the report shows, gathered by the caller (the demo job) from the jobs' outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ClipVideo:
    """One rendered clip: its mp4 path relative to the report, and the parameters it was made with."""

    video: str
    params: dict


@dataclass(frozen=True)
class Search:
    """A head search: its results rows (parameters, metrics, why it stopped) and its plot (PNG bytes)."""

    rows: list[dict]
    plot_png: bytes | None = None
    baselines: dict[str, float] = field(default_factory=dict)  # name -> validation loss


@dataclass(frozen=True)
class ReportData:
    """Everything on the page; empty parts are shown as "not run", never silently dropped."""

    title: str
    stand_in_weights: bool  # True: a banner says the networks ran on seeded stand-in weights
    clips: list[dict]  # clips-table rows (dataset, actor, emotion, intensity, n_frames, ...)
    errors: list[dict]  # errors-table rows (source_uri, stage, reason)
    exp_by_emotion: dict[str, np.ndarray]  # emotion -> [N, 64] expression coefficients (frames or clips)
    curves: dict[str, list[dict]]  # model name -> per-epoch {"epoch", "train_loss", "val_loss"}
    metrics: dict[str, dict] = field(default_factory=dict)  # model name -> summary table (e.g. per emotion)
    search: Search | None = None
    videos: list[ClipVideo] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
