"""Label quality, flag counts and suggested labels from any probabilities (pure numpy).

One detector for every method, built on confident learning (Northcutt, Jiang, Chuang; JAIR 2021):

1. Per-class thresholds t_j = mean of p_ij over the samples labelled j: how confident the model is,
   on average, in a label of class j. Class-conditional noise (40% of shirts labelled T-shirt) and
   classes that look alike lower some t_j; raw self-confidence then ranks every sample of those
   classes as suspect.
2. Class-normalised probabilities q_ij = (p_ij / t_j) / sum_k (p_ik / t_k): the prediction with each
   class's typical confidence divided out.
3. ``label_quality`` = the mean of q_{i, y~_i} and the class-normalised margin
   (1 + q_{i, y~_i} - max_{j != y~_i} q_ij) / 2: continuous in [0, 1], higher = more likely right. The
   margin ranks structured noise best (look-alike classes, instance noise), q_y uniform noise; their
   mean is never far from the better one (docs/RESULTS.md, "Label issues"). The suggested label is
   argmax_j q_ij (the best other class on a flagged row).
4. How many to flag: anchor points (Patrini et al., CVPR 2017, "Making deep neural networks robust
   to label noise: a loss correction approach", Sec. 4 anchor estimation, in a hard-label form). The
   anchors of class i are the ``ANCHOR_SHARE`` of samples (by count of class i) with the highest
   p_i; the given labels among them estimate row i of the noise transition T_ij = P(y~ = j | y = i),
   and the class priors pi solve pi T = (the given labels' shares). n_c = N sum_{i != c} pi_i T_ic
   wrong labels are given class c. The per-class flag count is the geometric mean of n_c and the
   number of class c among the sum_c n_c lowest-quality samples overall, and the lowest-quality
   samples of each class are flagged. Confidently predicted, correctly labelled anchors make T the
   identity on clean data even where the model confuses look-alike classes; the calibrated confident
   joint (below, :func:`confident_joint`) counted those confusions as wrong labels (5.6% of clean
   Fashion-MNIST flagged, docs/RESULTS.md "Flag counts"). The confident joint still gives TCL's
   E-step its noise prior (:func:`noise_prior`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ANCHOR_SHARE = 0.2  # share of a class (by its given-label count) taken as its anchors
MIN_ANCHORS = 5


def class_thresholds(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """t (C,): mean of probs[i, j] over the samples labelled j (1/C for a class with no sample).

    labels: int (N,); probs: (N, C) rows summing to 1."""
    c = probs.shape[1]
    counts = np.bincount(labels, minlength=c).astype(np.float64)
    sums = np.bincount(labels, weights=probs[np.arange(len(labels)), labels], minlength=c)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 1.0 / c).clip(1e-6, None)


def normalised_probs(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """q (N, C) = (p_ij / t_j) / sum_k (p_ik / t_k), t from :func:`class_thresholds`."""
    q = probs / class_thresholds(labels, probs)[None]
    return q / np.maximum(q.sum(1, keepdims=True), 1e-12)


def confident_joint(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Calibrated confident joint (C, C) of (given label, estimated true label), in samples.

    Row y~ counts the samples labelled y~ by the most probable class among those whose probability
    reaches its class threshold (samples above no threshold are not counted); each row is then
    rescaled to the number of samples labelled y~ (Northcutt et al. 2021, Eqs. 1-2)."""
    n, c = probs.shape
    above = probs >= class_thresholds(labels, probs)[None]
    masked = np.where(above, probs, -1.0)
    guess = masked.argmax(1)
    counted = above.any(1)
    cj = np.zeros((c, c))
    np.add.at(cj, (labels[counted], guess[counted]), 1.0)
    rows = cj.sum(1, keepdims=True)
    sizes = np.bincount(labels, minlength=c).astype(np.float64)[:, None]
    return np.where(rows > 0, cj / np.maximum(rows, 1) * sizes, np.eye(c) * sizes)


def issue_counts(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Estimated number of wrong labels per given class (C,) ints: the calibrated joint's off-diagonal
    row sums, rounded."""
    cj = confident_joint(labels, probs)
    return np.rint(cj.sum(1) - np.diag(cj)).astype(np.int64)


def noise_prior(labels: np.ndarray, probs: np.ndarray) -> float:
    """Estimated share of wrong labels (the confident joint's off-diagonal mass over N)."""
    return float(issue_counts(labels, probs).sum()) / max(1, len(labels))


def class_noise_rates(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Estimated share of wrong labels per given class (C,): :func:`issue_counts` over the class sizes."""
    counts = issue_counts(labels, probs)
    return counts / np.bincount(labels, minlength=len(counts)).clip(1)


def anchor_transition(labels: np.ndarray, probs: np.ndarray, share: float = ANCHOR_SHARE) -> np.ndarray:
    """T (C, C): row i = the given-label distribution among the anchors of class i, the
    max(MIN_ANCHORS, round(share * n_i)) samples with the highest probs[:, i] (n_i = samples labelled
    i; ties by index). Row i of an estimate of P(y~ = j | y = i) (Patrini et al. 2017, Sec. 4)."""
    n, c = probs.shape
    sizes = np.bincount(labels, minlength=c)
    t = np.zeros((c, c))
    for i in range(c):
        k = min(n, max(MIN_ANCHORS, int(round(share * sizes[i]))))
        top = np.lexsort((np.arange(n), -probs[:, i]))[:k]
        t[i] = np.bincount(labels[top], minlength=c) / k
    return t


def anchor_issue_counts(labels: np.ndarray, probs: np.ndarray, share: float = ANCHOR_SHARE) -> np.ndarray:
    """Estimated wrong labels per given class (C,) floats, N sum_{i != c} pi_i T_ic, with T from
    :func:`anchor_transition` and the true-class priors pi solving pi T = the given shares (clipped
    at 0 and renormalised; the given shares where T is singular)."""
    c = probs.shape[1]
    sizes = np.bincount(labels, minlength=c).astype(np.float64)
    given_share = sizes / max(1.0, sizes.sum())
    t = anchor_transition(labels, probs, share)
    try:
        pi = np.linalg.solve(t.T, given_share).clip(0, None)
    except np.linalg.LinAlgError:
        pi = given_share
    pi = pi / pi.sum() if pi.sum() > 0 else given_share
    joint = pi[:, None] * t  # P(y = i, y~ = j)
    return np.minimum((joint.sum(0) - np.diag(joint)) * sizes.sum(), sizes)


def flag_counts(labels: np.ndarray, probs: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Samples to flag per given class (C,) ints: the geometric mean of the anchor count n_c
    (:func:`anchor_issue_counts`) and the number of class c among the round(sum n_c) samples of
    lowest ``quality`` (N,) overall. The anchor counts place structured noise in the right classes;
    the overall lowest-quality share keeps the flags where the ranking puts them under instance and
    uniform noise (docs/RESULTS.md, "Flag counts")."""
    c = probs.shape[1]
    anchor = anchor_issue_counts(labels, probs)
    lowest = np.lexsort((np.arange(len(labels)), quality))[:int(round(anchor.sum()))]
    overall = np.bincount(labels[lowest], minlength=c)
    return np.rint(np.sqrt(anchor * overall)).astype(np.int64)


def flag_lowest(labels: np.ndarray, quality: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """bool (N,): in each given class c, the counts[c] samples of lowest quality (ties by index)."""
    flags = np.zeros(len(labels), dtype=bool)
    for c, k in enumerate(counts):
        idx = np.flatnonzero(labels == c)
        if k > 0 and len(idx):
            order = idx[np.lexsort((idx, quality[idx]))]
            flags[order[:min(int(k), len(idx))]] = True
    return flags


def label_quality(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(N,) in [0, 1], higher = more likely right: the mean of q_{i, y~_i} and the class-normalised
    margin (1 + q_{i, y~_i} - max_{j != y~_i} q_ij) / 2, q from :func:`normalised_probs` (step 3 of the
    module docstring). labels: int (N,); probs: (N, C) rows summing to 1."""
    labels = np.asarray(labels, dtype=np.int64)
    return _quality(labels, normalised_probs(labels, np.asarray(probs, dtype=np.float64)))


def _quality(labels: np.ndarray, q: np.ndarray) -> np.ndarray:
    """:func:`label_quality` from the normalised probabilities q (N, C)."""
    ar = np.arange(len(labels))
    q_y = q[ar, labels]
    others = q.copy()
    others[ar, labels] = -1.0
    return (q_y + (1.0 + q_y - others.max(1)) / 2) / 2


@dataclass
class LabelIssues:
    """The detector's verdict on N training labels.

    quality: (N,) float in [0, 1], higher = more likely right; flags: (N,) bool; suggested: (N,) int
    suggested label (never the given one on a flagged row); suggested_prob: (N,) its normalised
    probability; per_class_issues: (C,) samples flagged per given class by the count rule (:func:`flag_counts`); detector: its name.
    """

    quality: np.ndarray
    flags: np.ndarray
    suggested: np.ndarray
    suggested_prob: np.ndarray
    per_class_issues: np.ndarray
    detector: str


def find_issues(labels: np.ndarray, probs: np.ndarray, *, quality: np.ndarray | None = None,
                flags: np.ndarray | None = None, detector: str = "confident-learning") -> LabelIssues:
    """Confident learning on ``probs`` (N, C). ``quality`` (N,) and ``flags`` (N,) bool replace the
    ranking and the flags where a method brings its own (cleanlab's, for cleanlab-retrain)."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    q = normalised_probs(labels, probs)
    ar = np.arange(len(labels))
    others = q.copy()
    others[ar, labels] = -1.0
    score = _quality(labels, q) if quality is None else np.asarray(quality, dtype=np.float64)
    if flags is None:
        counts = flag_counts(labels, probs, score)
        flags = flag_lowest(labels, score, counts)
    else:
        flags = np.asarray(flags, dtype=bool)
        counts = np.bincount(labels[flags], minlength=probs.shape[1]).astype(np.int64)
    suggested = np.where(flags, others.argmax(1), q.argmax(1))
    return LabelIssues(score, flags, suggested, q[ar, suggested], counts, detector)


def class_summary(labels: np.ndarray, issues: LabelIssues, class_names: list[str] | None = None,
                  top: int = 10) -> dict[str, Any]:
    """Per given class: samples, flagged and estimated noise rate; the ``top`` most frequent
    (given -> suggested) pairs among the flagged rows, with counts. JSON-ready."""
    c = len(issues.per_class_issues)
    name = (lambda k: class_names[k]) if class_names else str
    sizes = np.bincount(labels, minlength=c)
    flagged = np.bincount(labels[issues.flags], minlength=c)
    classes = [{"class": int(k), "name": name(k), "samples": int(sizes[k]), "flagged": int(flagged[k]),
                "noise_rate_estimated": float(flagged[k] / max(1, sizes[k]))} for k in range(c)]
    pairs = np.zeros((c, c), dtype=np.int64)
    np.add.at(pairs, (labels[issues.flags], issues.suggested[issues.flags]), 1)
    order = np.argsort(-pairs, axis=None, kind="stable")[:top]
    confused = [{"given": int(g), "suggested": int(s), "given_name": name(g), "suggested_name": name(s),
                 "count": int(pairs[g, s])} for g, s in zip(*np.unravel_index(order, pairs.shape)) if pairs[g, s] > 0]
    return {"per_class": classes, "confused_pairs": confused}
