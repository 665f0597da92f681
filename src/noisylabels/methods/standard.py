"""Standard supervised training on the given labels: cross-entropy (the non-robust baseline)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeVar

import numpy as np

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..data.augment import weak_view
from ..models.heads import Classifier
from ..inference import predict_probs
from .base import Method, MethodOptions, TrainData


@dataclass
class SupervisedOptions(MethodOptions):
    """head_epochs: train only the linear classifier (encoder frozen, in eval mode) for this many
    first epochs, then the whole network (Ciortan et al. 2021, phase a2, after pre-training).
    record_probs_epochs: keep the softmax (N, C) of the un-augmented training images after each of
    the last K epochs (the framework's GMM averages per-sample losses over them, phase b1)."""

    head_epochs: int = 0
    record_probs_epochs: int = 0


SO = TypeVar("SO", bound=SupervisedOptions)


class CrossEntropy(Method[SO]):
    """Cross-entropy on the weak view (random crop + flip) against the given labels y~; generic over its
    options, so the robust losses (``GCE(CrossEntropy[GCEOptions])``) read theirs typed.

    Every step also records the training dynamics that AUM ranks by (Pleiss et al., NeurIPS 2020): the
    logit margin z_{y~} - max_{j != y~} z_j of each sample's given label, summed in ``margin_sum`` (N,)
    over the steps that saw it (``margin_count`` (N,)), from the second epoch on when there is one; no
    extra pass."""

    name = "ce"
    Options = SupervisedOptions
    step_buffers: ClassVar[tuple[str, ...]] = ("margin_sum", "margin_count")

    def __init__(self, encoder: nn.Module, num_classes: int, num_train: int, options: SO) -> None:
        super().__init__(encoder, num_classes, num_train, options)
        self.model = Classifier(encoder, num_classes)
        k = int(options.record_probs_epochs)
        self.register_buffer("recent_probs", torch.zeros(k, num_train if k else 0, num_classes))
        self.register_buffer("margin_sum", torch.zeros(num_train))
        self.register_buffer("margin_count", torch.zeros(num_train))

    @torch.no_grad()
    def record_margins(self, idx: Tensor, logits: Tensor, targets: Tensor) -> None:
        """Add the margins z_y - max_{j != y} z_j of logits (B, C) at targets (B,) to rows idx (B,)."""
        z = logits.float()
        given = z.gather(1, targets[:, None]).squeeze(1)
        others = z.scatter(1, targets[:, None], float("-inf")).amax(1)
        self.margin_sum.index_add_(0, idx, given - others)
        self.margin_count.index_add_(0, idx, torch.ones_like(given))

    def training_margins(self) -> np.ndarray | None:
        """AUM (N,) float64: the mean recorded margin of each sample's given label (NaN where no step saw
        it), or None when no step recorded one (a subclass whose steps do not)."""
        if not bool((self.margin_count > 0).any()):
            return None
        count = self.margin_count.double().cpu().numpy()
        return np.where(count > 0, self.margin_sum.double().cpu().numpy() / np.maximum(count, 1), np.nan)

    def epoch_end(self, epoch: int, total_epochs: int, data: TrainData) -> dict[str, float]:
        """Record the training-set softmax after each of the last ``record_probs_epochs`` epochs; drop the
        first epoch's margins when a second follows (AUM averages the steps from the second epoch on:
        Pleiss et al., NeurIPS 2020, Sec. 3)."""
        k = len(self.recent_probs)
        slot = epoch - (total_epochs - k) - 1
        if k and slot >= 0:
            self.recent_probs[slot] = predict_probs(self, data.images, data.views)
        if epoch == 1 and total_epochs > 1:
            self.margin_sum.zero_()
            self.margin_count.zero_()
        return {}

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """logits (B, C), targets int64 (B,) -> scalar loss."""
        return F.cross_entropy(logits, targets)

    def training_step(
        self, idx: Tensor, epoch: int, data: TrainData, gen: torch.Generator,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        x = weak_view(data.images[idx], data.views, gen)
        y = data.labels[idx]
        logits = self.forward_train(x, epoch)
        self.record_margins(idx, logits, y)
        loss = self.loss(logits.float(), y)
        acc = (logits.argmax(1) == y).float().mean()
        return loss, {"loss": loss.detach(), "train_acc_given": acc.detach()}

    def forward_train(self, x: Tensor, epoch: int) -> Tensor:
        """Logits (B, C); during the first ``head_epochs`` epochs only the classifier gets gradients."""
        if epoch <= self.options.head_epochs:
            self.model.encoder.eval()
            with torch.no_grad():
                h = self.model.encoder(x)
            return self.model.fc(h)
        return self.model(x)

    def logits(self, x: Tensor) -> Tensor:
        return self.model(x)

    def detection_embedding(self, x: Tensor) -> Tensor | None:
        return F.normalize(self.model.encoder(x).float(), dim=1)
