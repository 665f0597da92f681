"""The practitioner's baseline: cleanlab on out-of-sample CE probabilities, then retrain.

K-fold cross-validation (stratified by given label, seeded): CE is trained on K-1 folds and predicts
the held-out fold, giving out-of-sample probabilities for every training sample;
``cleanlab.filter.find_label_issues`` flags the suspect labels (Northcutt et al., JAIR 2021); CE is
trained again, from the same initial weights, on the samples not flagged. Each fold and the retraining
are phases (``DIR/phase-fold<k>/``, ``DIR/phase-retrain/``). cleanlab is an optional extra.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from ..data.store import select_images
from ..errors import UserError
from ..labelquality import LabelIssues, find_issues
from ..probe import stratified_folds
from ..schedule import FitConfig
from ..inference import predict_probs
from .base import Method, MethodOptions, Phase, Phases, TrainData
from .standard import CrossEntropy, SupervisedOptions

FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given")


@dataclass
class CleanlabRetrainOptions(MethodOptions):
    """folds: K of the cross-validation (5, as PROTOCOL's reference); filter_by: cleanlab's rule
    (its default prune_by_noise_rate)."""

    folds: int = 5
    filter_by: str = "prune_by_noise_rate"


def subset(data: TrainData, idx: np.ndarray) -> TrainData:
    """The training samples ``idx`` (same test set and views)."""
    t = torch.from_numpy(idx).to(data.device)
    return dataclasses.replace(data, images=select_images(data.images, idx), labels=data.labels[t],
                               true_labels=None if data.true_labels is None else data.true_labels[t])


class CleanlabRetrain(Method[CleanlabRetrainOptions]):
    """Yields a phase per fold and the retraining (:meth:`phases`); then behaves as the retrained CE."""

    name = "cleanlab-retrain"
    Options = CleanlabRetrainOptions

    def __init__(self, encoder: nn.Module, num_classes: int, num_train: int, options: CleanlabRetrainOptions) -> None:
        super().__init__(encoder, num_classes, num_train, options)
        try:
            import cleanlab  # noqa: F401
        except ImportError:
            raise UserError("--method cleanlab-retrain needs cleanlab: pip install 'noisylabels[cleanlab]'") from None
        if options.folds < 2:
            raise UserError(f"--folds must be at least 2, got {options.folds}")
        if options.filter_by not in FILTERS:
            raise UserError(f"--filter-by must be one of {', '.join(FILTERS)}, got {options.filter_by!r}")
        self.initial_encoder = copy.deepcopy(encoder)  # every fold and the retraining start from these weights
        self.classifier: CrossEntropy[SupervisedOptions] | None = None
        self.register_buffer("pred_probs", torch.zeros(num_train, num_classes))
        self.register_buffer("issues", torch.zeros(num_train, dtype=torch.bool))

    def _fresh_ce(self, num_train: int) -> CrossEntropy[SupervisedOptions]:
        return CrossEntropy(copy.deepcopy(self.initial_encoder), self.num_classes, num_train, SupervisedOptions())

    def phases(self, data: TrainData, cfg: FitConfig, *, pretrained: bool,
               log: Callable[[str], None]) -> Phases:
        """Cross-validated probabilities (a phase per fold) -> cleanlab -> retrain (a phase); returns the
        figures for the summary."""
        from cleanlab.filter import find_label_issues

        o = self.options
        labels = data.labels.cpu().numpy()
        fold = stratified_folds(labels, o.folds, cfg.seed)
        quiet = dataclasses.replace(cfg, eval_every=cfg.epochs)  # the folds' test accuracy only at the end
        for k in range(o.folds):
            torch.manual_seed(cfg.seed * 1000 + k)
            model = self._fresh_ce(int(np.sum(fold != k))).to(data.device)
            yield Phase(f"fold{k + 1}", model, subset(data, np.flatnonzero(fold != k)), quiet)
            held = np.flatnonzero(fold == k)  # a streamed store stays a store: decoded batch by batch
            self.pred_probs[torch.from_numpy(held).to(data.device)] = \
                predict_probs(model, select_images(data.images, held), data.views)
        probs = self.pred_probs.cpu().numpy().astype(np.float64)
        probs /= probs.sum(1, keepdims=True)
        flagged = find_label_issues(labels, probs, filter_by=o.filter_by)
        self.issues.copy_(torch.from_numpy(flagged))
        keep = np.flatnonzero(~flagged)
        log(f"cleanlab flagged {int(flagged.sum())} of {len(labels)} labels; retraining CE on the other {len(keep)}")
        torch.manual_seed(cfg.seed * 1000 + o.folds)
        final = self._fresh_ce(len(keep)).to(data.device)
        yield Phase("retrain", final, subset(data, keep), cfg)
        self.classifier = final
        return {"num_removed": int(flagged.sum()), "out_of_sample_accuracy_vs_given":
                float(np.mean(probs.argmax(1) == labels))}

    def logits(self, x: Tensor) -> Tensor:
        assert self.classifier is not None, "train its phases first"
        return self.classifier.logits(x)

    def detection_embedding(self, x: Tensor) -> Tensor | None:
        return None if self.classifier is None else self.classifier.detection_embedding(x)

    def out_of_sample_probs(self) -> Tensor:
        """(N, C) cross-validated probabilities (exported as pred_probs.npy)."""
        return self.pred_probs

    def label_issues(self, data: TrainData, probs: Tensor, z: Tensor | None,
                     count_probs: np.ndarray | None = None) -> LabelIssues:
        """The baseline as cleanlab gives it: its label quality score (self-confidence of the
        out-of-sample probabilities) and the flags of find_label_issues that the retraining dropped;
        suggestions from the out-of-sample probabilities."""
        from cleanlab.rank import get_label_quality_scores

        p = self.pred_probs.cpu().numpy().astype(np.float64)
        p /= p.sum(1, keepdims=True)
        labels = data.labels.cpu().numpy()
        return find_issues(labels, p, provenance="out-of-sample", quality=get_label_quality_scores(labels, p), flags=self.issues.cpu().numpy(),
                           detector="cleanlab")
