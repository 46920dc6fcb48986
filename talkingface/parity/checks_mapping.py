"""Parity of renderer input preparation, MappingNet and the keypoint transformation (golden 3d/3e).

Inputs are the golden ``src.coeff_3dmm``, ``a2c.coeffs``, the source PNG and ``fr.kp_canonical`` (the
KPDetector is checked elsewhere). MappingNet runs over all T driving frames in one batch, although the
golden ran it one frame at a time.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from talkingface.models.mapping_net import HeadMotion, MappingNet
from talkingface.parity.golden import GoldenSet
from talkingface.render.keypoints import transform_keypoints
from talkingface.render.semantics import (
    SemanticsConfig,
    batch_major,
    driving_rows,
    load_source_image,
    semantic_windows,
    source_semantics,
)

GOLDEN_BATCH_SIZE = 2  # fr.target_semantics_bs2
KP_DRIVING_FRAMES = 2  # fr.kp_driving holds frames 0 and 1


def _semantics(golden: GoldenSet) -> tuple[torch.Tensor, torch.Tensor]:
    cfg = SemanticsConfig(size=golden.meta["run"]["size"])
    source = golden.tensors["src.coeff_3dmm"]
    rows = driving_rows(golden.tensors["a2c.coeffs"], source, cfg)
    return source_semantics(source, cfg), semantic_windows(rows, cfg.radius)


def _motions(golden: GoldenSet) -> tuple[HeadMotion, HeadMotion]:
    net = MappingNet.from_state_dict(golden.weights("mapping"))
    source, target = _semantics(golden)
    with torch.no_grad():
        return net(source), net(target)  # [1, ...] and all T frames [T, ...] in one batch


def check_inputs(golden: GoldenSet) -> dict[str, torch.Tensor]:
    source, target = _semantics(golden)
    return {
        "fr.source_image": load_source_image(golden.input_file("png"), golden.meta["run"]["size"]),
        "fr.source_semantics": source,
        "fr.target_semantics": target[None],
        "fr.target_semantics_bs2": batch_major(target, GOLDEN_BATCH_SIZE),
    }


def check_mapping_and_keypoints(golden: GoldenSet) -> dict[str, torch.Tensor]:
    source, driving = _motions(golden)
    out = {f"map.source.{name}": value for name, value in source._asdict().items()}
    out |= {f"map.driving.{name}": value for name, value in driving._asdict().items()}
    kp_canonical = golden.tensors["fr.kp_canonical"]
    first = HeadMotion(*(value[:KP_DRIVING_FRAMES] for value in driving))
    out["fr.kp_source"] = transform_keypoints(kp_canonical, source)
    out["fr.kp_driving"] = transform_keypoints(kp_canonical, first)
    return out


CHECKS: list[tuple[str, Callable[[GoldenSet], dict[str, torch.Tensor]]]] = [
    ("mapping.inputs", check_inputs),
    ("mapping.net_keypoints", check_mapping_and_keypoints),
]
