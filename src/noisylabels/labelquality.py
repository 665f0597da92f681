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
4. How many to flag: the calibrated confident joint. Sample i labelled y~ counts towards (y~, j) for
   the most probable class j among those with p_ij >= t_j; each row is rescaled to its class count;
   its off-diagonal mass n_c is the estimated number of wrong labels in class c, and the n_c samples of
   class c with the lowest quality are flagged (cleanlab's ``prune_by_class`` rule on our ranking).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


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


def flag_lowest(labels: np.ndarray, quality: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """bool (N,): in each given class c, the counts[c] samples of lowest quality (ties by index)."""
    flags = np.zeros(len(labels), dtype=bool)
    for c, k in enumerate(counts):
        idx = np.flatnonzero(labels == c)
        if k > 0 and len(idx):
            order = idx[np.lexsort((idx, quality[idx]))]
            flags[order[:min(int(k), len(idx))]] = True
    return flags


@dataclass
class LabelIssues:
    """The detector's verdict on N training labels.

    quality: (N,) float in [0, 1], higher = more likely right; flags: (N,) bool; suggested: (N,) int
    suggested label (never the given one on a flagged row); suggested_prob: (N,) its normalised
    probability; per_class_issues: (C,) estimated wrong labels per given class; detector: its name.
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
    q_y = q[ar, labels]
    score = (q_y + (1.0 + q_y - others.max(1)) / 2) / 2 if quality is None else np.asarray(quality, dtype=np.float64)
    counts = issue_counts(labels, probs)
    flags = flag_lowest(labels, score, counts) if flags is None else np.asarray(flags, dtype=bool)
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
