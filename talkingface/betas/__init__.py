"""get-betas: a talking-face video -> per-frame 3DMM coefficients, SadTalker's preprocessing exactly."""

from talkingface.betas.extractor import BetasExtractor, FrameBetas
from talkingface.betas.media import ClipMedia, ClipTooShort, decode_clip, frame_windows

__all__ = ["BetasExtractor", "ClipMedia", "ClipTooShort", "FrameBetas", "decode_clip", "frame_windows"]
