"""Offline comparison of label-quality scores on finished runs (docs/RESULTS.md, "Label issues").

For each run folder (with pred_probs.npy, noisy_labels.npy, config.yaml and, for the prototype
scores, features.npy), prints ROC-AUC and AUPRC against the known wrong labels of:
  self-conf   p(y~|x), cleanlab's default score;
  q_y         the class-normalised probability of the given label;
  q-margin    (1 + q_y - max_{j != y~} q_j) / 2, the class-normalised margin;
  shipped     the mean of q_y and q-margin, the label_quality of every method but cleanlab-retrain and TCL;
  gamma       the context assignment of the given label (TCL's prototypes on features.npy);
and the flagged share of the shipped detector beside the actual share.

    python benchmarks/detection_scores.py bench/i18/ce/cc15-n3000-s0 bench/i18/tcl/cc15-n3000-s0
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from noisylabels.detect import prototype_assignments
from noisylabels.labelquality import find_issues, normalised_probs
from noisylabels.data.sources import load_run_splits
from noisylabels.runs import RunFolder


def scores(run: Path) -> tuple[np.ndarray, dict[str, np.ndarray], float]:
    """(truly wrong (N,) bool, {score name: (N,) quality}, flagged share of the shipped detector)."""
    given = np.load(run / "noisy_labels.npy")
    true = load_run_splits(RunFolder(run).read_yaml("config.yaml")).train.labels
    p = np.load(run / "pred_probs.npy").astype(np.float64)
    p /= p.sum(1, keepdims=True)
    ar = np.arange(len(given))
    q = normalised_probs(given, p)
    others = q.copy()
    others[ar, given] = -1
    out = {"self-conf": p[ar, given], "q_y": q[ar, given], "q-margin": (1 + q[ar, given] - others.max(1)) / 2}
    out["shipped"] = (out["q_y"] + out["q-margin"]) / 2
    if (run / "features.npy").exists():
        z = torch.nn.functional.normalize(torch.from_numpy(np.load(run / "features.npy").astype(np.float32)), dim=1)
        _, gamma = prototype_assignments(z, torch.from_numpy(p.astype(np.float32)), 0.25)
        out["gamma"] = gamma.double().numpy()[ar, given]
    return given != true, out, float(find_issues(given, p).flags.mean())


def main(runs: list[str]) -> None:
    for run in runs:
        noisy, named, flagged = scores(Path(run))
        print(f"{run}: actual {noisy.mean():.3f}, flagged {flagged:.3f}")
        if not 0 < noisy.sum() < len(noisy):
            continue
        for name, quality in named.items():
            print(f"  {name:10s} ROC-AUC {roc_auc_score(noisy, -quality):.3f}  "
                  f"AUPRC {average_precision_score(noisy, -quality):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
