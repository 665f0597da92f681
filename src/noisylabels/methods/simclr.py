"""SimCLR: unsupervised contrastive pre-training on the training images alone (Chen et al., ICML 2020).

Phase (a1) of the contrastive framework of Ciortan et al. 2021:
NT-Xent between two strong views (RandomResizedCrop 0.2..1, colour jitter p=0.8, grayscale p=0.2,
flip; no solarize), projection head d-d-ReLU-128, temperature 0.5. Labels are never used for
training. The monitor is a kNN classifier on the test set with the TRAINING features as memory
(voting with the given labels), not the test set itself (a defect of the public code).

The run's checkpoint holds ``encoder.*``: pass the run folder as ``--pretrained`` to any classifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .. import losses
from ..distributed import gather_with_grad
from ..data.augment import strong_view
from ..data.store import ImageStore
from ..labelquality import LabelIssues
from ..inference import knn_accuracy, map_images
from .base import Method, MethodOptions, TrainData


@dataclass
class SimCLROptions(MethodOptions):
    """temperature: NT-Xent temperature (framework code: 0.5); proj_dim: projection output (128)."""

    temperature: float = 0.5
    proj_dim: int = 128


CO = TypeVar("CO", bound=MethodOptions)


class TwoViewContrastive(Method[CO]):
    """Encoder and projection head d-d-ReLU-``proj_dim`` on two strong views of each sample, no classifier;
    the kNN monitor as test accuracy. The losses are the subclasses' (SimCLR, weighted SupCon)."""

    has_classifier = False

    def __init__(self, encoder: nn.Module, num_classes: int, num_train: int, options: CO, proj_dim: int) -> None:
        super().__init__(encoder, num_classes, num_train, options)
        d = encoder.feature_dim
        self.encoder = encoder
        self.projector = nn.Sequential(nn.Linear(d, d), nn.ReLU(inplace=True), nn.Linear(d, proj_dim))

    def embed_two_views(self, idx: Tensor, data: TrainData, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """Two strong views of samples ``idx`` -> their L2-normalised projections z1, z2 (B, proj_dim)."""
        u8 = data.images[idx]
        x = torch.cat([strong_view(u8, data.views, gen, solarize_p=0.0),
                       strong_view(u8, data.views, gen, solarize_p=0.0)])
        z = F.normalize(self.projector(self.encoder(x)).float(), dim=1)
        z1, z2 = z.chunk(2)
        return z1, z2

    def memory_labels(self, data: TrainData) -> Tensor:
        """The labels the kNN monitor's training memory votes with (N,)."""
        return data.labels

    @torch.no_grad()
    def features(self, images: Tensor | ImageStore, data: TrainData, batch_size: int = 1024) -> Tensor:
        """L2-normalised encoder features (N, d) of un-augmented images, eval mode."""
        return map_images(self, lambda x: (F.normalize(self.encoder(x).float(), dim=1),), images, data.views,
                          batch_size)[0]

    def evaluate(self, data: TrainData) -> dict[str, float]:
        """kNN accuracy (k=200, t=0.1) of test features against training features; it is also the
        run's test_accuracy, as SimCLR has no classifier."""
        acc = knn_accuracy(self.features(data.test_images, data), data.test_labels,
                           self.features(data.images, data), self.memory_labels(data), self.num_classes)
        return {"test_accuracy": acc, "knn_accuracy": acc}

    def label_issues(self, data: TrainData, probs: Tensor, z: Tensor | None,
                     count_probs: np.ndarray | None = None) -> LabelIssues:
        raise NotImplementedError("SimCLR trains no classifier and flags no labels")


class SimCLR(TwoViewContrastive[SimCLROptions]):
    """NT-Xent between the two strong views (all ranks' samples are negatives)."""

    name = "simclr"
    Options = SimCLROptions

    def __init__(self, encoder: nn.Module, num_classes: int, num_train: int, options: SimCLROptions) -> None:
        super().__init__(encoder, num_classes, num_train, options, options.proj_dim)

    def training_step(
        self, idx: Tensor, epoch: int, data: TrainData, gen: torch.Generator,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        z1, z2 = self.embed_two_views(idx, data, gen)
        loss = losses.info_nce(gather_with_grad(z1), gather_with_grad(z2), self.options.temperature)
        return loss, {"loss": loss.detach()}
