"""Parity of the face renderer (golden 3e): KPDetector and the generator on the 2 golden frames.

Inputs are the golden ``fr.source_image``, ``fr.kp_source`` and ``fr.kp_driving`` (MappingNet and the
keypoint transformation are checked in ``checks_mapping``). The two frames are rendered as one batch
through ``FaceRenderer`` (the golden ran them one at a time; the oracle found both bit-identical).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from talkingface.models.kp_detector import KPDetector
from talkingface.parity.golden import GoldenSet
from talkingface.render.animate import FaceRenderer, RenderOptions, to_uint8
from talkingface.render.configs import RendererConfig, load_renderer


def check_kp_canonical(golden: GoldenSet) -> dict[str, torch.Tensor]:
    config = RendererConfig.from_manifest(golden.manifest)
    detector = KPDetector(config.kp_detector).eval()
    detector.load_state_dict(golden.weights("kp_extractor"), strict=True)
    with torch.inference_mode():
        return {"fr.kp_canonical": detector(golden.tensors["fr.source_image"])}


def check_frames(golden: GoldenSet) -> dict[str, torch.Tensor]:
    config = RendererConfig.from_manifest(golden.manifest)
    nets = load_renderer(config, golden.weights("kp_extractor"), golden.weights("generator"))
    kp_source, kp_driving = golden.tensors["fr.kp_source"], golden.tensors["fr.kp_driving"]
    renderer = FaceRenderer(*nets, RenderOptions(batch_size=kp_driving.shape[0]))
    source = renderer.prepare(golden.tensors["fr.source_image"])
    prediction = renderer.predict(source, kp_source, kp_driving)
    with torch.inference_mode():  # the dense-motion intermediates, for debugging a mismatch
        feature = source.feature.expand(kp_driving.shape[0], *source.feature.shape[1:])
        motion = renderer.generator.motion(feature, kp_driving, kp_source)
    return {
        "fr.occlusion_map": motion.occlusion_map,
        "fr.deformation": motion.deformation[:1],
        "fr.mask_f0_sum_over_depth": motion.mask[:1].sum(dim=2),
        "fr.prediction": prediction,
        "fr.frames_uint8": to_uint8(prediction),
    }


CHECKS: list[tuple[str, Callable[[GoldenSet], dict[str, torch.Tensor]]]] = [
    ("render.kp_canonical", check_kp_canonical),
    ("render.frames", check_frames),
]
