"""Distributed beta extraction: corpus -> Ray Data -> per-clip Parquet commits.

``config.ExtractConfig`` and ``pipeline.run_extract`` are the entry points. The package imports nothing
itself: its decode and commit workers load ``udfs`` without torch.
"""
