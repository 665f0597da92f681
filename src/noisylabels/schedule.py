"""What one training run is given (:class:`FitConfig`) and its schedule: the learning rate at each step and
the seed of each epoch (a leaf: the engine runs it, multi-phase methods derive their phases' settings from it)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class FitConfig:
    """Optimisation settings of one run (SGD with linear warm-up then cosine decay)."""

    epochs: int
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    lr_warmup_epochs: float = 0.0
    final_lr_ratio: float = 0.0
    seed: int = 0
    progress: bool = True
    eval_every: int = 1  # evaluate after every k-th epoch and the last (kNN monitors are costly on a CPU)
    compile: bool = False  # torch.compile the method's modules for the training steps (E-step, eval eager)


def lr_at(step: int, total_steps: int, warmup_steps: int, base: float, final_ratio: float) -> float:
    """Linear warm-up from ~0 to ``base`` over ``warmup_steps``, then cosine to ``base * final_ratio``."""
    if step < warmup_steps:
        return base * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    final = base * final_ratio
    return final + (base - final) * 0.5 * (1 + math.cos(math.pi * progress))


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch``'s generator (distinct streams per seed and epoch)."""
    return (seed * 1_000_003 + epoch * 7_919 + 12_345) % (2**63 - 1)
