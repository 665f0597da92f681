"""What every method provides to the engine, and the device-resident data it trains on.

The engine drives every method (``engine.train``): a single-phase method is one ``engine.fit`` of its
hooks (:meth:`Method.on_fit_start`, then per epoch :meth:`Method.epoch_start`, the
:meth:`Method.training_step` s, :meth:`Method.epoch_end` and :meth:`Method.evaluate`); a multi-phase
method (the framework, cleanlab-retrain) yields its :class:`Phase` s from :meth:`Method.phases`, and the
engine fits each one as its own run. Methods never import the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Generator, Generic, Mapping, TypeVar

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from ..data.augment import ViewConfig
from ..data.store import ImageStore
from ..detect import ContextRanking, context_issues
from ..inference import classifier_metrics, eval_set_metrics
from ..labelquality import LabelIssues, find_issues
from ..schedule import FitConfig


@dataclass
class TrainData:
    """The training and test sets on the training device.

    Attributes:
        images: uint8 (N, H, W, C) training images: a tensor, or a store bound to the device (streamed).
        labels: int64 (N,) given (possibly noisy) training labels y~.
        true_labels: int64 (N,) true training labels when known (benchmarks), else None.
            Methods must never train on them; they are used for logging only.
        test_images: uint8 (M, H, W, C); test_labels: int64 (M,).
        num_classes: C.
        views: the augmentation recipe (padding, flips, normalisation).
        eval_sets: further labelled test sets, name -> (uint8 images (M', H, W, C), int64 labels (M',)),
            evaluated beside the test set after every epoch (``--imagenet-val``: ``"imagenet"``).
    """

    images: Tensor | ImageStore
    labels: Tensor
    true_labels: Tensor | None
    test_images: Tensor
    test_labels: Tensor
    num_classes: int
    views: ViewConfig
    eval_sets: dict[str, tuple[Tensor | ImageStore, Tensor]] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        device = self.images.device
        assert device is not None, "a store of training images is bound to the training device"
        return device


@dataclass
class MethodOptions:
    """Hyper-parameters of a method; subclasses add fields (each becomes a CLI flag and YAML key)."""


O = TypeVar("O", bound=MethodOptions)


@dataclass
class Phase:
    """One phase of a multi-phase method: ``method`` trained on ``data`` with ``cfg``, as its own run
    (folder ``DIR/phase-<name>/``, own optimiser, schedule, checkpoint and resume)."""

    name: str
    method: Method[Any]
    data: TrainData
    cfg: FitConfig


# what Method.phases returns: yields each phase (the engine has trained it when the generator resumes),
# then returns figures for the run's summary (pseudo-label statistics, ...)
Phases = Generator[Phase, None, dict[str, Any]]


class Method(nn.Module, Generic[O]):
    """A training method: its model, per-epoch hook and per-step loss; generic over its options
    (``class TCL(Method[TCLOptions])``: ``self.options`` is a ``TCLOptions``).

    Being an ``nn.Module``, its ``state_dict`` holds the model and the method's per-sample buffers
    (clean probabilities, running targets, ...), so checkpoints need nothing else.
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type[MethodOptions]] = MethodOptions
    has_classifier: bool = True  # False for representation learning (no logits, no label issues)
    # per-sample buffers that training_step writes at its idx rows (ELR's targets); under data
    # parallelism the engine shares every rank's rows after each step
    step_buffers: ClassVar[tuple[str, ...]] = ()

    def __init__(self, encoder: nn.Module, num_classes: int, num_train: int, options: O) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_train = num_train
        self.options: O = options

    @classmethod
    def build(cls, encoder: nn.Module, num_classes: int, num_train: int, options: O) -> Method[O]:
        """The method for a run (what ``train`` calls): the constructor, where a method that starts from an
        earlier run (TCL+) reads that run first and passes what it read to its constructor."""
        return cls(encoder, num_classes, num_train, options)

    @classmethod
    def fit_defaults(cls, options: dict[str, Any], epochs: int,
                     given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Optimisation defaults of this method (FitConfig keys); the user's values override them.
        ``given``: the training options the user gave, where the caller knows them (a default may follow
        one: TCL's official lr follows a given batch size)."""
        return {}

    @classmethod
    def run_options(cls, options: Mapping[str, Any], *, dataset: str) -> dict[str, Any]:
        """The options a run on ``dataset`` (its --dataset value) trains with, as config.yaml keeps them:
        ``options`` (the resolved dataclass fields) with the values left to a recipe or to the dataset
        filled in (TCL's ``--recipe paper``). Default: as given."""
        return dict(options)

    def fit_settings(self) -> dict[str, Any]:
        """FitConfig fields that are not training options (``decay_all``, ``cosine_all_steps``,
        ``autocast``) as this method's options set them. Default: none (the engine's defaults)."""
        return {}

    def phases(self, data: TrainData, cfg: FitConfig, *, pretrained: bool,
               log: Callable[[str], None]) -> Phases | None:
        """None for a single-phase method (the engine fits the method itself). A multi-phase method
        returns a generator of its :class:`Phase` s: the engine trains each phase before resuming it,
        and the generator's return value (a dict) is added to the run's summary.
        ``pretrained``: the encoder holds the weights of ``--pretrained``."""
        return None

    def on_fit_start(self, total_epochs: int, data: TrainData) -> None:
        """Called once per fit, before its first epoch (on ``--resume``: after the checkpoint is loaded,
        before the first remaining epoch); for what depends on the run's length (TCL's warm-up)."""

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
        accuracy, top-5 accuracy and mean cross-entropy on the un-augmented test set, and the same on
        each of ``data.eval_sets`` (:func:`~noisylabels.inference.eval_set_metrics`)."""
        out = classifier_metrics(self, data.test_images, data.test_labels, data.views)
        for name, (images, labels) in data.eval_sets.items():
            out.update(eval_set_metrics(self, name, images, labels, data.views))
        return out

    def detection_probs(self, data: TrainData, probs: Tensor) -> np.ndarray:
        """(N, C) float64 class probabilities that the label-issue detector reads (rows sum to 1).

        probs: the final model's softmax (N, C) on the un-augmented training images, row-normalised in
        float64 (a method may override it; the context of the embeddings enters the ranking, not these)."""
        p = probs.double().cpu().numpy()
        return p / p.sum(1, keepdims=True)

    @classmethod
    def context_ranking(cls, options: MethodOptions) -> ContextRanking:
        """How label issues are ranked where the method has a :meth:`detection_embedding`
        (``detect.context_issues``); ``detect --run`` ranks a finished run the same way."""
        return ContextRanking()

    def count_probs(self, data: TrainData, probs: Tensor) -> np.ndarray | None:
        """(N, C) float64 probabilities whose anchors count the flags in place of :meth:`detection_probs`
        (``labelquality.find_issues``), or None (the default: the detection probabilities count). Called on
        every data-parallel rank (a pass over the images gathers rows)."""
        return None

    def label_issues(self, data: TrainData, probs: Tensor, z: Tensor | None,
                     count_probs: np.ndarray | None = None) -> LabelIssues:
        """Quality, flags and suggested labels of the N training labels (README "How label issues are
        found"): confident learning on :meth:`detection_probs`, ranked with the context of the
        embeddings where the method has them (``detect.context_issues``, by :meth:`context_ranking`),
        else by ``labelquality.label_quality``.

        probs: the final model's softmax (N, C) on the un-augmented training images; z: its
        :meth:`detection_embedding` of them (N, D) as features.npy keeps them, or None; count_probs: the
        method's :meth:`count_probs` as count_probs.npy keeps them, or None."""
        p = self.detection_probs(data, probs)
        if z is None:
            return find_issues(data.labels.cpu().numpy(), p, provenance="in-sample", count_probs=count_probs)
        return context_issues(z, torch.from_numpy(p), data.labels.cpu(), self.context_ranking(self.options),
                              provenance="in-sample", count_probs=count_probs)
