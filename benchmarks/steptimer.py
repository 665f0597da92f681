"""Timed training steps shared by the speed benchmarks (speed.py, gpu_check.py).

One step is what ``engine.fit`` does per batch: the method's ``training_step`` under the device's
autocast, then zero_grad / backward / optimiser step.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
from torch import Tensor

from noisylabels.precision import autocast_for


def time_training_steps(
    method: torch.nn.Module, data: object, opt: torch.optim.Optimizer, gen: torch.Generator,
    batch: Callable[[int], Tensor], steps: int, *, warmup: int = 3, epoch: int = 2,
) -> tuple[float, float]:
    """Run ``warmup`` untimed then ``steps`` timed training steps.

    Args:
        method: a Method in train mode; data: its TrainData; gen: the step generator.
        batch: step number -> (B,) int64 indices into the training set, on the data's device; it may
            also do per-step work that belongs to the timing (e.g. fetch views from a loader).
        epoch: the epoch number passed to ``training_step`` (past a 1-epoch warm-up by default).
    Returns:
        (seconds of the warm-up steps, including any compilation; seconds of the timed steps), with
        the device synchronised at both ends on CUDA.
    """
    device = data.device  # type: ignore[attr-defined]

    def step(i: int) -> None:
        idx = batch(i)
        with autocast_for(device):
            loss, _ = method.training_step(idx, epoch, data, gen)  # type: ignore[operator]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return time_calls(step, device, steps, warmup=warmup)


def time_calls(fn: Callable[[int], None], device: torch.device, steps: int, *, warmup: int = 3) -> tuple[float, float]:
    """``fn(i)`` for ``warmup`` untimed then ``steps`` timed calls -> (warm-up seconds, timed seconds), the
    device synchronised at both ends on CUDA."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    for i in range(warmup):
        fn(i)
    sync()
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        fn(i)
    sync()
    return warm, time.perf_counter() - t0
