"""What one training run is given (:class:`FitConfig`) and its schedule: the learning rate at each step, the
seed of each epoch and the samples each epoch draws (a leaf: the engine runs it, multi-phase methods derive
their phases' settings from it)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .options import option_defaults

_DEFAULT = option_defaults()  # the training options' declared defaults
MIN_STEPS_PER_EPOCH = 8  # an epoch that holds fewer full batches than this trains on smaller ones
MIN_SMALL_BATCH = 16  # ... but not on batches smaller than this (batch norm's statistics need samples)


@dataclass
class FitConfig:
    """Optimisation settings of one run (SGD with linear warm-up then cosine decay); the defaults are the
    declared training options' (:mod:`noisylabels.options`)."""

    epochs: int
    batch_size: int = _DEFAULT["batch_size"]
    lr: float = _DEFAULT["lr"]
    momentum: float = _DEFAULT["momentum"]
    weight_decay: float = _DEFAULT["weight_decay"]
    nesterov: bool = False
    lr_warmup_epochs: float = _DEFAULT["lr_warmup_epochs"]
    final_lr_ratio: float = _DEFAULT["final_lr_ratio"]
    seed: int = _DEFAULT["seed"]
    progress: bool = True
    eval_every: int = 1  # evaluate after every k-th epoch and the last (kNN monitors are costly on a CPU)
    compile: bool = _DEFAULT["compile"]  # torch.compile the training steps (E-step and evaluation eager)
    epoch_samples: int | None = _DEFAULT["epoch_samples"]  # per epoch (None: each sample once; epoch_indices)
    class_balanced: bool = _DEFAULT["class_balanced"]  # at most an equal share of an epoch per given class
    # set by a method's recipe (Method.fit_settings), not options of their own:
    decay_all: bool = False  # weight decay on every parameter (default: none on biases and norm layers)
    cosine_all_steps: bool = False  # the cosine's period spans all steps: it stops short of its floor (lr_at)
    autocast: bool = True  # False: every pass of the fit in fp32 whatever ``precision`` says
    precision: str = "auto"  # "bf16" or "fp32" as resolved for the device (precision.resolve_precision)

    @property
    def effective_precision(self) -> str:
        """The precision the fit runs in (:func:`~noisylabels.precision.precision_scope`)."""
        return self.precision if self.autocast else "fp32"


def lr_at(step: int, total_steps: int, warmup_steps: int, base: float, final_ratio: float, *,
          all_steps: bool = False) -> float:
    """Linear warm-up from ~0 to ``base`` over ``warmup_steps``, then cosine to ``base * final_ratio`` at the
    last step. ``all_steps``: the cosine's progress after warm-up is (step + 1 - warmup_steps) / total_steps,
    as the official TCL code's cosine_annealing_LR counts it (epoch = iteration / iterations per epoch, from
    iteration 1, divided by all epochs), so the last step is still above the floor (at 20 warm-up epochs of
    200 and a floor of 0.01 x base: 0.034 x base)."""
    if step < warmup_steps:
        return base * (step + 1) / warmup_steps
    if all_steps:
        progress = min(1.0, (step + 1 - warmup_steps) / max(1, total_steps))
    else:
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    final = base * final_ratio
    return final + (base - final) * 0.5 * (1 + math.cos(math.pi * progress))


def epoch_batch(samples: int, batch_size: int, world: int = 1) -> int:
    """The batch (over all ``world`` processes, a multiple of it) that an epoch of ``samples`` trains on:
    min(``batch_size``, ``samples``), or where the epoch holds fewer than ``MIN_STEPS_PER_EPOCH`` full batches
    of that, samples // ``MIN_STEPS_PER_EPOCH``, but not under ``MIN_SMALL_BATCH`` (nor two per process).
    Epochs run in full batches, so on a folder of 245 photos batches of 128 made one step an epoch, twenty
    steps in twenty epochs, and the model still predicted one class for every held-out photo
    (docs/RESULTS.md, "Small folders of photos"); batches of two, on the other hand, left a model whose
    pseudo-labels all fell in one class."""
    batch = min(batch_size, samples, max(MIN_SMALL_BATCH, 2 * world, samples // MIN_STEPS_PER_EPOCH))
    return batch - batch % world


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch``'s generator (distinct streams per seed and epoch)."""
    return (seed * 1_000_003 + epoch * 7_919 + 12_345) % (2**63 - 1)


def _balanced_cap(samples: int, num_classes: int) -> int:
    """The most samples of one class in a class-balanced epoch of ``samples``: ceil(samples / C)."""
    return -(-samples // num_classes)


def epoch_size(labels: Tensor, num_classes: int, samples: int | None = None, balanced: bool = False) -> int:
    """How many samples :func:`epoch_indices` draws each epoch (the same every epoch): N, or
    min(samples, N); class-balanced, min(samples, sum_c min(N_c, ceil(samples / C))) with samples = N when
    not given. labels: int64 (N,) the given labels."""
    n = len(labels)
    k = n if samples is None else int(samples)
    if not balanced:
        return min(k, n)
    counts = torch.bincount(labels, minlength=num_classes)
    return int(min(k, int(counts.clamp(max=_balanced_cap(k, num_classes)).sum())))


def epoch_indices(labels: Tensor, num_classes: int, gen: torch.Generator, *, samples: int | None = None,
                  balanced: bool = False) -> Tensor:
    """The sample indices (:func:`epoch_size`,) of one epoch in training order, drawn from ``gen`` (the epoch's
    generator, so a resumed run draws the same ones).

    Default: a permutation of all N samples. ``samples``: the first ``samples`` of that permutation (a fresh
    random subset each epoch). ``balanced``: walking the permutation, a sample is kept while its given class
    has fewer than ceil(samples / C) kept and fewer than ``samples`` are kept in all; the kept ones are
    shuffled again: DivideMix's Clothing1M epoch (Li et al., ICLR 2020, Sec. 4.1: each epoch draws
    num_batches x batch_size noisy samples, their labels balanced). labels: int64 (N,) on gen's device."""
    n = len(labels)
    perm = torch.randperm(n, generator=gen, device=labels.device)
    k = n if samples is None else int(samples)
    if not balanced:
        return perm if k >= n else perm[:k]
    y = labels[perm]
    order = torch.sort(y, stable=True).indices  # positions in perm, class by class, each in perm order
    counts = torch.bincount(y, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(order)
    rank[order] = torch.arange(n, device=labels.device) - starts[y[order]]  # place within its class in perm
    kept = perm[rank < _balanced_cap(k, num_classes)][:k]
    return kept[torch.randperm(len(kept), generator=gen, device=labels.device)]
