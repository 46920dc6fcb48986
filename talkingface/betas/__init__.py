"""get-betas: a talking-face video -> per-frame 3DMM coefficients, SadTalker's preprocessing exactly.

The package imports no torch (decode and commit workers use it); the recon side is
``talkingface.betas.extractor.BetasExtractor``.
"""

from talkingface.betas.media import ClipMedia, ClipTooShort, decode_clip, frame_windows
from talkingface.betas.record import FrameBetas

__all__ = ["ClipMedia", "ClipTooShort", "FrameBetas", "decode_clip", "frame_windows"]
