"""Label-issue tables and detection metrics (pure numpy; cleanlab's column names).

``label_quality`` is, for every training sample, the estimated probability that its given label is
correct (TCL's clean probability w, a GMM posterior, or a model's self-confidence p(y~ | x)); the
ranking puts the lowest quality first.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from .runs import atomic_write_bytes


def detection_metrics(label_quality: np.ndarray, is_issue: np.ndarray, truly_noisy: np.ndarray) -> dict[str, float]:
    """How well the flags and scores find the truly wrong labels.

    Args:
        label_quality: float (N,), higher = more likely clean.
        is_issue: bool (N,), the flags.
        truly_noisy: bool (N,), given label != true label.
    Returns: detection_auroc (of 1 - quality against truly_noisy; NaN if only one class is present),
        detection_precision, detection_recall, detection_f1 of the flags, detection_accuracy.
    """
    truly_noisy = np.asarray(truly_noisy, dtype=bool)
    is_issue = np.asarray(is_issue, dtype=bool)
    auroc = float("nan")
    if 0 < truly_noisy.sum() < len(truly_noisy):
        auroc = float(roc_auc_score(truly_noisy, -np.asarray(label_quality, dtype=np.float64)))
    tp = float(np.sum(is_issue & truly_noisy))
    precision = tp / max(1.0, float(is_issue.sum()))
    recall = tp / max(1.0, float(truly_noisy.sum()))
    f1 = 2 * precision * recall / max(1e-12, precision + recall)
    return {
        "detection_auroc": auroc,
        "detection_precision": precision,
        "detection_recall": recall,
        "detection_f1": f1,
        "detection_accuracy": float(np.mean(is_issue == truly_noisy)),
    }


def rank_by_quality(label_quality: np.ndarray) -> np.ndarray:
    """Indices (N,) ordered most suspect first (lowest quality; ties by index)."""
    return np.lexsort((np.arange(len(label_quality)), np.asarray(label_quality)))


def write_label_issues(
    path: Path,
    *,
    given_labels: np.ndarray,
    predicted_labels: np.ndarray,
    label_quality: np.ndarray,
    is_issue: np.ndarray,
    source_index: np.ndarray,
    true_labels: np.ndarray | None = None,
    paths: list[str] | None = None,
    class_names: list[str] | None = None,
) -> None:
    """Write label_issues.csv, one row per training sample, most suspect first.

    Columns: index (position in the user's source), given_label, predicted_label, label_quality,
    is_label_issue, [true_label], [given_name, predicted_name], [path].
    """
    import io

    order = rank_by_quality(label_quality)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = ["index", "given_label", "predicted_label", "label_quality", "is_label_issue"]
    header += ["true_label"] if true_labels is not None else []
    header += ["given_name", "predicted_name"] if class_names is not None else []
    header += ["path"] if paths is not None else []
    w.writerow(header)
    for i in order:
        row = [int(source_index[i]), int(given_labels[i]), int(predicted_labels[i]),
               f"{float(label_quality[i]):.6f}", bool(is_issue[i])]
        if true_labels is not None:
            row.append(int(true_labels[i]))
        if class_names is not None:
            row += [class_names[given_labels[i]], class_names[predicted_labels[i]]]
        if paths is not None:
            row.append(paths[i])
        w.writerow(row)
    atomic_write_bytes(path, buf.getvalue().encode())
