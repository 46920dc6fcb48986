"""Numerical parity against SadTalker golden tensors (see ``python -m talkingface.parity --help``)."""
