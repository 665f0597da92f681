"""Weighted supervised contrastive learning on pseudo-labels (Ciortan et al. 2021, phase b2).

SimCLR's two strong views and projection head d-d-ReLU-128, trained with
:func:`~noisylabels.losses.weighted_supcon` over the pseudo-labels y^, each positive weighted by its
clean probability w (phase b1). The framework sets the buffers ``pseudo_labels`` and ``weights``
(checkpointed) before training. The kNN monitor's training memory votes with y^.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from .. import losses
from ..distributed import gather_equal, gather_with_grad
from ..errors import UserError
from .base import MethodOptions, TrainData
from .simclr import TwoViewContrastive


@dataclass
class SupConOptions(MethodOptions):
    """supcon_temperature: 0.07 (SupCon); supcon_variant: "poster" (the poster's formula: -log of the
    w-weighted mean probability of the positives, twin weight 1) or "code" (the public code's w-weighted
    mean of log-probabilities); proj_dim: projection output (128)."""

    supcon_temperature: float = 0.07
    supcon_variant: str = "poster"
    proj_dim: int = 128


class WeightedSupCon(TwoViewContrastive[SupConOptions]):
    """Weighted SupCon between the two strong views over the pseudo-labels (phase b2)."""

    name = "weighted-supcon"
    Options = SupConOptions

    def __init__(self, encoder: nn.Module, num_classes: int, num_train: int, options: SupConOptions) -> None:
        if options.supcon_variant not in ("poster", "code"):
            raise UserError(f"--supcon-variant must be poster or code, got {options.supcon_variant!r}")
        super().__init__(encoder, num_classes, num_train, options, options.proj_dim)
        self.register_buffer("pseudo_labels", torch.zeros(num_train, dtype=torch.int64))
        self.register_buffer("weights", torch.ones(num_train))

    def training_step(
        self, idx: Tensor, epoch: int, data: TrainData, gen: torch.Generator,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        o = self.options
        z1, z2 = self.embed_two_views(idx, data, gen)
        loss = losses.weighted_supcon(gather_with_grad(z1), gather_with_grad(z2), gather_equal(self.pseudo_labels[idx]),
                                      gather_equal(self.weights[idx]), o.supcon_temperature, variant=o.supcon_variant)
        return loss, {"loss": loss.detach()}

    def memory_labels(self, data: TrainData) -> Tensor:
        return self.pseudo_labels
