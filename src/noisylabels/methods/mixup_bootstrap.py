"""Mixup with dynamic hard bootstrapping (Arazo et al., ICML 2019, "M-DYR-H").

Before every epoch, the per-sample cross-entropy of the un-augmented training images against the given
labels is min-max normalised and a 2-component mixture gives each sample its clean probability w_i
(a Gaussian mixture, reg_covar 5e-4, where the paper fits a beta mixture). Each step mixes the weak
views (lambda ~ Beta(alpha, alpha)) and trains on the mixed bootstrapped targets
t_i = w_i onehot(y~_i) + (1 - w_i) onehot(argmax p(x_i)), with p from the un-mixed batch (no gradient),
plus the class-balance term KL(uniform || mean prediction of the mixed batch) that keeps the
bootstrapping from collapsing onto one class (the authors' code, weight 1).
The contrastive framework offers it as its alternative fine-tuning strategy (Ciortan et al. 2021).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .. import losses
from ..data.augment import mixup, weak_view
from ..detect import loss_clean_probability
from ..inference import predict_probs
from .base import TrainData
from .standard import CrossEntropy, SupervisedOptions


@dataclass
class MixupBootstrapOptions(SupervisedOptions):
    """mixup_alpha: Beta parameter (Arazo et al.: 32); bootstrap_warmup_epochs: epochs of plain mixup
    before bootstrapping starts (0 when starting from a trained classifier); weight_prior: weight of
    the class-balance term KL(uniform || mean prediction) while bootstrapping (the authors' runs: 1)."""

    mixup_alpha: float = 32.0
    bootstrap_warmup_epochs: int = 0
    weight_prior: float = 1.0


class MixupBootstrap(CrossEntropy[MixupBootstrapOptions]):
    name = "mixup-bootstrap"
    Options = MixupBootstrapOptions

    def __init__(self, encoder: nn.Module, num_classes: int, num_train: int, options: MixupBootstrapOptions) -> None:
        super().__init__(encoder, num_classes, num_train, options)
        self.register_buffer("clean_prob", torch.ones(num_train))

    def epoch_start(self, epoch: int, total_epochs: int, data: TrainData, gen: torch.Generator) -> dict[str, float]:
        o = self.options
        if epoch <= o.bootstrap_warmup_epochs:
            return {}
        probs = predict_probs(self, data.images, data.views).cpu().numpy()
        w = loss_clean_probability(probs, data.labels.cpu().numpy())
        self.clean_prob.copy_(torch.from_numpy(w).to(self.clean_prob))
        return {"noise_rate_estimated": float(np.mean(w < 0.5))}

    def training_step(
        self, idx: Tensor, epoch: int, data: TrainData, gen: torch.Generator,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        o = self.options
        x = weak_view(data.images[idx], data.views, gen)
        y = F.one_hot(data.labels[idx], self.num_classes).float()
        bootstrapping = epoch > o.bootstrap_warmup_epochs
        if bootstrapping:
            with torch.no_grad():
                pred = F.one_hot(self.model(x).argmax(1), self.num_classes).float()
            w = self.clean_prob[idx, None]
            y = w * y + (1 - w) * pred
        x_mix, perm, lam = mixup(x, gen, o.mixup_alpha)
        logits = self.forward_train(x_mix, epoch).float()
        loss = losses.soft_cross_entropy(logits, lam * y + (1 - lam) * y[perm])
        if bootstrapping and o.weight_prior:
            loss = loss + o.weight_prior * losses.uniform_prior_kl(torch.softmax(logits, 1))
        return loss, {"loss": loss.detach()}
