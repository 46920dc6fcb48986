"""Numeric precision of a network run: fp32, or bf16 / fp16 autocast with fp32 islands.

One knob, ``precision`` in {fp32, bf16, fp16}, for the renderer and the recon net:

* ``fp32`` runs every op in float32 (exact parity with the golden sets);
* ``bf16`` / ``fp16`` run the network under ``torch.autocast``: convolutions and matmuls take
  low-precision operands (oneDNN AVX-512-BF16 / AMX kernels on CPU, tensor cores on CUDA) and accumulate
  in float32; the ``islands`` (modules named by the caller, found by measurement to cause most of the
  error) run in float32 with their inputs cast up.

:func:`default_precision` picks bf16 where the device does it natively (CUDA with bf16, a CPU with
AVX-512-BF16 or AMX) and fp32 elsewhere. On a CPU without them oneDNN falls back to reference kernels
that are two orders of magnitude slower than fp32; :class:`EmulatedLowPrecision` reproduces the
numerics of a native run (low-precision operands and outputs, fp32 accumulation) at fp32 speed, so the
quality of the fast path can be measured anywhere.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
_ISLAND = "_fp32_island"  # marker attribute on a module whose forward was wrapped


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else ValueError naming the choices."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    return precision


def native_precisions(device: str | torch.device) -> tuple[str, ...]:
    """Precisions the device computes natively (fast convolutions / matmuls)."""
    device = torch.device(device)
    found = ["fp32"]
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported(including_emulation=False):
            found.append("bf16")
        found.append("fp16")  # every GPU current CUDA torch builds for has fp16 arithmetic
    elif device.type == "cpu" and torch.backends.mkldnn.is_available():
        if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported():
            found.append("bf16")
        if torch.cpu._is_amx_fp16_supported():
            found.append("fp16")
    return tuple(found)


def default_precision(device: str | torch.device) -> str:
    """bf16 where ``device`` has it natively, fp32 otherwise."""
    return "bf16" if "bf16" in native_precisions(device) else "fp32"


def resolve_precision(precision: str | None, device: str | torch.device) -> str:
    """``precision`` checked, or the device's default when it is None (a warning if it is not native)."""
    if precision is None:
        return default_precision(device)
    if check_precision(precision) not in native_precisions(device):
        log.warning(
            "precision %s is not native on %s (no AVX-512-BF16/AMX or tensor cores): expect it to run "
            "much slower than fp32",
            precision,
            device,
        )
    return precision


def autocast(precision: str, device: str | torch.device) -> contextlib.AbstractContextManager:
    """The autocast region of ``precision`` on ``device`` (a no-op for fp32)."""
    device = torch.device(device)
    if check_precision(precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


def _float(value):
    return value.float() if isinstance(value, torch.Tensor) and value.is_floating_point() else value


class _Fp32Forward:
    """A module's forward run outside autocast, floating-point tensor arguments cast to float32."""

    def __init__(self, forward, device_type: str) -> None:
        self.forward, self.device_type = forward, device_type

    def __call__(self, *args, **kwargs):
        with torch.autocast(self.device_type, enabled=False):
            return self.forward(*tree_map(_float, args), **tree_map(_float, kwargs))


def set_fp32_islands(root: nn.Module, names: Iterable[str], device_type: str) -> None:
    """Make the submodules ``names`` of ``root`` run in float32 inside any autocast region.

    Idempotent; outside autocast the wrapped forwards compute exactly what they did before. The
    state dict is unchanged (the forward is replaced on the instance, no wrapper module).
    """
    for name in names:
        module = root.get_submodule(name)
        if not getattr(module, _ISLAND, False):
            module.forward = _Fp32Forward(module.forward, device_type)
            setattr(module, _ISLAND, True)


def clear_fp32_islands(root: nn.Module) -> None:
    """Undo :func:`set_fp32_islands` on every submodule of ``root``."""
    for module in root.modules():
        if getattr(module, _ISLAND, False):
            del module.forward
            delattr(module, _ISLAND)


class EmulatedLowPrecision(TorchDispatchMode):
    """Convolutions and matmuls whose operands autocast made bf16/fp16 are computed in float32 from those
    exact low-precision values and rounded back to the low dtype.

    That is what AMX, AVX-512-BF16 and tensor cores compute (exact products of low-precision operands,
    float32 accumulation, a low-precision result), up to the summation order; every other op runs as
    in a native run. Use it inside an :func:`autocast` region on hardware without native support.
    """

    aten = torch.ops.aten
    OPS = frozenset(  # packets: inference mode dispatches conv2d/linear undecomposed, autograd convolution
        {
            aten.conv1d,
            aten.conv2d,
            aten.conv3d,
            aten.convolution,
            aten.linear,
            aten.matmul,
            aten.mm,
            aten.addmm,
            aten.bmm,
            aten.baddbmm,
        }
    )
    LOW = (torch.bfloat16, torch.float16)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.overloadpacket in self.OPS:
            low = [a.dtype for a in args if isinstance(a, torch.Tensor) and a.dtype in self.LOW]
            if low:
                return func(*tree_map(_float, args), **tree_map(_float, kwargs)).to(low[0])
        return func(*args, **kwargs)


@contextlib.contextmanager
def region(precision: str, device: str | torch.device, emulate: bool = False) -> Iterator[None]:
    """:func:`autocast` of ``precision``; with ``emulate``, low-precision matmuls via
    :class:`EmulatedLowPrecision` (for measuring the numerics on hardware without native support)."""
    with autocast(precision, device):
        if emulate and precision != "fp32":
            with EmulatedLowPrecision():
                yield
        else:
            yield
