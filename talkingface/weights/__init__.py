"""SadTalker checkpoints: where each part lives, strict loading, rule-weight files and downloads."""

from talkingface.weights.load import CheckpointError, CheckpointMismatch, load_part, load_state, read_parts
from talkingface.weights.registry import PARTS, layout_files, layout_parts

__all__ = [
    "PARTS",
    "CheckpointError",
    "CheckpointMismatch",
    "layout_files",
    "layout_parts",
    "load_part",
    "load_state",
    "read_parts",
]
