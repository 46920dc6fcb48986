"""``python -m talkingface.parity GOLDEN.safetensors``: max-abs-diff per golden tensor.

Each check module reproduces a group of golden tensors with our own networks loaded from the
rule weights; tensors no check produces are reported as ``not checked``. Exit status 1 when any
checked tensor is past its tolerance (or a check crashed).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback

import torch

from talkingface.parity.golden import GoldenSet
from talkingface.parity.tolerance import tolerance_for

# Check modules, each exposing CHECKS: list of (name, callable(GoldenSet) -> dict[str, Tensor]).
CHECK_MODULES = (
    "talkingface.parity.checks_coeff",
    "talkingface.parity.checks_recon",
    "talkingface.parity.checks_mapping",
    "talkingface.parity.checks_render",
)


def available_checks() -> list[tuple[str, object]]:
    checks = []
    for name in CHECK_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        checks.extend(module.CHECKS)
    return checks


def max_abs_diff(ours: torch.Tensor, golden: torch.Tensor) -> float:
    if tuple(ours.shape) != tuple(golden.shape):
        raise ValueError(f"shape {tuple(ours.shape)} != golden {tuple(golden.shape)}")
    return (ours.detach().double().cpu() - golden.double()).abs().max().item() if golden.numel() else 0.0


def run(golden_file: str, only: list[str] | None = None, out=sys.stdout) -> int:
    """Run every check (or those whose name starts with one of ``only``); print a table; return exit code."""
    torch.set_grad_enabled(False)
    golden = GoldenSet.load(golden_file)
    produced: dict[str, torch.Tensor] = {}
    failures: list[str] = []
    for name, check in available_checks():
        if only and not any(name.startswith(prefix) for prefix in only):
            continue
        start = time.perf_counter()
        try:
            produced.update(check(golden))
            print(f"# check {name}: {time.perf_counter() - start:.1f}s", file=out)
        except Exception:
            failures.append(name)
            print(f"# check {name} CRASHED:\n{traceback.format_exc()}", file=out)
    worst = 0
    print(f"{'tensor':34s} {'max_abs_diff':>14s} {'tolerance':>10s}  status", file=out)
    for key, ref in golden.tensors.items():
        if key not in produced:
            print(f"{key:34s} {'-':>14s} {'-':>10s}  not checked", file=out)
            continue
        tol = tolerance_for(key)
        try:
            diff = max_abs_diff(produced[key], ref)
            status = "ok" if diff <= tol else "FAIL"
            print(f"{key:34s} {diff:14.3e} {tol:10.0e}  {status}", file=out)
        except ValueError as err:
            status = "FAIL"
            print(f"{key:34s} {'-':>14s} {tol:10.0e}  FAIL ({err})", file=out)
        worst |= status == "FAIL"
    checked = sum(k in produced for k in golden.tensors)
    print(
        f"# {checked}/{len(golden.tensors)} tensors checked, crashed checks: {failures or 'none'}", file=out
    )
    return 1 if worst or failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m talkingface.parity", description=__doc__)
    parser.add_argument(
        "golden", help="golden .safetensors (its .json, manifest.json, weight_rule.py beside it)"
    )
    parser.add_argument("--only", nargs="*", help="run only checks whose name starts with one of these")
    args = parser.parse_args(argv)
    return run(args.golden, args.only)
