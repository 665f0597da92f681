"""Label-issue tables and detection metrics (pure numpy; cleanlab's column names).

``label_quality`` is, for every training sample, the estimated probability that its given label is
correct (TCL's clean probability w, a GMM posterior, or a model's self-confidence p(y~ | x)); the
ranking puts the lowest quality first.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import Tensor

from .labelquality import (LabelIssues, class_noise_rates, class_summary, find_issues, label_quality, noise_prior,
                           rank_lowest)
from .mixture import fit_two_gaussians, low_component_posterior
from .runs import RunFolder, atomic_write_bytes


def prototype_assignments(z: Tensor, probs: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """TCL's GMM over representations with the classifier's predictions injected (Sec. 3.2, code form).

    Args:
        z: (N, D) L2-normalised embeddings of the un-augmented training images.
        probs: (N, C) classifier probabilities, used as the responsibilities of the C components.
        temperature: tau; the code's fixed-temperature form of the paper's Eqs. 3-4.
    Returns:
        prototypes mu (C, D) = normalize(sum_i p_ik z_i), and context assignments
        gamma (N, C) = softmax_k(z_i . mu_k / tau).
    """
    mu = F.normalize(probs.t() @ z, dim=1)
    gamma = torch.softmax(z @ mu.t() / temperature, dim=1)
    return mu, gamma


# tau of the context assignments on a classifier's pooled encoder features (ReLU features: cosine
# similarities in [0, 1], so a sharper softmax than TCL's 0.25 on its trained projections); measured on
# the fmnist-mini CE cells, docs/RESULTS.md "CE's ranking: the context of its features"
CONTEXT_TEMPERATURE = 0.1
CONTEXT_CLASSIFIER_TERMS = ("normalised", "probability")


@dataclass(frozen=True)
class ContextRanking:
    """How :func:`context_issues` ranks: by sqrt(c_i gamma_{i, y~}).

    temperature: tau of the context assignments gamma = softmax(z mu^T / tau) (TCL Sec. 3.2).
    classifier: the classifier's term c_i, "normalised" = ``labelquality.label_quality`` (the
        class-normalised quality that every detector without embeddings ranks by; the default) or
        "probability" = p(y~|x) (TCL, whose context and classifier are trained together).
    """

    temperature: float = CONTEXT_TEMPERATURE
    classifier: str = "normalised"

    def __post_init__(self) -> None:
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be a positive number, got {self.temperature}")
        if self.classifier not in CONTEXT_CLASSIFIER_TERMS:
            raise ValueError(f"classifier must be one of {CONTEXT_CLASSIFIER_TERMS}, got {self.classifier!r}")


def context_issues(z: Tensor, probs: Tensor, given: Tensor, ranking: ContextRanking = ContextRanking(), *,
                   provenance: str, count_probs: np.ndarray | None = None) -> LabelIssues:
    """Confident learning's flag count and suggestions on ``probs`` (N, C, rows summing to 1), ranked
    by the geometric mean sqrt(c_i gamma_{i, y~}) of the classifier's term c (``ranking.classifier``) and the context
    assignment gamma of the embeddings z (N, D), L2-normalised here, against prototypes built from ``probs``
    (TCL Sec. 3.2): a label is suspect when either the classifier or the embedding's context disagrees
    with it; ``provenance`` of ``probs`` and ``count_probs`` as ``labelquality.find_issues`` takes them. TCL's label issues ("probability" at its own tau: over the 11 noisy TCL cells of the
    fmnist-mini grid, mean AUPRC 0.867 against 0.859 for the arithmetic mean; docs/RESULTS.md "TCL's
    ranking"), every other method with an embedding, and ``detect`` with features."""
    _, gamma = prototype_assignments(F.normalize(z.float(), dim=1), probs.float(), ranking.temperature)
    labels = given.cpu().numpy()
    p = probs.double().cpu().numpy()
    g = gamma.gather(1, given[:, None].to(gamma.device)).squeeze(1).double().cpu().numpy()
    c = p[np.arange(len(labels)), labels] if ranking.classifier == "probability" else label_quality(labels, p)
    return find_issues(labels, p, provenance=provenance, quality=np.sqrt(np.clip(c * g, 0, None)),
                       detector="confident-learning+context", count_probs=count_probs)


def minmax(x: np.ndarray) -> np.ndarray:
    """(x - min) / (max - min), or zeros for a constant array."""
    lo, hi = float(np.min(x)), float(np.max(x))
    return np.zeros_like(x, dtype=np.float64) if hi <= lo else (x - lo) / (hi - lo)


def gmm_clean_probability(
    scores: np.ndarray, *, groups: np.ndarray | None = None, random_state: int = 0,
    reg_covar: float = 1e-6, max_iter: int = 100, tol: float = 1e-3, prior_noisy: np.ndarray | float | None = None,
    cap: bool = False,
) -> np.ndarray:
    """Posterior of the low-score component of a 2-component 1-D Gaussian mixture (TCL Sec. 3.2).

    Args:
        scores: (N,) per-sample scores, lower = more likely clean (e.g. min-max normalised
            -gamma_{i, y~_i} or per-sample loss).
        groups: optional (N,) ints; one mixture per group (TCL's per-class GMM, by given label).
        prior_noisy: None fits the mixing weights (the official selection); a share (or one per group,
            indexed by group value) holds the posterior mass of the high-score component at an
            independent estimate of the noise rate, and EM fits only the means and variances. Without it, a
            unimodal but skewed score distribution (clean data, look-alike classes) lets the second
            component claim the tail: 17.7% of clean digits flagged.
        cap: treat ``prior_noisy`` as a ceiling: keep the fitted mixture where its noisy posterior mass
            is at most the prior, and hold the mass at the prior only where the fit claims more. At high
            noise a free fit that calls fewer samples noisy than the estimate keeps the better run.
    Returns:
        w: (N,) float in [0, 1], the probability that the sample's given label is clean.
    """
    scores = np.asarray(scores, dtype=np.float64)
    w = np.ones(len(scores), dtype=np.float64)
    parts = [(None, np.arange(len(scores)))] if groups is None else \
        [(g, np.flatnonzero(groups == g)) for g in np.unique(groups)]
    for g, idx in parts:
        if len(idx) < 2 or np.ptp(scores[idx]) == 0:
            continue  # nothing to separate: keep w = 1
        x = scores[idx]
        gmm, clean = fit_two_gaussians(x, random_state=random_state, reg_covar=reg_covar, max_iter=max_iter, tol=tol)
        pi = None if prior_noisy is None else \
            float(np.ravel(prior_noisy)[int(g)] if np.ndim(prior_noisy) and g is not None else prior_noisy)
        if pi is None or cap:
            free = low_component_posterior(gmm, clean, x)
            if pi is None or float(np.mean(1.0 - free)) <= pi:
                w[idx] = free
                continue
        mu, var = gmm.means_.ravel()[[clean, 1 - clean]], gmm.covariances_.ravel()[[clean, 1 - clean]]
        w[idx] = _matched_mass_em(x.ravel(), mu, var, pi, reg_covar, max_iter, tol)
    return w


def _matched_mass_em(x: np.ndarray, mu: np.ndarray, var: np.ndarray, prior_noisy: float, reg_covar: float,
                     max_iter: int, tol: float) -> np.ndarray:
    """EM for a 1-D 2-component mixture (clean, noisy) whose noisy posterior mass is held at the prior.

    Fixing the mixing weight alone does not fix the posterior mass: with overlapping components the
    wide one claims both tails (a weight of 0.12 gave a mean noisy posterior of 0.23 on clean data).
    Each E-step therefore shifts the log-odds by the one constant b that makes the mean noisy
    posterior equal ``prior_noisy`` (bisection; monotone in b), then the M-step refits the means and
    variances. x: (N,); mu, var: (2,) initial means and variances, clean first. Returns the clean
    posterior (N,)."""
    target = float(np.clip(prior_noisy, 1e-4, 1 - 1e-4))
    mu, var = mu.astype(np.float64).copy(), var.astype(np.float64).copy()
    post = np.zeros(len(x))
    for _ in range(max_iter):
        log_lik = -0.5 * (np.log(2 * np.pi * var) + (x[:, None] - mu) ** 2 / var)
        odds = log_lik[:, 1] - log_lik[:, 0]  # log p(x | noisy) - log p(x | clean)
        lo, hi = -50.0 - odds.max(), 50.0 - odds.min()
        for _ in range(60):
            b = (lo + hi) / 2
            lo, hi = (b, hi) if expit(odds + b).mean() < target else (lo, b)
        new = expit(odds + (lo + hi) / 2)  # noisy posterior
        done = np.abs(new - post).max() < tol
        post = new
        resp = np.stack([1 - post, post], 1)
        mass = resp.sum(0).clip(1e-12)
        mu = (resp * x[:, None]).sum(0) / mass
        var = (resp * (x[:, None] - mu) ** 2).sum(0) / mass + reg_covar
        if done:
            break
    return 1 - post if mu[0] <= mu[1] else post


# TCL's E-step selections: the estimate as a ceiling on the noisy mass, as its value, or none (official)
SELECTIONS = ("capped", "calibrated", "gmm")


def tcl_clean_probability(
    z: Tensor, probs: Tensor, given: Tensor, *, temperature: float, per_class: bool = False,
    selection: str = "gmm", prior_probs: Tensor | None = None,
) -> tuple[np.ndarray, Tensor]:
    """TCL's noisy-label detector (Huang et al., CVPR 2023, Sec. 3.2: the E-step).

    Args:
        z: (N, D) L2-normalised embeddings; probs: (N, C) classifier probabilities;
        given: (N,) int64 given labels y~.
        selection: one of SELECTIONS. "calibrated" holds the GMM's noisy posterior mass at the
            confident-learning noise estimate of ``probs`` (per class with ``per_class``); "capped" makes
            that estimate a ceiling (``gmm_clean_probability(cap=True)``); "gmm" fits the mass freely,
            the official selection.
        prior_probs: (N, C) probabilities to estimate that noise rate from instead of ``probs`` (TCL's
            probe, a head trained on the given labels and not under the selection).
    Returns:
        w: (N,) clean probability (posterior of the low-score GMM component over the min-max
        normalised scores -gamma_{i, y~_i}), and the prototypes mu (C, D).
    """
    mu, gamma = prototype_assignments(z, probs, temperature)
    score = minmax(-gamma.gather(1, given[:, None]).squeeze(1).double().cpu().numpy())
    labels = given.cpu().numpy()
    prior = None
    if selection != "gmm":
        p = (probs if prior_probs is None else prior_probs).double().cpu().numpy()
        p = p / p.sum(1, keepdims=True)
        prior = class_noise_rates(labels, p) if per_class else noise_prior(labels, p)
    w = gmm_clean_probability(score, groups=labels if per_class else None, prior_noisy=prior,
                              cap=selection == "capped")
    return w, mu


def loss_clean_probability(
    probs_history: np.ndarray, labels: np.ndarray, *, reg_covar: float = 5e-4, random_state: int = 0,
) -> np.ndarray:
    """Clean probability from per-sample losses (Ciortan et al. 2021 phase b1; DivideMix's selection).

    Args:
        probs_history: (K, N, C) softmax probabilities of the training samples after each of the last K
            epochs (K = 1 for one set of predictions).
        labels: (N,) int labels whose correctness is estimated (given labels, or pseudo-labels y^).
    Returns:
        w: (N,) posterior of the low-loss component of a 2-component GMM (reg_covar 5e-4) fitted to the
        per-sample cross-entropy, min-max normalised per epoch, then averaged over the K epochs.
    """
    probs_history = np.asarray(probs_history, dtype=np.float64)
    if probs_history.ndim == 2:
        probs_history = probs_history[None]
    labels = np.asarray(labels, dtype=np.int64)
    picked = probs_history[:, np.arange(len(labels)), labels]  # (K, N)
    losses = -np.log(np.clip(picked, 1e-12, 1.0))
    score = np.mean([minmax(row) for row in losses], axis=0)
    return gmm_clean_probability(score, reg_covar=reg_covar, random_state=random_state)


def detection_metrics(label_quality: np.ndarray, is_issue: np.ndarray, truly_noisy: np.ndarray) -> dict[str, float]:
    """How well the flags and scores find the truly wrong labels.

    Args:
        label_quality: float (N,), higher = more likely clean.
        is_issue: bool (N,), the flags.
        truly_noisy: bool (N,), given label != true label.
    Returns: detection_auroc and detection_auprc (average precision) of -quality against
        truly_noisy (NaN if only one class is present), detection_precision, detection_recall,
        detection_f1 of the flags, detection_accuracy, and flagged_to_actual (flagged share over
        actual share; NaN without wrong labels).
    """
    truly_noisy = np.asarray(truly_noisy, dtype=bool)
    is_issue = np.asarray(is_issue, dtype=bool)
    auroc = auprc = float("nan")
    if 0 < truly_noisy.sum() < len(truly_noisy):
        auroc = float(roc_auc_score(truly_noisy, -np.asarray(label_quality, dtype=np.float64)))
        auprc = float(average_precision_score(truly_noisy, -np.asarray(label_quality, dtype=np.float64)))
    tp = float(np.sum(is_issue & truly_noisy))
    precision = tp / max(1.0, float(is_issue.sum()))
    recall = tp / max(1.0, float(truly_noisy.sum()))
    f1 = 2 * precision * recall / max(1e-12, precision + recall)
    return {
        "detection_auroc": auroc,
        "detection_auprc": auprc,
        "detection_precision": precision,
        "detection_recall": recall,
        "detection_f1": f1,
        "detection_accuracy": float(np.mean(is_issue == truly_noisy)),
        "flagged_to_actual": float(is_issue.mean() / truly_noisy.mean()) if truly_noisy.any() else float("nan"),
    }


def write_label_issues(
    path: Path,
    *,
    given_labels: np.ndarray,
    predicted_labels: np.ndarray,
    issues: LabelIssues,
    source_index: np.ndarray,
    true_labels: np.ndarray | None = None,
    paths: list[str] | None = None,
    class_names: list[str] | None = None,
) -> None:
    """Write label_issues.csv, one row per training sample, most suspect first.

    Columns: index (position in the user's source), given_label, predicted_label, label_quality,
    is_label_issue, suggested_label, suggested_probability, [true_label],
    [given_name, predicted_name, suggested_name], [path].
    """
    import io

    order = rank_lowest(issues.quality)  # most suspect first
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = ["index", "given_label", "predicted_label", "label_quality", "is_label_issue", "suggested_label",
              "suggested_probability"]
    header += ["true_label"] if true_labels is not None else []
    header += ["given_name", "predicted_name", "suggested_name"] if class_names is not None else []
    header += ["path"] if paths is not None else []
    w.writerow(header)
    for i in order:
        g, p, s = int(given_labels[i]), int(predicted_labels[i]), int(issues.suggested[i])
        row = [int(source_index[i]), g, p, f"{float(issues.quality[i]):.6f}", bool(issues.flags[i]), s,
               f"{float(issues.suggested_prob[i]):.6f}"]
        if true_labels is not None:
            row.append(int(true_labels[i]))
        if class_names is not None:
            row += [class_names[g], class_names[p], class_names[s]]
        if paths is not None:
            row.append(paths[i])
        w.writerow(row)
    atomic_write_bytes(path, buf.getvalue().encode())


def export_issues(
    run: RunFolder, issues: LabelIssues, given: np.ndarray, predicted: np.ndarray, *, source_index: np.ndarray,
    true_labels: np.ndarray | None, paths: list[str] | None, class_names: list[str] | None, title: str,
) -> dict[str, Any]:
    """label_issues.csv, plots/label_quality.png and plots/class_noise.png in ``run``; returns the
    summary's detection entries (counts, class summary and, with the truth, detection metrics)."""
    write_label_issues(run.path / "label_issues.csv", given_labels=given, predicted_labels=predicted,
                       issues=issues, source_index=source_index, true_labels=true_labels, paths=paths,
                       class_names=class_names)
    truly_noisy = None if true_labels is None else given != np.asarray(true_labels)
    out: dict[str, Any] = {"detector": issues.detector, "num_label_issues": int(issues.flags.sum()),
                           "noise_rate_estimated": float(np.mean(issues.flags))}
    if issues.evidence is not None:
        out.update(issues.evidence.as_dict(class_names))
    if truly_noisy is not None:
        out.update(detection_metrics(issues.quality, issues.flags, truly_noisy))
    out["class_summary"] = class_summary(given, issues, class_names)
    from .report import plot_class_noise, plot_quality_histogram

    plot_quality_histogram(issues.quality, truly_noisy, run.path / "plots" / "label_quality.png", title)
    plot_class_noise(out["class_summary"], run.path / "plots" / "class_noise.png",
                     None if truly_noisy is None else np.bincount(given[truly_noisy], minlength=len(issues.per_class_issues)))
    return out
