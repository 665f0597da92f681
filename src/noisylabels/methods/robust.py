"""Robust-loss baselines on the weak view: GCE, SCE, NCE+RCE, NFL+RCE, and ELR.

Each is :class:`~noisylabels.methods.standard.CrossEntropy` with another loss (one
method per loss, small parts). Defaults are the CIFAR-10 values of the papers (and of
of the contrastive framework paper, Ciortan et al. 2021, for NFL+RCE and ELR).
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .. import losses
from ..data.augment import weak_view
from .base import TrainData
from .standard import CrossEntropy, SupervisedOptions


@dataclass
class GCEOptions(SupervisedOptions):
    """q: GCE exponent (Zhang & Sabuncu 2018: 0.7)."""

    q: float = 0.7


class GCE(CrossEntropy[GCEOptions]):
    name = "gce"
    Options = GCEOptions

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        return losses.generalized_cross_entropy(logits, targets, self.options.q)


@dataclass
class ActivePassiveOptions(SupervisedOptions):
    """alpha x active loss + beta x passive loss (RCE); CIFAR-10 values. gamma: focal exponent (NFL).
    rce_log_zero: RCE's A = log 0 stand-in (default log(1e-4) = -9.21, the SCE and APL authors' code;
    the SCE paper's A is -4). focal_detach: NFL's focal factors are constants for the gradient (true,
    the APL authors' code; false: the paper's formula differentiated throughout)."""

    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 0.5
    rce_log_zero: float = math.log(1e-4)
    focal_detach: bool = True


@dataclass
class SCEOptions(ActivePassiveOptions):
    """SCE: alpha CE + beta RCE (Wang et al. 2019, CIFAR-10: alpha 0.1, beta 1)."""

    alpha: float = 0.1


class SCE(CrossEntropy[SCEOptions]):
    name = "sce"
    Options = SCEOptions

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        o = self.options
        return losses.symmetric_cross_entropy(logits, targets, o.alpha, o.beta,
                                              o.rce_log_zero)


class NCERCE(CrossEntropy[ActivePassiveOptions]):
    """Active-passive loss NCE + RCE (Ma et al., ICML 2020)."""

    name = "nce-rce"
    Options = ActivePassiveOptions

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        o = self.options
        return (o.alpha * losses.normalized_cross_entropy(logits, targets)
                + o.beta * losses.reverse_cross_entropy(logits, targets, o.rce_log_zero))


class NFLRCE(CrossEntropy[ActivePassiveOptions]):
    """Active-passive loss NFL + RCE (Ma et al., ICML 2020); gamma 0.5."""

    name = "nfl-rce"
    Options = ActivePassiveOptions

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        o = self.options
        nfl = losses.normalized_focal_loss(logits, targets, o.gamma, o.focal_detach)
        return o.alpha * nfl + o.beta * losses.reverse_cross_entropy(
            logits, targets, o.rce_log_zero)


@dataclass
class ELROptions(SupervisedOptions):
    """ELR (Liu et al., NeurIPS 2020): target momentum beta and weight lambda (CIFAR-10: 0.7, 3;
    CIFAR-100: 0.9, 7)."""

    elr_beta: float = 0.7
    elr_lambda: float = 3.0


class ELR(CrossEntropy[ELROptions]):
    """CE + lambda mean log(1 - <t_i, p_i>) with per-sample running targets t_i (a buffer, checkpointed)."""

    name = "elr"
    Options = ELROptions
    step_buffers = (*CrossEntropy.step_buffers, "targets")

    def __init__(self, encoder: nn.Module, num_classes: int, num_train: int, options: ELROptions) -> None:
        super().__init__(encoder, num_classes, num_train, options)
        self.register_buffer("targets", torch.zeros(num_train, num_classes))

    def training_step(
        self, idx: Tensor, epoch: int, data: TrainData, gen: torch.Generator,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        o = self.options
        x = weak_view(data.images[idx], data.views, gen)
        y = data.labels[idx]
        logits = self.forward_train(x, epoch).float()
        self.record_margins(idx, logits, y)
        with torch.no_grad():
            p = losses.elr_probs(logits)
            self.targets[idx] = o.elr_beta * self.targets[idx] + (1 - o.elr_beta) * p
        ce = F.cross_entropy(logits, y)
        reg = losses.elr_regularizer(logits, self.targets[idx])
        loss = ce + o.elr_lambda * reg
        acc = (logits.argmax(1) == y).float().mean()
        return loss, {"loss": loss.detach(), "loss_ce": ce.detach(), "loss_elr": reg.detach(),
                      "train_acc_given": acc.detach()}


ROBUST_METHODS = (GCE, SCE, NCERCE, NFLRCE, ELR)
