"""What every method provides to the engine, and the device-resident data it trains on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .. import distributed as ddp
from ..data.augment import ViewConfig, plain_view
from ..detect import ContextRanking, context_issues
from ..labelquality import LabelIssues, find_issues


@dataclass
class TrainData:
    """The training and test sets on the training device.

    Attributes:
        images: uint8 (N, H, W, C) training images.
        labels: int64 (N,) given (possibly noisy) training labels y~.
        true_labels: int64 (N,) true training labels when known (benchmarks), else None.
            Methods must never train on them; they are used for logging only.
        test_images: uint8 (M, H, W, C); test_labels: int64 (M,).
        num_classes: C.
        views: the augmentation recipe (padding, flips, normalisation).
    """

    images: Tensor
    labels: Tensor
    true_labels: Tensor | None
    test_images: Tensor
    test_labels: Tensor
    num_classes: int
    views: ViewConfig

    @property
    def device(self) -> torch.device:
        return self.images.device


@dataclass
class MethodOptions:
    """Hyper-parameters of a method; subclasses add fields (each becomes a CLI flag and YAML key)."""


class Method(nn.Module):
    """A training method: its model, per-epoch hook and per-step loss.

    Being an ``nn.Module``, its ``state_dict`` holds the model and the method's per-sample buffers
    (clean probabilities, running targets, ...), so checkpoints need nothing else.
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type[MethodOptions]] = MethodOptions
    has_classifier: ClassVar[bool] = True  # False for representation learning (no logits, no label issues)
    # per-sample buffers that training_step writes at its idx rows (ELR's targets); under data
    # parallelism the engine shares every rank's rows after each step
    step_buffers: ClassVar[tuple[str, ...]] = ()

    def __init__(self, encoder: nn.Module, num_classes: int, num_train: int, options: MethodOptions) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_train = num_train
        self.options = options

    @classmethod
    def fit_defaults(cls, options: dict[str, Any], epochs: int) -> dict[str, Any]:
        """Optimisation defaults of this method (FitConfig keys); the user's values override them."""
        return {}

    def epoch_start(self, epoch: int, total_epochs: int, data: TrainData, gen: torch.Generator) -> dict[str, float]:
        """Called before epoch ``epoch`` (counted from 1); returns values to log."""
        return {}

    def training_step(
        self, idx: Tensor, epoch: int, data: TrainData, gen: torch.Generator,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """idx: int64 (B,) sample indices -> (scalar loss, detached per-step logs)."""
        raise NotImplementedError

    def epoch_end(self, epoch: int, total_epochs: int, data: TrainData) -> dict[str, float]:
        """Called after the steps of epoch ``epoch``, before evaluation and the checkpoint; returns
        values to log (its time counts as training time)."""
        return {}

    def logits(self, x: Tensor) -> Tensor:
        """Classifier logits (B, C) for normalised images (B, C_in, H, W)."""
        raise NotImplementedError

    def detection_embedding(self, x: Tensor) -> Tensor | None:
        """L2-normalised embeddings (B, D) of normalised images for the prototype detector (TCL's z,
        or the encoder's pooled features); None when the method has none."""
        return None

    def evaluate(self, data: TrainData) -> dict[str, float]:
        """Figures logged after every epoch; must hold ``test_accuracy``. Default: the classifier's
        accuracy and mean cross-entropy on the un-augmented test set."""
        return classifier_metrics(self, data)

    def detection_probs(self, data: TrainData, probs: Tensor) -> np.ndarray:
        """(N, C) float64 class probabilities that the label-issue detector reads (rows sum to 1).

        probs: the final model's softmax (N, C) on the un-augmented training images, which is the
        default; TCL adds its context assignments."""
        p = probs.double().cpu().numpy()
        return p / p.sum(1, keepdims=True)

    @classmethod
    def context_ranking(cls, options: MethodOptions) -> ContextRanking:
        """How label issues are ranked where the method has a :meth:`detection_embedding`
        (``detect.context_issues``); ``detect --run`` ranks a finished run the same way."""
        return ContextRanking()

    def label_issues(self, data: TrainData, probs: Tensor, z: Tensor | None) -> LabelIssues:
        """Quality, flags and suggested labels of the N training labels (README "How label issues are
        found"): confident learning on :meth:`detection_probs`, ranked with the context of the
        embeddings where the method has them (``detect.context_issues``, by :meth:`context_ranking`),
        else by ``labelquality.label_quality``.

        probs: the final model's softmax (N, C) on the un-augmented training images; z: its
        :meth:`detection_embedding` of them (N, D) as features.npy keeps them, or None."""
        p = self.detection_probs(data, probs)
        if z is None:
            return find_issues(data.labels.cpu().numpy(), p)
        return context_issues(z, torch.from_numpy(p), data.labels.cpu(), self.context_ranking(self.options))


@torch.no_grad()
def map_images(
    module: nn.Module, fn: Callable[[Tensor], tuple[Tensor, ...]], images: Tensor, views: ViewConfig,
    batch_size: int = 1024,
) -> tuple[Tensor, ...]:
    """``fn`` on the plain views of all ``images`` (N, H, W, C) in eval mode -> its outputs, each (N, ...).

    Data-parallel ranks each compute one row range and gather the rest (``distributed.gather_rows``).
    """
    was_training = module.training
    module.eval()
    start, stop = ddp.row_range(len(images))
    outs = [fn(plain_view(images[s:min(s + batch_size, stop)], views)) for s in range(start, stop, batch_size)]
    if not outs:  # more ranks than rows: an empty share of the right shape
        outs = [tuple(t[:0] for t in fn(plain_view(images[:1], views)))]
    module.train(was_training)
    return tuple(ddp.gather_rows(torch.cat([o[i] for o in outs]), len(images)) for i in range(len(outs[0])))


def predict_probs(method: Method, images: Tensor, views: ViewConfig, batch_size: int = 1024) -> Tensor:
    """Softmax probabilities (N, C) of the un-augmented images, in eval mode."""
    return map_images(method, lambda x: (torch.softmax(method.logits(x).float(), dim=1),), images, views,
                      batch_size)[0]


def predict_embeddings(method: Method, images: Tensor, views: ViewConfig, batch_size: int = 1024) -> Tensor | None:
    """``method.detection_embedding`` of the un-augmented images (N, D) in eval mode, or None."""
    was_training = method.training
    method.eval()  # the probe must not move batch-norm statistics
    with torch.no_grad():
        probe = method.detection_embedding(plain_view(images[:2], views))
    method.train(was_training)
    if probe is None:
        return None
    return map_images(method, lambda x: (method.detection_embedding(x).float(),), images, views, batch_size)[0]


@torch.no_grad()
def classifier_metrics(method: Method, data: TrainData, batch_size: int = 1024) -> dict[str, float]:
    """test_accuracy and test_loss (mean cross-entropy) of ``method.logits`` on the test set."""
    from ..engine import autocast_for

    with autocast_for(data.device):
        logits = map_images(method, lambda x: (method.logits(x).float(),), data.test_images, data.views,
                            batch_size)[0]
    y = data.test_labels
    n = max(1, len(y))
    return {"test_accuracy": int((logits.argmax(1) == y).sum()) / n,
            "test_loss": float(F.cross_entropy(logits, y, reduction="sum")) / n}


@torch.no_grad()
def knn_accuracy(
    z_test: Tensor, test_labels: Tensor, z_train: Tensor, train_labels: Tensor, num_classes: int,
    *, k: int = 200, temperature: float = 0.1,
) -> float:
    """Weighted kNN classification accuracy (Wu et al. 2018's monitor, as TCL's code uses it).

    z_test (M, D) and z_train (N, D) L2-normalised; each test sample takes the k most similar training
    samples, votes for their labels with weights exp(similarity / temperature).
    """
    correct = 0
    for start in range(0, len(z_test), 1024):
        sim = z_test[start:start + 1024] @ z_train.t()
        top, idx = sim.topk(min(k, len(z_train)), dim=1)
        votes = torch.zeros(len(top), num_classes, device=sim.device)
        votes.scatter_add_(1, train_labels[idx], torch.exp(top / temperature))
        correct += int((votes.argmax(1) == test_labels[start:start + 1024]).sum())
    return correct / max(1, len(z_test))
