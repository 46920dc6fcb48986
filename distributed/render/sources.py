"""A prepared source face (crop, CropInfo, 3DMM row, canonical keypoints, feature volume) to and from a file.

Written once per distinct (image, size, crop mode, models) by the source stage, read by the coefficient
and render actors (``torch.load(weights_only=True)``: tensors, numbers, strings, lists only).
"""

from __future__ import annotations

import torch

import storage
from talkingface.face.crop import CropInfo
from talkingface.render.animate import PreparedSource
from talkingface.render.pipeline import SourceFace


def _box(value):
    return None if value is None else tuple(value)


def _ints(value):
    return None if value is None else [int(v) for v in value]


def save_source(face: SourceFace, uri: str) -> None:
    """Write ``face`` to ``uri`` atomically."""
    info = face.info
    blob = {
        "image": torch.from_numpy(face.image.copy()),
        "info": [info.mode, *map(_ints, (info.image_size, info.resized_size, info.crop_box, info.quad_box))],
        "row": face.row.cpu(),
        "kp_canonical": face.prepared.kp_canonical.cpu(),
        "feature": face.prepared.feature.cpu(),
        "size": list(face.prepared.size),
        "warnings": list(face.warnings),
    }
    with storage.atomic_output(uri) as tmp:
        torch.save(blob, tmp)


def load_source(uri: str, device: torch.device) -> SourceFace:
    """The prepared source at ``uri`` with its tensors on ``device``."""
    blob = torch.load(storage.download_to_cache(uri), map_location="cpu", weights_only=True)
    mode, image_size, resized_size, crop_box, quad_box = blob["info"]
    info = CropInfo(mode, tuple(image_size), tuple(resized_size), _box(crop_box), _box(quad_box))
    prepared = PreparedSource(
        kp_canonical=blob["kp_canonical"].to(device),
        feature=blob["feature"].to(device),
        size=tuple(blob["size"]),
    )
    return SourceFace(blob["image"].numpy(), info, blob["row"].to(device), prepared, tuple(blob["warnings"]))
