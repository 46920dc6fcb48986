"""Bulk rendering: a manifest of audio + portraits -> talking-face mp4s, streamed over Ray actor pools."""

from distributed.render.config import RenderBatchConfig
from distributed.render.pipeline import RenderSummary, run_render

__all__ = ["RenderBatchConfig", "RenderSummary", "run_render"]
