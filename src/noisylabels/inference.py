"""Inference over a whole image set: eval-mode passes over the un-augmented views, and the monitors
built on them (a leaf below the methods and the engine: they both use it, it imports neither).

The helpers take any model with the methods they call (:class:`Classifies`, :class:`Embeds`), which every
``methods.base.Method`` is.
"""

from __future__ import annotations

import contextlib

from typing import Any, Callable, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from . import distributed as ddp
from .data.augment import ViewConfig, plain_view
from .data.store import prefetch
from .precision import autocast_for
from .probe import knn_votes


class Switchable(Protocol):
    """A module that can be put in eval mode and back (``nn.Module``)."""

    training: bool

    def eval(self) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...


class Classifies(Switchable, Protocol):
    """A model with classifier logits (B, C) for normalised images (B, C_in, H, W)."""

    def logits(self, x: Tensor) -> Tensor: ...


class Embeds(Switchable, Protocol):
    """A model with detection embeddings (B, D) of normalised images, or None when it has none."""

    def detection_embedding(self, x: Tensor) -> Tensor | None: ...


@torch.no_grad()
def map_images(
    module: Switchable, fn: Callable[[Tensor], tuple[Tensor, ...]], images: Any, views: ViewConfig,
    batch_size: int = 1024, fp32: bool = False,
) -> tuple[Tensor, ...]:
    """``fn`` on the plain views of all ``images`` (N, H, W, C) in eval mode -> its outputs, each (N, ...).

    A store (streamed from disk) is told the batches first, so that its workers decode ahead of the
    forward passes; the passes run under the fit's autocast (:func:`~noisylabels.precision.autocast_for`,
    as the training steps do; outputs in the dtype ``fn`` gives), or in fp32 with ``fp32``: the class
    probabilities and test figures of the package are those of the fp32 model that ``model.pt2`` exports. Data-parallel ranks each compute one row range and gather the rest
    (``distributed.gather_rows``).
    """
    was_training = module.training
    module.eval()
    start, stop = ddp.row_range(len(images))
    starts = range(start, stop, batch_size)
    prefetch(images, [torch.arange(s, min(s + batch_size, stop)) for s in starts])
    with contextlib.nullcontext() if fp32 else autocast_for(_device_of(images)):
        outs = [fn(plain_view(images[s:min(s + batch_size, stop)], views)) for s in starts]
    if not outs:  # more ranks than rows: an empty share of the right shape
        outs = [tuple(t[:0] for t in fn(plain_view(images[:1], views)))]
    module.train(was_training)
    return tuple(ddp.gather_rows(torch.cat([o[i] for o in outs]), len(images)) for i in range(len(outs[0])))


def _device_of(images: Any) -> torch.device:
    device = getattr(images, "device", None)
    return device if isinstance(device, torch.device) else torch.device("cpu")


def predict_probs(method: Classifies, images: Any, views: ViewConfig, batch_size: int = 1024) -> Tensor:
    """Softmax probabilities (N, C) of the un-augmented images, in eval mode, in fp32."""
    return map_images(method, lambda x: (torch.softmax(method.logits(x).float(), dim=1),), images, views,
                      batch_size, fp32=True)[0]


def _has_embedding(method: Embeds, images: Any, views: ViewConfig) -> bool:
    """Whether ``method.detection_embedding`` gives embeddings (probed on two images, in eval mode)."""
    was_training = method.training
    method.eval()  # the probe must not move batch-norm statistics
    with torch.no_grad():
        probe = method.detection_embedding(plain_view(images[:2], views))
    method.train(was_training)
    return probe is not None


def _embedding(method: Embeds, x: Tensor) -> Tensor:
    z = method.detection_embedding(x)
    assert z is not None  # _has_embedding said it has one
    return z.float()


class ClassifiesAndEmbeds(Classifies, Embeds, Protocol):
    """A method with a classifier and detection embeddings (every method that ends a run)."""


def predict_probs_and_embeddings(
    method: ClassifiesAndEmbeds, images: Any, views: ViewConfig, batch_size: int = 1024,
) -> tuple[Tensor, Tensor | None]:
    """:func:`predict_probs` (N, C) and ``method.detection_embedding`` (N, D) of the un-augmented images,
    or None where the method has none, in one pass over the images (one decode of a streamed set)."""
    if not _has_embedding(method, images, views):
        return predict_probs(method, images, views, batch_size), None
    probs, z = map_images(method, lambda x: (torch.softmax(method.logits(x).float(), dim=1), _embedding(method, x)),
                          images, views, batch_size, fp32=True)
    return probs, z


@torch.no_grad()
def classifier_metrics(method: Classifies, test_images: Any, test_labels: Tensor, views: ViewConfig,
                       batch_size: int = 1024) -> dict[str, float]:
    """test_accuracy, test_loss (mean cross-entropy) and, with at least 5 classes,
    test_top5_accuracy (the true class among the 5 highest logits) of ``method.logits`` on the test set, in fp32."""
    logits = map_images(method, lambda x: (method.logits(x).float(),), test_images, views, batch_size, fp32=True)[0]
    y = test_labels
    n = max(1, len(y))
    out = {"test_accuracy": int((logits.argmax(1) == y).sum()) / n,
           "test_loss": float(F.cross_entropy(logits, y, reduction="sum")) / n}
    if logits.shape[1] >= 5:
        out["test_top5_accuracy"] = int((logits.topk(5, dim=1).indices == y[:, None]).any(1).sum()) / n
    return out


def eval_set_metrics(method: Classifies, name: str, images: Any, labels: Tensor, views: ViewConfig,
                     batch_size: int = 1024) -> dict[str, float]:
    """:func:`classifier_metrics` on a further test set, named after it: ``NAME_top1_accuracy``,
    ``NAME_top5_accuracy`` (with >= 5 classes) and ``NAME_loss`` (``imagenet_top1_accuracy``, ...)."""
    m = classifier_metrics(method, images, labels, views, batch_size)
    keys = {"test_accuracy": "top1_accuracy", "test_top5_accuracy": "top5_accuracy", "test_loss": "loss"}
    return {f"{name}_{keys[k]}": v for k, v in m.items()}


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
        votes = knn_votes(z_test[start:start + 1024], z_train, train_labels, num_classes, k=k,
                          temperature=temperature)
        correct += int((votes.argmax(1) == test_labels[start:start + 1024]).sum())
    return correct / max(1, len(z_test))
