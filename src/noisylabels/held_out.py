"""The in-sample count checked against the model's accuracy on held-out images (numpy).

A model fits the images it trained on at least as well as it predicts new ones, so its in-sample mistakes
on right labels are at most about its held-out error. Where it predicts another class than the given one
for more labels than that error and the flags together account for, the rest of those disagreements are
wrong labels the in-sample count missed. That happens where the anchors of a class hold few of its
mislabelled samples: on a binary task with a rare class (4,000 Fashion-MNIST images, 10% bags, held-out
accuracy .98-.995) the model is surest of the bags whose label says bag, and the anchor count read
0.35-0.61x while the model's disagreements matched the wrong labels (docs/RESULTS.md, "In-sample on an
imbalanced binary task").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .labelquality import LabelIssues, doubted_counts, flag_lowest, normalised_probs, other_classes


def unexplained_disagreements(agreement: float, accuracy: float | None, flagged: float) -> bool:
    """Whether the model's in-sample disagreements with the given labels (1 - ``agreement``) exceed the
    flagged share ``flagged`` plus its held-out error (1 - ``accuracy``). False where ``accuracy`` is None
    or not finite."""
    return accuracy is not None and bool(np.isfinite(accuracy)) and accuracy > agreement + flagged


def held_out_floor(labels: np.ndarray, probs: np.ndarray, issues: LabelIssues,
                   accuracy: float | None) -> LabelIssues:
    """``issues`` with each class flagged at least its disagreements beyond its share of the held-out error,
    where :func:`unexplained_disagreements` holds for in-sample evidence; else ``issues`` unchanged.

    labels: int (N,) given labels; probs: (N, C) the in-sample probabilities that ranked ``issues``;
    accuracy: the final model's accuracy on held-out images. Class c's floor is its samples whose argmax is
    another class, less ceil((1 - accuracy) * its size); the added flags are the class's lowest-quality
    samples not yet flagged, each suggested its best other class. A line in the evidence says so."""
    ev = issues.evidence
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    flagged = float(np.mean(issues.flags))
    if ev is None or ev.provenance != "in-sample" or not unexplained_disagreements(ev.agreement, accuracy, flagged):
        return issues
    c = probs.shape[1]
    sizes = np.bincount(labels, minlength=c)
    floor = np.maximum(0, doubted_counts(labels, probs) - np.ceil((1.0 - float(accuracy)) * sizes).astype(np.int64))
    counts = np.maximum(issues.per_class_issues, floor)
    flags = issues.flags | flag_lowest(labels, issues.quality, counts)
    q = normalised_probs(labels, probs)
    ar = np.arange(len(labels))
    added = flags & ~issues.flags
    suggested = np.where(added, other_classes(labels, q).argmax(1), issues.suggested)
    line = (f"the model predicts another class for {1.0 - ev.agreement:.1%} of its training labels, more than its "
            f"held-out error ({1.0 - float(accuracy):.1%}) and the in-sample flags ({flagged:.1%}) account for: "
            f"the rest are wrong labels the count missed, so each class is flagged at least its disagreements "
            f"beyond that error ({flags.mean():.1%} in all); the count may still be low")
    return replace(issues, flags=flags, suggested=suggested,
                   suggested_prob=np.where(added, q[ar, suggested], issues.suggested_prob),
                   per_class_issues=np.bincount(labels[flags], minlength=c).astype(np.int64),
                   evidence=replace(ev, warnings=(*ev.warnings, line)))


def judged_on_held_out(labels: np.ndarray, probs: np.ndarray, issues: LabelIssues,
                       accuracy: float | None) -> LabelIssues:
    """``issues`` as the held-out ``accuracy`` leaves them: :func:`held_out_floor`, then the evidence's
    "too weak on held-out images" line (:meth:`~noisylabels.labelquality.CountEvidence.with_held_out`)
    judged on the flags that result. Unchanged where ``issues`` carries no evidence (a method's own flags)."""
    if issues.evidence is None:
        return issues
    issues = held_out_floor(labels, probs, issues, accuracy)
    return replace(issues, evidence=issues.evidence.with_held_out(accuracy, float(np.mean(issues.flags))))
