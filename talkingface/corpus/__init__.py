"""Emotional corpus readers: CREMA-D, RAVDESS and MEAD names -> harmonised ``ClipLabel`` records."""

from talkingface.corpus.auto import detect, parse
from talkingface.corpus.labels import DATASETS, EMOTIONS, ClipLabel, Rejection
from talkingface.corpus.scan import list_files, pair, scan

__all__ = ["DATASETS", "EMOTIONS", "ClipLabel", "Rejection", "detect", "list_files", "pair", "parse", "scan"]
