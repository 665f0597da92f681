"""Numeric precision of the training steps and of inference (a leaf: torch only)."""

from __future__ import annotations

import contextlib

import torch


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; full precision on CPU (CPU bf16 is slower than fp32 on most cores)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
