"""SimiFeat: training-free detection of wrong labels from the labels of similar features.

Zhu, Dong, Liu, "Detecting corrupted labels without training a model to predict", ICML 2022, with the
noise transition matrix of its ranking variant estimated by HOC: Zhu, Song, Liu, "Clusterability as an
alternative to anchor points when learning with noisy labels", ICML 2021. The settings follow the
Docta library's defaults (``docta/core/knn.py``, ``docta/core/hoc.py``, ``docta/apis/detect.py`` and
its CIFAR configuration).

* features are centred (the mean embedding subtracted) and scaled to unit length; the distance of two
  samples is d = 1 - cosine similarity;
* each sample's k nearest neighbours include the sample itself, whose distance 0 is replaced by
  2 d_2 - d_3 (d_2, d_3: the distances to the 2nd and 3rd nearest, the sample being the 1st);
* vote: count_i(c) = sum_j (1 - d_ij) [y_j = c] over the k neighbours, rows scaled to unit L2 norm;
  the suspicion score is -log count_i(y_i);
* SimiFeat-V flags a sample whose vote's first maximum is not its label; SimiFeat-R flags, within each
  given class c, the share 1 - P(y = c | y~ = c) = 1 - T_cc p_c / p~_c (0.05 in place of 0 or less, 0.95
  in place of 1) of the samples labelled c with the highest scores, T and p estimated once by HOC;
* both run in rounds on random subsets, the neighbours found within the subset, and flag a sample when
  (times flagged + 1) / (times drawn + 2) > 0.5.

The neighbours within a subset are read from one search over all samples (a pool of 3k + 2 nearest per
sample: the first k of them that lie in the subset are the subset's k nearest); a sample whose pool holds
too few subset members is searched again against the subset alone, so the result is that of a search
per round.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

DOCTA_MAX_SAMPLE = 35_000  # Docta's CIFAR configuration: at most this many samples per round


@dataclass
class Neighbours:
    """Unit-length features ``z`` (N, D) and, per sample, its ``pool`` nearest samples by cosine
    distance: ``dist`` (N, P) ascending and ``idx`` (N, P), the sample itself first (distance 0)."""

    z: Tensor
    dist: Tensor
    idx: Tensor


def unit_features(features: np.ndarray, center: bool = True) -> Tensor:
    """(N, D) features -> (N, D) float32 rows of unit L2 norm, the mean row subtracted first if
    ``center``."""
    z = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    if center:
        z = z - z.mean(0, keepdim=True)
    return F.normalize(z, dim=1)


def nearest(zq: Tensor, zb: Tensor, k: int, self_pos: Tensor, block: int = 2048) -> tuple[Tensor, Tensor]:
    """The k nearest rows of ``zb`` (B, D) to each row of ``zq`` (Q, D), all of unit length, by
    d = 1 - cosine similarity: distances (Q, k) ascending and indices into ``zb`` (Q, k). Query row r is
    the base row ``self_pos[r]`` (Q,): it comes first, at distance 0. Blocks of ``block`` query rows
    keep the (block, B) similarities in memory."""
    k = min(k, len(zb))
    dists, idxs = [], []
    for s in range(0, len(zq), block):
        sim = zq[s:s + block] @ zb.T
        rows = torch.arange(len(sim))
        sim[rows, self_pos[s:s + block]] = float("inf")
        val, ind = sim.topk(k, dim=1)
        d = 1.0 - val
        d[:, 0] = 0.0
        dists.append(d)
        idxs.append(ind)
    return torch.cat(dists), torch.cat(idxs)


def neighbours(features: np.ndarray, pool: int, *, center: bool = True, block: int = 2048) -> Neighbours:
    """Unit features of ``features`` (N, D) and each sample's ``pool`` nearest (itself first)."""
    z = unit_features(features, center)
    dist, idx = nearest(z, z, pool, torch.arange(len(z)), block)
    return Neighbours(z, dist, idx)


def within(nb: Neighbours, members: np.ndarray, k: int, block: int = 2048) -> tuple[Tensor, Tensor]:
    """The k nearest of each member among the ``members`` (M,) (sorted sample indices): distances
    (M, k) ascending and sample indices (M, k), the member itself first."""
    rows = torch.as_tensor(members, dtype=torch.long)
    mask = torch.zeros(len(nb.z), dtype=torch.bool)
    mask[rows] = True
    pool_idx, pool_dist = nb.idx[rows], nb.dist[rows]
    valid = mask[pool_idx]
    if pool_idx.shape[1] >= k:
        order = torch.sort((~valid).to(torch.uint8), dim=1, stable=True).indices[:, :k]
        dist, idx = pool_dist.gather(1, order), pool_idx.gather(1, order)
    else:
        dist, idx = pool_dist.new_empty(len(rows), k), pool_idx.new_empty(len(rows), k)
    short = torch.nonzero(valid.sum(1) < k).flatten()
    if len(short):
        base = nb.z[rows]
        d, i = nearest(nb.z[rows[short]], base, k, short, block)
        dist[short], idx[short] = d, rows[i]
    return dist, idx


@contextmanager
def one_thread(active: bool = True) -> Iterator[None]:
    """torch on a single thread inside (if ``active``): its per-round work is many small operations,
    which threads slow down, the more so on a busy machine."""
    threads = torch.get_num_threads()
    if active:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def draw(rng: np.random.Generator, n: int, fraction: float, max_size: int | None) -> np.ndarray:
    """A sorted random subset of range(n) of int(fraction n) samples, at most ``max_size``."""
    size = int(n * fraction) if max_size is None else min(int(n * fraction), max_size)
    return np.sort(rng.choice(n, size=size, replace=False))


# -- HOC: the noise transition matrix from 2-NN consensus (Zhu, Song, Liu, ICML 2021) -----------------

def consensus_counts(patterns: Tensor, num_classes: int) -> list[Tensor]:
    """Empirical consensus of ``patterns`` (M, 3): the given labels of each sample and its 2 nearest.
    Frequencies of y_0 (C,), of (y_0, y_1) (C, C) and of (y_0, y_1, y_2) (C, C, C)."""
    c = num_classes
    flat = (patterns[:, 0] * c + patterns[:, 1]) * c + patterns[:, 2]
    e3 = torch.bincount(flat, minlength=c ** 3).double().view(c, c, c) / len(patterns)
    return [e3.sum((1, 2)), e3.sum(2), e3]


def consensus_of(T: Tensor, p: Tensor) -> list[Tensor]:
    """The consensus that a transition matrix T (C, C), T[k, c] = P(y~ = c | y = k), and clean prior
    p (C,) imply when a sample and its 2 nearest share the clean class and their noisy labels are drawn
    independently: p T (C,), sum_k p_k T_ka T_kb (C, C), sum_k p_k T_ka T_kb T_kc (C, C, C)."""
    return [p @ T, torch.einsum("k,ka,kb->ab", p, T, T), torch.einsum("k,ka,kb,kc->abc", p, T, T, T)]


def solve_consensus(target: list[Tensor], num_classes: int, *, steps: int = 1501, lr: float = 0.1,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """T (C, C) row-stochastic and p (C,) whose consensus (:func:`consensus_of`) is nearest ``target``:
    Adam (``lr``, :func:`adam_step`) for ``steps`` steps on row-softmax logits of T, started at 5 I - 1,
    and softmax logits of p, started at 1 / C + U(0, 0.1); the loss is the sum over the three orders of
    the Frobenius norm of the difference; the result is the iterate of the lowest loss after the first
    6 steps."""
    with one_thread(num_classes <= 20):
        return _solve(target, num_classes, steps, lr, seed)


def _solve(target: list[Tensor], c: int, steps: int, lr: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    gen = torch.Generator().manual_seed(seed)
    params = [5 * torch.eye(c, dtype=torch.float64) - 1,
              1 / c + 0.1 * torch.rand(c, generator=gen, dtype=torch.float64)]
    moments = [(torch.zeros_like(q), torch.zeros_like(q)) for q in params]
    best, best_params = float("inf"), [q.clone() for q in params]
    for step in range(steps):
        t_logit, p_logit = (q.requires_grad_() for q in params)
        implied = consensus_of(torch.softmax(t_logit, 1), torch.softmax(p_logit, 0))
        loss = sum(torch.linalg.norm(e - a) for e, a in zip(target, implied))
        if step > 5 and loss.item() < best:
            best, best_params = loss.item(), [q.detach().clone() for q in params]
        grads = torch.autograd.grad(loss, params)
        params = [adam_step(q.detach(), g, m, v, step + 1, lr) for q, g, (m, v) in zip(params, grads, moments)]
    return torch.softmax(best_params[0], 1).numpy(), torch.softmax(best_params[1], 0).numpy()


def adam_step(q: Tensor, g: Tensor, m: Tensor, v: Tensor, t: int, lr: float, b1: float = 0.9,
              b2: float = 0.999, eps: float = 1e-8) -> Tensor:
    """One Adam step (Kingma, Ba, ICLR 2015; torch.optim.Adam's defaults) of parameter ``q`` with gradient
    ``g``, updating its moment estimates ``m`` and ``v`` in place; t counts from 1."""
    m.mul_(b1).add_(g, alpha=1 - b1)
    v.mul_(b2).addcmul_(g, g, value=1 - b2)
    step = lr * (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + eps)
    return q - step


def hoc_from(nb: Neighbours, labels: np.ndarray, num_classes: int, *, rounds: int = 50, sample: float = 0.9,
             max_sample: int | None = DOCTA_MAX_SAMPLE, steps: int = 1501, lr: float = 0.1,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`hoc_transition` on precomputed :class:`Neighbours` (a pool of at least 3)."""
    rng = np.random.default_rng(seed)
    y = torch.as_tensor(labels, dtype=torch.long)
    total: list[Tensor] | None = None
    with one_thread():
        for _ in range(rounds):
            members = draw(rng, len(y), sample, max_sample)
            _, idx = within(nb, members, 3)
            counts = consensus_counts(y[idx], num_classes)
            total = counts if total is None else [a + b for a, b in zip(total, counts)]
    assert total is not None
    return solve_consensus([t / rounds for t in total], num_classes, steps=steps, lr=lr, seed=seed)


def hoc_transition(features: np.ndarray, labels: np.ndarray, num_classes: int, *, rounds: int = 50,
                   sample: float = 0.9, max_sample: int | None = DOCTA_MAX_SAMPLE, steps: int = 1501,
                   lr: float = 0.1, seed: int = 0, center: bool = True,
                   block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """HOC (Zhu, Song, Liu, ICML 2021): the noise transition matrix T (C, C), T[k, c] = P(y~ = c | y = k),
    and the clean prior p (C,) from features (N, D) and given labels (N,) alone.

    In each of ``rounds`` random subsets (``sample`` of the samples, at most ``max_sample``) every sample
    and its 2 nearest within the subset give a consensus pattern; the frequencies of the first, second
    and third order patterns, averaged over the rounds, are matched by :func:`solve_consensus`."""
    nb = neighbours(features, 3 * 3 + 2, center=center, block=block)
    return hoc_from(nb, labels, num_classes, rounds=rounds, sample=sample, max_sample=max_sample, steps=steps,
                    lr=lr, seed=seed)


# -- SimiFeat (Zhu, Dong, Liu, ICML 2022) ------------------------------------------------------------

def vote(dist: Tensor, idx: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """The k-NN vote (M, C) of samples with neighbour distances ``dist`` (M, k) and indices ``idx``
    (M, k), the sample itself first: weights 1 - d, the self distance taken as 2 d_2 - d_3; rows of unit
    L2 norm."""
    d = dist.clone()
    d[:, 0] = 2.0 * dist[:, 1] - dist[:, 2]
    counts = torch.zeros(len(d), num_classes, dtype=d.dtype).scatter_add_(1, labels[idx], 1.0 - d)
    return F.normalize(counts, dim=1)


def suspicion(votes: Tensor, given: Tensor) -> Tensor:
    """-log of the vote (M, C) for the given label (M,): higher = more likely wrong. A negative vote
    (neighbours of negative cosine similarity) counts as 0."""
    return -torch.log(votes.gather(1, given[:, None]).squeeze(1).clamp_min(0.0) + 1e-8)


def rank_rates(T: np.ndarray, p: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Per given class c (C,): the share of its samples SimiFeat-R flags, 1 - P(y = c | y~ = c) =
    1 - T_cc p_c / p~_c (p~: the given labels' frequencies); a share of 1 or more becomes 0.95, one of 0
    or less 0.05."""
    p_noisy = np.bincount(labels, minlength=num_classes) / len(labels)
    keep = np.diag(T) * p / np.maximum(p_noisy, 1e-12)
    rate = 1.0 - np.minimum(keep, 1.0)
    return np.where(rate >= 1.0, 0.95, np.where(rate <= 0.0, 0.05, rate))


def rank_flags(score: np.ndarray, given: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """SimiFeat-R in one round: within each given class c, the samples whose score (M,) reaches the
    100 (1 - rates[c])-th percentile (linear interpolation) of that class's scores; (M,) bool."""
    flags = np.zeros(len(score), dtype=bool)
    for c, rate in enumerate(rates):
        mine = given == c
        if mine.any():
            flags |= mine & (score >= np.percentile(score[mine], 100 * (1 - rate)))
    return flags


def simifeat(features: np.ndarray, labels: np.ndarray, num_classes: int, *,
             method: Literal["vote", "rank"] = "vote", k: int = 10, rounds: int = 21, subset: float = 0.9,
             max_subset: int | None = DOCTA_MAX_SAMPLE, seed: int = 0, center: bool = True,
             transition: tuple[np.ndarray, np.ndarray] | None = None,
             block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """SimiFeat (Zhu, Dong, Liu, ICML 2022) on features (N, D) and given labels (N,) in [0, C).

    ``method`` "vote" is SimiFeat-V, "rank" SimiFeat-R with (T, p) from ``transition`` or else
    estimated by :func:`hoc_transition` (50 rounds, seed ``seed``). Each of ``rounds`` random subsets
    (``subset`` of the samples, at most ``max_subset``, as Docta) is searched for each member's k nearest
    within it (itself included) and votes; a sample is flagged when (rounds it was flagged in + 1) /
    (rounds it was drawn in + 2) > 0.5.

    Returns the quality (N,), higher = more likely right: minus the mean suspicion score
    -log vote(y_i) over the rounds the sample was drawn in (the median over all samples for one never
    drawn), and the flags (N,) bool."""
    y = np.asarray(labels, dtype=np.int64)
    yt = torch.as_tensor(y)
    nb = neighbours(features, max(3 * k + 2, 11), center=center, block=block)
    rates = None
    if method == "rank":
        T, p = transition if transition is not None else hoc_from(nb, y, num_classes, seed=seed)
        rates = rank_rates(T, p, y, num_classes)
    elif method != "vote":
        raise ValueError(f"method must be 'vote' or 'rank', not {method!r}")
    rng = np.random.default_rng(seed)
    seen, hits, total = np.zeros(len(y)), np.zeros(len(y)), np.zeros(len(y))
    with one_thread():
        for _ in range(rounds):
            members = draw(rng, len(y), subset, max_subset)
            dist, idx = within(nb, members, k, block)
            votes = vote(dist.double(), idx, yt, num_classes)
            score = suspicion(votes, yt[members]).numpy()
            if rates is None:
                flagged = votes.argmax(1).numpy() != y[members]
            else:
                flagged = rank_flags(score, y[members], rates)
            seen[members] += 1
            hits[members] += flagged
            total[members] += score
    drawn = seen > 0
    mean = np.where(drawn, total / np.maximum(seen, 1), 0.0)
    mean[~drawn] = np.median(mean[drawn]) if drawn.any() else 0.0
    return -mean, (hits + 1) / (seen + 2) > 0.5
