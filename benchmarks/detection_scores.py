"""Offline comparison of label-quality scores on finished runs (docs/RESULTS.md, "Label issues").

For each run folder (with pred_probs.npy, noisy_labels.npy, config.yaml and, for the context
scores, features.npy), prints ROC-AUC, AUPRC, and the F1 and flagged/actual share of the flags that
the shared count (anchor points) picks with each ranking, against the known wrong labels, of:
  self-conf      p(y~|x), cleanlab's default score;
  q_y            the class-normalised probability of the given label;
  q-margin       (1 + q_y - max_{j != y~} q_j) / 2, the class-normalised margin;
  quality        the mean of q_y and q-margin (labelquality.label_quality): the ranking without features;
  gamma@tau      the context assignment of the given label (prototypes from p on features.npy), tau 0.1, 0.25;
  ctx p@tau      sqrt(p(y~|x) gamma_y): TCL's ranking (at its tau 0.25);
  ctx q@tau      sqrt(quality gamma_y): every other method's ranking with features (at tau 0.1);
  run's own      the ranking the run itself shipped (``issues.run_context_ranking``), as ``detect --run``.

    python benchmarks/detection_scores.py bench/grid/ce/cc15-n3000-s0 bench/grid/tcl/cc15-n3000-s0
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from noisylabels.data.sources import load_run_splits
from noisylabels.detect import context_issues, detection_metrics, prototype_assignments
from noisylabels.issues import run_context_ranking, validate_predictions
from noisylabels.labelquality import LabelIssues, find_issues, label_quality, normalised_probs
from noisylabels.runs import CONFIG, COUNT_PROBS, FEATURES, NOISY_LABELS, PRED_PROBS, RunFolder


def candidates(given: np.ndarray, p: np.ndarray, z: torch.Tensor | None) -> dict[str, np.ndarray]:
    """{score name: (N,) quality} for labels ``given`` (N,), probabilities ``p`` (N, C), features z (N, D)."""
    ar = np.arange(len(given))
    q = normalised_probs(given, p)
    others = q.copy()
    others[ar, given] = -1
    out = {"self-conf": p[ar, given], "q_y": q[ar, given], "q-margin": (1 + q[ar, given] - others.max(1)) / 2,
           "quality": label_quality(given, p)}
    if z is not None:
        for tau in (0.1, 0.25):
            _, gamma = prototype_assignments(z, torch.from_numpy(p.astype(np.float32)), tau)
            g = gamma.double().numpy()[ar, given]
            out[f"gamma@{tau}"] = g
            out[f"ctx p@{tau}"] = np.sqrt(out["self-conf"] * g)
            out[f"ctx q@{tau}"] = np.sqrt(out["quality"] * g)
    return out


def run_scores(run: Path) -> tuple[np.ndarray, dict[str, LabelIssues]]:
    """(truly wrong (N,) bool, {score name: the shared detector's verdict ranked by that score})."""
    folder = RunFolder(run)
    cfg = folder.read_yaml(CONFIG)
    given, p = validate_predictions(folder.read_npy(NOISY_LABELS), folder.read_npy(PRED_PROBS))
    true = load_run_splits(cfg).train.labels
    z = None
    if (run / FEATURES).exists():
        z = torch.nn.functional.normalize(torch.from_numpy(folder.read_npy(FEATURES).astype(np.float32)), dim=1)
    out = {name: find_issues(given, p, provenance="in-sample", quality=quality) for name, quality in candidates(given, p, z).items()}
    cp = validate_predictions(given, folder.read_npy(COUNT_PROBS))[1] if (run / COUNT_PROBS).exists() else None
    ranking = run_context_ranking(cfg) if z is not None else None
    out["run's own"] = find_issues(given, p, provenance="in-sample", count_probs=cp) if ranking is None else \
        context_issues(z, torch.from_numpy(p), torch.from_numpy(given), ranking, provenance="in-sample", count_probs=cp)
    return given != true, out


def main(runs: list[str]) -> None:
    for run in runs:
        noisy, named = run_scores(Path(run))
        print(f"{run}: actual {noisy.mean():.3f}")
        for name, issues in named.items():
            m = detection_metrics(issues.quality, issues.flags, noisy)
            print(f"  {name:10s} ROC-AUC {m['detection_auroc']:.3f}  AUPRC {m['detection_auprc']:.3f}  "
                  f"F1 {m['detection_f1']:.3f}  flagged {issues.flags.mean():.3f} ({m['flagged_to_actual']:.2f}x)")


if __name__ == "__main__":
    main(sys.argv[1:])
