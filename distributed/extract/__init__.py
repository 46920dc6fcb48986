"""Distributed beta extraction: corpus -> Ray Data -> per-clip Parquet commits."""

from distributed.extract.config import ExtractConfig
from distributed.extract.pipeline import ExtractSummary, run_extract

__all__ = ["ExtractConfig", "ExtractSummary", "run_extract"]
