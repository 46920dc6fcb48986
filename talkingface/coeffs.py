"""Typed 3DMM coefficient layouts (Deep3DFaceRecon / SadTalker) used instead of magic slices.

Three row layouts circulate through the system:

* ``FULL_257``: the recon net output  ``id 80 | exp 64 | tex 80 | angle 3 | gamma 27 | trans 3``.
* ``COEFF_73``: what SadTalker saves per frame ``exp 64 | angle 3 | trans 3 | crop (s, tx, ty) 3``.
* ``COEFF_70``: the driving row of Audio2Coeff and MappingNet ``exp 64 | angle 3 | trans 3``.

``POSE_6`` is ``angle 3 | trans 3`` (PoseVAE's output space).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXP_DIM = 64
POSE_DIM = 6


@dataclass(frozen=True)
class CoeffLayout:
    """Named half-open ranges into a coefficient row."""

    name: str
    fields: tuple[tuple[str, int], ...]

    @property
    def dim(self) -> int:
        return sum(size for _, size in self.fields)

    def span(self, field: str) -> slice:
        """Slice of ``field`` within a row of this layout."""
        start = 0
        for name, size in self.fields:
            if name == field:
                return slice(start, start + size)
            start += size
        raise KeyError(f"layout {self.name!r} has no field {field!r}; fields: {[f for f, _ in self.fields]}")

    def get(self, rows, field: str):
        """``rows[..., span(field)]`` for numpy arrays or torch tensors."""
        self._check(rows)
        return rows[..., self.span(field)]

    def split(self, rows) -> dict:
        """All fields of ``rows`` (last axis = this layout) as a dict of views."""
        self._check(rows)
        return {name: rows[..., self.span(name)] for name, _ in self.fields}

    def _check(self, rows) -> None:
        if rows.shape[-1] != self.dim:
            raise ValueError(
                f"expected last dim {self.dim} for layout {self.name!r}, got {tuple(rows.shape)}"
            )


FULL_257 = CoeffLayout(
    "full_257", (("id", 80), ("exp", 64), ("tex", 80), ("angle", 3), ("gamma", 27), ("trans", 3))
)
COEFF_73 = CoeffLayout("coeff_73", (("exp", 64), ("angle", 3), ("trans", 3), ("crop", 3)))
COEFF_70 = CoeffLayout("coeff_70", (("exp", 64), ("angle", 3), ("trans", 3)))
POSE_6 = CoeffLayout("pose_6", (("angle", 3), ("trans", 3)))


def full_to_73(full, crop_params):
    """SadTalker's saved row: exp | angle | trans of a 257-row plus (s, tx, ty) crop parameters."""
    parts = [FULL_257.get(full, "exp"), FULL_257.get(full, "angle"), FULL_257.get(full, "trans")]
    if not isinstance(full, np.ndarray):  # a tensor; numpy callers (data workers) never import torch
        import torch

        crop = torch.as_tensor(crop_params, dtype=full.dtype).expand(*full.shape[:-1], 3)
        return torch.cat([*parts, crop], dim=-1)
    crop = np.broadcast_to(np.asarray(crop_params, dtype=full.dtype), (*full.shape[:-1], 3))
    return np.concatenate([*parts, crop], axis=-1)
