"""The Python door to the label-issue detector and the noise models: arrays in, arrays out (no files written).

``find_label_issues(labels, pred_probs, *, features=None, in_sample=False)`` is what ``noisylabels detect
--labels --pred-probs [--features] [--in-sample]`` computes; ``make_noisy_labels(labels, kind, rate, *, seed)``
what ``noisylabels noise`` writes. Errors name the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .data._images import image_array
from .data.given import plain_array
from .data.keyed import label_vector
from .errors import UserError, as_parameters
from .issues import detect_issues, feature_vote_probs, validate_predictions
from .labelquality import CountEvidence, LabelIssues, rank_lowest


@dataclass(frozen=True)
class LabelIssueReport:
    """The detector's verdict on N labels.

    labels: int64 (N,) the given labels; pred_probs: float64 (N, C) the probabilities it read (rows sum
    to 1; kNN votes when only features were given); issues: quality, flags and suggestions
    (``labelquality.LabelIssues``)."""

    labels: np.ndarray
    pred_probs: np.ndarray
    issues: LabelIssues

    @property
    def is_label_issue(self) -> np.ndarray:
        """bool (N,): the flagged labels."""
        return self.issues.flags

    @property
    def label_quality(self) -> np.ndarray:
        """float (N,) in [0, 1], higher = more likely right."""
        return self.issues.quality

    @property
    def suggested_label(self) -> np.ndarray:
        """int (N,): the best other class on a flagged row, the most probable class elsewhere."""
        return self.issues.suggested

    @property
    def evidence(self) -> CountEvidence | None:
        """What the flag count rests on, with its warnings."""
        return self.issues.evidence

    def ranked(self) -> np.ndarray:
        """Indices (N,) most suspect first (lowest quality; ties by index)."""
        return rank_lowest(self.issues.quality)

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per sample in the input order, with cleanlab's column names
        (``is_label_issue``, ``label_quality``, ``given_label``, ``predicted_label``, as cleanlab's
        ``CleanLearning.find_label_issues`` returns them) and
        ``suggested_label``. Needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise UserError("to_frame needs pandas: pip install pandas") from None
        return pd.DataFrame({"is_label_issue": self.issues.flags, "label_quality": self.issues.quality,
                             "given_label": self.labels, "predicted_label": self.pred_probs.argmax(1),
                             "suggested_label": self.issues.suggested})


def find_label_issues(labels: Any, pred_probs: Any = None, *, features: Any = None, in_sample: bool = False,
                      k: int = 20) -> LabelIssueReport:
    """Find the wrong labels among N given labels.

    Args:
        labels: (N,) int class indices in [0, C).
        pred_probs: (N, C) predicted probabilities, out-of-sample (K-fold or held-out predictions, as
            cleanlab asks) unless ``in_sample``; None to vote with ``features`` alone.
        features: (N, D) embeddings: with ``pred_probs`` they add their context to the ranking; alone,
            leave-one-out votes of the ``k`` most similar samples' labels are the probabilities
            (SimiFeat-style, Zhu et al., ICML 2022).
        in_sample: ``pred_probs`` are a model's predictions of its own training images: counted with
            anchor points, as a training run counts (README "How label issues are found").
    Returns:
        a :class:`LabelIssueReport`. Bad input raises ``noisylabels.errors.UserError`` naming the parameter.
    """
    if not isinstance(in_sample, (bool, np.bool_)):
        raise UserError(f"in_sample must be True or False, got {in_sample!r}")
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise UserError(f"k (neighbours) must be a whole number, got {k!r}")
    _check_aligned(labels, pred_probs, features)
    labels = plain_array(labels, "labels")
    features = None if features is None else plain_array(features, "features")
    if pred_probs is None:
        if features is None:
            raise UserError("find_label_issues needs pred_probs, features or both")
        if in_sample:
            raise UserError("in_sample describes pred_probs; give pred_probs or drop in_sample")
        pred_probs, _ = feature_vote_probs(labels, features, k=int(k))
    y, p = validate_predictions(labels, plain_array(pred_probs, "pred_probs"))  # features: detect_issues checks them
    issues = detect_issues(y, p, features=features, provenance="in-sample" if in_sample else "out-of-sample")
    return LabelIssueReport(y, p, issues)


def _check_aligned(labels: Any, pred_probs: Any, features: Any) -> None:
    """pandas inputs are read by position: refuse where that would pair rows or classes other than their index and
    columns say (rows of differing indexes; probability columns that are not 0..C-1 in order)."""
    framed = [(n, v) for n, v in (("labels", labels), ("pred_probs", pred_probs), ("features", features))
              if hasattr(v, "index") and hasattr(getattr(v, "index"), "equals")]
    for (a, x), (b, z) in zip(framed, framed[1:]):
        if not x.index.equals(z.index):
            raise UserError(f"{a} and {b} are pandas objects with different indexes, and rows are paired by position; "
                            f"align them first ({b}.loc[{a}.index]) or pass numpy arrays in one order")
    columns = getattr(pred_probs, "columns", None)
    if columns is not None and [str(c) for c in columns] != [str(j) for j in range(len(columns))]:
        raise UserError(f"pred_probs' columns {list(columns)[:6]} are not the class indices 0..C-1 in order, and column "
                        "c is read as class c; reorder them or pass a numpy array")


def make_noisy_labels(labels: Any, kind: str, rate: float, *, seed: int = 0, num_classes: int | None = None,
                      dataset: str | None = None, images: Any = None) -> np.ndarray:
    """Labels int (N,) -> noisy labels int64 (N,) under the noise model ``kind`` at ``rate``.

    Args:
        labels: (N,) int true labels in [0, C).
        kind: symmetric, symmetric-exclusive, asymmetric, pairflip, instance or lookalike (README "Noise").
        rate: the noise rate in [0, 1]; seed: the draw's seed (the same seed, the same labels).
        num_classes: C (default: the largest label + 1); dataset: the dataset name that picks the asymmetric
            map (fashion-mnist, cifar10, ...); images: uint8 (N, H, W[, C]) for instance and lookalike noise.
    Bad input raises ``noisylabels.errors.UserError`` naming the parameter."""
    from .data.noise import make_noisy_labels as _make

    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"seed must be a whole number of at least 0 (the same seed, the same labels), got {seed!r}")
    y = label_vector(plain_array(labels, "labels"), "labels")  # read as find_label_issues reads them
    if isinstance(kind, str) and kind.startswith("file:"):
        raise UserError("kind names a noise model; labels from a file are your own labels, read them yourself")
    c = int(y.max()) + 1 if num_classes is None and y.size else num_classes
    x = None if images is None else image_array(plain_array(images, "images"), "images")
    try:
        return _make(y, noise=kind, rate=rate, num_classes=c, seed=seed, dataset=dataset, images=x)
    except UserError as e:
        raise UserError(as_parameters(str(e)).replace("noise_rate", "rate")) from None
