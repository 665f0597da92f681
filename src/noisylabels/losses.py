"""Loss functions: plain functions of tensors, the device taken from the inputs (DESIGN.md rule 2).

Shapes: B = batch, C = classes, D = embedding dimension.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean over the batch of -sum_k t_k log softmax(logits)_k.

    logits (B, C); targets (B, C) rows summing to 1 (one-hot, mixed or bootstrapped targets).
    """
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def info_nce(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """SimCLR's NT-Xent between two views (Chen et al. 2020, Eq. 1; TCL's contrastive term).

    z1, z2: (B, D) L2-normalised embeddings of two views of the same B samples. For each of the 2B
    embeddings the positive is its twin and the negatives the other 2B - 2; mean over the 2B anchors.
    """
    b = z1.shape[0]
    z = torch.cat([z1, z2], dim=0)  # (2B, D)
    sim = z @ z.t() / temperature  # (2B, 2B)
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return F.cross_entropy(sim, positives)


def mean_entropy(probs: Tensor, eps: float = 1e-8) -> Tensor:
    """Mean per-sample entropy, mean_i H(p_i) with H(p) = -sum_k p_k log p_k; probs (B, C).

    Minimising it makes each prediction confident (TCL Sec. 3.4, entropy regularisation).
    """
    return -(probs * torch.log(probs + eps)).sum(dim=1).mean()


def negative_marginal_entropy(probs: Tensor, eps: float = 1e-8) -> Tensor:
    """sum_k pbar_k log pbar_k with pbar = mean_i p_i (the negative entropy of the class marginal).

    Minimising it keeps the batch's predicted class distribution balanced (TCL Sec. 3.4); probs (B, C).
    """
    pbar = probs.mean(dim=0)
    return (pbar * torch.log(pbar + eps)).sum()
