"""Numeric precision of the training steps and of inference (a leaf: torch only)."""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

import torch

_BF16 = contextvars.ContextVar("noisylabels_bf16", default=True)  # whether autocast_for may give bf16


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; full precision on CPU (CPU bf16 is slower than fp32 on most cores) and
    inside :func:`bf16_allowed` (False)."""
    if device.type == "cuda" and _BF16.get():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def bf16_allowed(allowed: bool) -> Iterator[None]:
    """Within: :func:`autocast_for` gives bf16 on CUDA only if ``allowed``; the engine runs a fit (its steps,
    E-steps and evaluations) inside it, so ``FitConfig.autocast=False`` trains in fp32 as the official TCL
    code does."""
    token = _BF16.set(allowed)
    try:
        yield
    finally:
        _BF16.reset(token)
