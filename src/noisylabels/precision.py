"""Numeric precision of the training steps and of inference (a leaf: torch and the error type only).

A fit runs inside :func:`precision_scope` with its resolved precision ("bf16" or "fp32"); every autocast
region of the package (:func:`autocast_for`: the training steps, E-steps, evaluations, the final
predictions) then follows it. Outside any scope ("auto"): bf16 on CUDA, fp32 elsewhere. The views and the
contrastive similarities turn autocast off for themselves and stay fp32 (``data.augment.full_precision``,
``losses.similarities``).
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

import torch

from .errors import UserError

PRECISIONS = ("auto", "fp32", "bf16")
_MODE = contextvars.ContextVar("noisylabels_precision", default="auto")


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 arithmetic units that oneDNN uses (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(name: str, device: torch.device) -> str:
    """"bf16" or "fp32" for ``--precision name`` on ``device``: auto = bf16 on CUDA and on CPUs with bf16
    units (:func:`cpu_has_bf16`), else fp32; bf16 on a CPU without them is refused (it would be emulated,
    several times slower)."""
    if name not in PRECISIONS:
        raise UserError(f"--precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    bf16_here = device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())
    if name == "bf16" and not bf16_here:
        raise UserError(f"--precision bf16: this {device.type.upper()} has no bf16 units (AVX512-BF16 or AMX); "
                        "use --precision fp32 or auto")
    if name == "auto":
        return "bf16" if bf16_here else "fp32"
    return name


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` where the current scope's precision is bf16 (outside a scope: on CUDA
    only); otherwise nothing (fp32)."""
    mode = _MODE.get()
    if mode == "bf16" or (mode == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def precision_scope(mode: str) -> Iterator[None]:
    """Within: :func:`autocast_for` follows ``mode`` ("bf16", "fp32" or "auto")."""
    token = _MODE.set(mode)
    try:
        yield
    finally:
        _MODE.reset(token)
