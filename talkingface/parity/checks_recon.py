"""Parity of SadTalker's face reconstruction (golden ``recon.*``): alignment crop and ReconNet.

Starts from the golden PNG and the golden 68 landmarks only; every later tensor is our own.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from talkingface.face.align import align_face
from talkingface.face.reconstruct import coeff_row, recon_input
from talkingface.models.recon_net import ReconNet
from talkingface.parity.golden import GoldenSet
from talkingface.weights.load import load_state


def _source_rgb(golden: GoldenSet) -> np.ndarray:
    with Image.open(golden.input_file("png")) as image:
        return np.asarray(image.convert("RGB"))


def check_align(golden: GoldenSet) -> dict[str, torch.Tensor]:
    rgb = _source_rgb(golden)
    aligned = align_face(rgb, golden.tensors["recon.lm68"].numpy())
    return {"recon.source_png_rgb": torch.from_numpy(rgb.copy()), "recon.input": recon_input(aligned.crop)}


def check_net(golden: GoldenSet) -> dict[str, torch.Tensor]:
    aligned = align_face(_source_rgb(golden), golden.tensors["recon.lm68"].numpy())
    net = ReconNet().eval()
    load_state(net, golden.weights("face_3drecon"), what="ReconNet")
    full = net(recon_input(aligned.crop))
    return {"recon.coeffs": full, "recon.coeff_3dmm": coeff_row(full, aligned.trans)}


CHECKS = [("recon.align", check_align), ("recon.net", check_net)]
