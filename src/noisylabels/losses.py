"""Loss functions: plain functions of tensors, the device taken from the inputs.

Shapes: B = batch, C = classes, D = embedding dimension.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import UserError


def similarities(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """Scaled cosine similarities a b^T / temperature, (M, D) x (N, D) -> (M, N), in fp32 whatever the
    autocast: in bf16 (8 bits of mantissa) a similarity of 1 / 0.07 = 14.3 is off by up to 0.06, which
    the softmax of InfoNCE, SupCon and TCL's alignment turns into visibly wrong targets."""
    with torch.autocast(a.device.type, enabled=False):
        return a.float() @ b.float().t() / temperature


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
    sim = similarities(z, z, temperature)  # (2B, 2B)
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.arange(2 * b, device=z.device).roll(b)  # i's twin: i + B mod 2B
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


def uniform_prior_kl(probs: Tensor, eps: float = 1e-8) -> Tensor:
    """KL(u || pbar) = sum_k (1/C) log((1/C) / pbar_k), pbar = mean_i p_i over the batch; probs (B, C).

    The class-balance term of Arazo et al. (ICML 2019, after Tanaka et al. 2018): without it, dynamic
    bootstrapping can pull every prediction to one class.
    """
    pbar = probs.mean(dim=0)
    prior = torch.full_like(pbar, 1.0 / pbar.numel())
    return (prior * torch.log(prior / (pbar + eps))).sum()


# Robust classification losses ------------------------------------------------------------------
# All take logits (B, C) and integer targets (B,) and return the batch mean.

# RCE's A = log 0 stand-in: the SCE authors' code clamps the one-hot to [1e-4, 1] inside the log, so
# A = log(1e-4) = -9.21 (the default, as in their code and in Ma et al.'s APL code); the SCE paper
# (Wang et al. 2019, Sec. 3.3) sets A = -4.
RCE_LOG_ZERO_CODE = math.log(1e-4)
RCE_LOG_ZERO_PAPER = -4.0


def generalized_cross_entropy(logits: Tensor, targets: Tensor, q: float = 0.7) -> Tensor:
    """GCE (Zhang & Sabuncu, NeurIPS 2018, Eq. 6): (1 - p_y^q) / q; q -> 0 gives CE, q = 1 gives MAE."""
    p_y = torch.softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1).clamp_min(1e-7)
    return ((1 - p_y.pow(q)) / q).mean()


def reverse_cross_entropy(logits: Tensor, targets: Tensor, log_zero: float = RCE_LOG_ZERO_CODE) -> Tensor:
    """RCE = -sum_k p_k log y_k with log 0 := A (``log_zero``, negative) = -A (1 - p_y)."""
    p_y = torch.softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
    return (-log_zero * (1 - p_y)).mean()


def symmetric_cross_entropy(logits: Tensor, targets: Tensor, alpha: float = 0.1, beta: float = 1.0,
                            log_zero: float = RCE_LOG_ZERO_CODE) -> Tensor:
    """SCE (Wang et al., ICCV 2019, Eq. 5): alpha CE + beta RCE (CIFAR-10: alpha 0.1, beta 1)."""
    return alpha * F.cross_entropy(logits, targets) + beta * reverse_cross_entropy(logits, targets, log_zero)


def normalized_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """NCE (Ma et al., ICML 2020, Eq. 3): -log p_y / (-sum_k log p_k), in [0, 1]."""
    logp = F.log_softmax(logits, dim=1)
    return (logp.gather(1, targets[:, None]).squeeze(1) / logp.sum(dim=1)).mean()


def focal_loss(logits: Tensor, targets: Tensor, gamma: float = 0.5) -> Tensor:
    """Focal loss (Lin et al. 2017): -(1 - p_y)^gamma log p_y."""
    logp_y = F.log_softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
    # clamp: d/dp (1 - p)^gamma is infinite at p = 1 for gamma < 1 (NaN gradients otherwise)
    return (-(1 - logp_y.exp()).clamp_min(1e-6).pow(gamma) * logp_y).mean()


def normalized_focal_loss(logits: Tensor, targets: Tensor, gamma: float = 0.5, detach_focal: bool = True) -> Tensor:
    """NFL (Ma et al., ICML 2020): FL(y) / sum_k FL(k), FL(k) = -(1 - p_k)^gamma log p_k.

    detach_focal: the focal factors (1 - p_k)^gamma are constants for the gradient, as in Ma et al.'s
    public code (the default; the value is the same either way); False differentiates them too, as the
    paper's formula reads."""
    logp = F.log_softmax(logits, dim=1)
    focal = (1 - logp.exp()).clamp_min(1e-6).pow(gamma)  # (B, C); clamp as in focal_loss
    fl = -(focal.detach() if detach_focal else focal) * logp
    return (fl.gather(1, targets[:, None]).squeeze(1) / fl.sum(dim=1)).mean()


ELR_CLAMP = 1e-4  # ELR's code clamps the softmax to [1e-4, 1 - 1e-4] before renormalising


def elr_probs(logits: Tensor) -> Tensor:
    """ELR's probabilities (Liu et al.'s code), logits (B, C) -> (B, C): the softmax clamped to
    [ELR_CLAMP, 1 - ELR_CLAMP] and renormalised. The running targets and :func:`elr_regularizer`
    both read them, so log(1 - <t_i, p_i>) stays finite."""
    p = torch.softmax(logits, dim=1).clamp(ELR_CLAMP, 1 - ELR_CLAMP)
    return p / p.sum(dim=1, keepdim=True)


def elr_regularizer(logits: Tensor, running_targets: Tensor) -> Tensor:
    """ELR's term (Liu et al., NeurIPS 2020, Eq. 9): mean_i log(1 - <t_i, p_i>), p = :func:`elr_probs`.

    running_targets: (B, C) detached temporal ensembles of the predictions. Minimising it keeps each
    prediction close to its early-learning target, so wrong labels are not memorised.
    """
    return torch.log(1 - (running_targets * elr_probs(logits)).sum(dim=1)).mean()


SUPCON_BASE_TEMPERATURE = 0.07  # the public code scales its loss by temperature / base_temperature


def weighted_supcon(
    z1: Tensor, z2: Tensor, labels: Tensor, weights: Tensor, temperature: float = 0.07,
    *, variant: str = "poster",
) -> Tensor:
    """Weighted supervised contrastive loss (Ciortan et al. 2021, phase b2; SupCon: Khosla et al. 2020).

    z1, z2: (B, D) L2-normalised embeddings of two views of B samples; labels: (B,) int64 (pseudo-labels
    y^); weights: (B,) in [0, 1], the probability w that each sample's label is correct. Over the 2B
    anchors i, positives P(i) are the other embeddings with the same label (the twin view included);
    s = z.z / temperature and log_prob(i, p) = s_ip - log sum_{a != i} exp(s_ia).

    variant "poster" (the poster's formula, default):
        L_i = -log[ 1/|P(i)| sum_p w~_p exp(s_ip) / sum_{a != i} exp(s_ia) ],
        w~_p = w_p, and 1 for the anchor's own twin view (the log outside the sum).
    variant "code" (the public code's ``WeightedSupConLoss``):
        L_i = -(temperature / 0.07) sum_p w_p log_prob(i, p) / sum_p w_p,
        every positive weighted by its own w, the twin included (a weighted mean of log-probabilities).
    With every label distinct and w = 1 both reduce to NT-Xent (:func:`info_nce`; "code" times
    temperature / 0.07). Returns the mean of L_i over the 2B anchors, (,) fp32.
    """
    if variant not in ("poster", "code"):
        raise ValueError(f"variant must be 'poster' or 'code', got {variant!r}")
    b = z1.shape[0]
    z = torch.cat([z1, z2], dim=0)
    lab = torch.cat([labels, labels])
    w = torch.cat([weights, weights]).float()
    eye = torch.eye(2 * b, dtype=torch.bool, device=z.device)
    sim = similarities(z, z, temperature).masked_fill(eye, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)  # (2B, 2B), -inf on the diagonal
    positive = (lab[:, None] == lab[None, :]) & ~eye
    v = w[None, :].expand(2 * b, 2 * b)  # v[i, p] = w_p
    if variant == "poster":
        twin = torch.arange(2 * b, device=z.device).roll(b)
        v = v.clone()
        v[torch.arange(2 * b, device=z.device), twin] = 1.0
        terms = torch.where(positive & (v > 0), torch.log(v.clamp_min(1e-30)) + log_prob,
                            torch.full_like(log_prob, float("-inf")))
        return -(torch.logsumexp(terms, dim=1) - torch.log(positive.sum(dim=1).float())).mean()
    vw = torch.where(positive, v, torch.zeros_like(v))
    mean_log_prob = (vw * torch.where(positive, log_prob, torch.zeros_like(log_prob))).sum(1) / vw.sum(1).clamp_min(1e-12)
    return -(temperature / SUPCON_BASE_TEMPERATURE) * mean_log_prob.mean()


LOSSES: dict[str, Any] = {
    "ce": F.cross_entropy, "gce": generalized_cross_entropy, "sce": symmetric_cross_entropy,
    "nce": normalized_cross_entropy, "rce": reverse_cross_entropy, "focal": focal_loss, "nfl": normalized_focal_loss,
}
"""The per-batch classification losses by name, each ``(logits (B, C), targets (B,) int, **options) -> scalar``,
for a training loop of one's own (the methods combine them: ``--method gce``, ``sce``, ``nce-rce``, ``nfl-rce``)."""


def get_loss(name: str) -> Any:
    """The loss registered under ``name`` in :data:`LOSSES`; UserError naming the choices otherwise."""
    if name not in LOSSES:
        raise UserError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    return LOSSES[name]
