"""Out-of-sample class probabilities from fixed embeddings (``detect --dataset --weights``).

Confident learning needs each sample's class probabilities from a model that never saw its label
(Northcutt et al., JAIR 2021, Sec. 2: cross-validated ``pred_probs``). On a pretrained encoder's
embeddings this costs seconds, not a training run:

- :func:`crossfit_linear_probe`: K folds; each fold's probabilities from a multinomial logistic
  regression fitted (full-batch L-BFGS) on the other folds' embeddings and given labels.
- :func:`knn_probs`: leave-one-out votes of the k most similar samples, weighted exp(cos / tau)
  (Wu et al. 2018's kNN monitor, the vote TCL's code logs), smoothed towards uniform.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

PROBES = ("linear", "knn")
L2_PENALTY = 1e-3  # on standardised features: 0.5 * L2_PENALTY * ||W||^2 added to the mean cross-entropy
MAX_ITER = 200


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold id (N,) in [0, k) for labels (N,): each class's samples, shuffled by ``seed``, dealt
    round-robin (so every fold holds each class's share, to within one sample). Used by the linear
    probe and by cleanlab-retrain's K-fold out-of-sample probabilities."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        fold[idx] = np.arange(len(idx)) % k
    return fold


def fit_logistic(x: Tensor, y: Tensor, num_classes: int, *, l2: float = L2_PENALTY,
                 max_iter: int = MAX_ITER) -> tuple[Tensor, Tensor]:
    """Multinomial logistic regression on x (N, D) float32, y (N,) int64 -> weights (D, C), bias (C,):
    argmin mean CE(x W + b, y) + 0.5 * l2 * ||W||^2, full-batch L-BFGS with strong-Wolfe line search."""
    w = torch.zeros(x.shape[1], num_classes, device=x.device, requires_grad=True)
    b = torch.zeros(num_classes, device=x.device, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-6, tolerance_change=1e-9)

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x @ w + b, y) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach(), b.detach()


@torch.no_grad()
def crossfit_linear_probe(
    z: Tensor, labels: Tensor, num_classes: int, *, folds: int = 5, seed: int = 0, l2: float = L2_PENALTY,
    fold: np.ndarray | None = None,
) -> Tensor:
    """Out-of-sample softmax probabilities (N, C) of a linear probe, cross-fitted over ``folds`` folds.

    Args:
        z: (N, D) embeddings; standardised with the fitting folds' mean and std before each fit.
        labels: (N,) int64 given (noisy) labels in [0, C).
        folds: K >= 2; seed: of the stratified fold assignment (:func:`stratified_folds`), unless ``fold`` (N,)
            gives each sample's fold in 0..folds-1.
    """
    z, labels = z.float(), labels.to(z.device)
    fold = stratified_folds(labels.cpu().numpy(), folds, seed) if fold is None else fold
    fold_t = torch.from_numpy(fold).to(z.device)
    probs = torch.empty(len(z), num_classes, device=z.device)
    for k in range(folds):
        held, fit = fold_t == k, fold_t != k
        if not bool(held.any()):
            continue
        if not bool(fit.any()):  # every sample in this fold (a handful of samples): nothing to learn from
            probs[held] = 1.0 / num_classes
            continue
        mean, std = z[fit].mean(0), z[fit].std(0, correction=0).clamp_min(1e-6)
        w, b = fit_logistic((z[fit] - mean) / std, labels[fit], num_classes, l2=l2)
        probs[held] = torch.softmax(((z[held] - mean) / std) @ w + b, dim=1)
    return probs


@torch.no_grad()
def knn_votes(query: Tensor, bank: Tensor, bank_labels: Tensor, num_classes: int, *, k: int, temperature: float,
              self_offset: int | None = None) -> Tensor:
    """Votes (M, C) of each query row's k most similar bank rows for their labels, weighted
    exp(cos / temperature) (Wu et al. 2018's kNN vote, as TCL's code logs it). query (M, D) and bank (N, D)
    L2-normalised, bank_labels (N,). ``self_offset``: the query rows are bank rows self_offset.., each left
    out of its own vote (leave-one-out)."""
    sim = query @ bank.t()
    if self_offset is not None:
        rows = torch.arange(len(query), device=sim.device)
        sim[rows, rows + self_offset] = -float("inf")
    top, idx = sim.topk(min(k, len(bank)), dim=1)
    votes = torch.zeros(len(query), num_classes, device=sim.device)
    return votes.scatter_add_(1, bank_labels[idx], torch.exp(top / temperature))


@torch.no_grad()
def knn_probs(z: Tensor, labels: Tensor, num_classes: int, *, k: int = 20, temperature: float = 0.1,
              batch: int = 1024) -> Tensor:
    """Leave-one-out kNN class probabilities (N, C) from z (N, D) (L2-normalised here) and labels (N,):
    :func:`knn_votes` of the k most similar other samples, plus one uniform pseudo-vote of a perfect
    match's weight exp(1 / temperature) (each class 1/C of it), normalised."""
    z, labels = F.normalize(z.float(), dim=1), labels.to(z.device)
    k = max(1, min(k, len(z) - 1))
    out = torch.empty(len(z), num_classes, device=z.device)
    for start in range(0, len(z), batch):
        votes = knn_votes(z[start:start + batch], z, labels, num_classes, k=k, temperature=temperature,
                          self_offset=start) * math.exp(-1.0 / temperature) + 1.0 / num_classes
        out[start:start + len(votes)] = votes / votes.sum(1, keepdim=True)
    return out
