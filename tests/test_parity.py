"""``python -m talkingface.parity`` on golden set A: every SadTalker output reproduced within tolerance."""

from __future__ import annotations

import shutil
import subprocess
import sys

from safetensors.torch import load_file, save_file

INPUTS_ONLY = {"recon.lm68", "src.coeff_3dmm"}  # injected inputs of the golden run, nothing to reproduce


def run_parity(golden_file, *only: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "talkingface.parity", str(golden_file)]
    if only:
        argv += ["--only", *only]
    return subprocess.run(argv, capture_output=True, text=True, timeout=900)


def test_every_golden_output_is_reproduced(oracle_dir, golden):
    result = run_parity(oracle_dir / "golden_A.safetensors")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    status = {row[0]: " ".join(row[3:]) for row in rows if row and row[0] in golden.tensors}
    assert set(status) == set(golden.tensors)
    assert {name for name, state in status.items() if state == "not checked"} == INPUTS_ONLY
    assert all(state == "ok" for name, state in status.items() if name not in INPUTS_ONLY)


def test_a_perturbed_golden_tensor_fails(oracle_dir, tmp_path):
    for name in ("manifest.json", "weight_rule.py", "golden_A.json", "speech.wav", "source_A.png"):
        shutil.copy(oracle_dir / name, tmp_path / name)
    tensors = load_file(str(oracle_dir / "golden_A.safetensors"))
    tensors["a2e.exp"] = tensors["a2e.exp"] + 1e-3
    save_file(tensors, str(tmp_path / "golden_A.safetensors"))
    result = run_parity(tmp_path / "golden_A.safetensors", "coeff.a2e")
    assert result.returncode == 1
    (line,) = [row for row in result.stdout.splitlines() if row.startswith("a2e.exp ")]
    assert line.endswith("FAIL") and float(line.split()[1]) > 9e-4
