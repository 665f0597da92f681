"""The contrastive pre-training framework of Ciortan et al. 2021 (Data 6(6), 61).

Phases, each a separate training with its own SGD optimiser, cosine schedule and checkpoint
(``DIR/phase-<name>/checkpoint.pt``), chosen with ``--phases`` (a comma list):

- ``pretrain`` (a1): SimCLR on the training images alone (skipped when ``--pretrained RUN`` is given);
- ``classify`` (a2): the chosen loss (``--loss``) on the given labels, first the classifier head alone
  for ``head_epochs``, then the whole network; its final argmax on the un-augmented training images
  gives the pseudo-labels y^;
- ``finetune`` (b1-b3): per-sample CE against y^, min-max normalised per epoch and averaged over the
  last ``gmm_last_epochs`` epochs of a2 -> 2-component GMM -> w; weighted SupCon on (x, y^, w) from
  the a2 encoder (b2); final classification on (x, y^) with the same loss from the b2 encoder (b3).
  ``--finetune mixup-bootstrap`` replaces b2-b3 by mixup with dynamic bootstrapping from the a2 model.

Label quality (label_issues.csv): the detector every method shares (``Method.label_issues``) on the
final classifier's probabilities and its encoder's features, against the GIVEN labels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Generator, TypeVar

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from ..detect import loss_clean_probability
from ..errors import UserError
from ..schedule import FitConfig
from .base import Method, MethodOptions, Phase, Phases, TrainData
from .mixup_bootstrap import MixupBootstrap
from .robust import ROBUST_METHODS
from .simclr import SimCLR, SimCLROptions
from .standard import CrossEntropy
from .supcon import SupConOptions, WeightedSupCon

M = TypeVar("M")
LOSSES: dict[str, type[CrossEntropy[Any]]] = {m.name: m for m in (CrossEntropy, *ROBUST_METHODS)}
PHASES = ("pretrain", "classify", "finetune")
LOSS_OPTION_NAMES = ("q", "alpha", "beta", "gamma", "rce_log_zero", "focal_detach", "elr_beta", "elr_lambda")


@dataclass
class FrameworkOptions(MethodOptions):
    """loss: ce | gce | sce | nce-rce | nfl-rce | elr (phases a2 and b3); phases: comma list of
    pretrain, classify, finetune. pretrain_epochs / pretrain_lr: phase a1 (default: --epochs / --lr);
    temperature: NT-Xent temperature (0.5). head_epochs: epochs of head-only training at the start of a2
    and b3 (default max(1, epochs // 10) from a pre-trained encoder, 0 from scratch). gmm_last_epochs:
    epochs whose losses are averaged for the GMM (5). finetune: supcon | mixup-bootstrap;
    finetune_epochs / finetune_lr: each of b2 and b3 (default --epochs / --lr). monitor_every: the
    kNN monitor of a1 and b2 runs every k epochs and at the end (5; it costs more than an epoch on a CPU). The loss options
    (q, alpha, beta, gamma, rce_log_zero, focal_detach, elr_beta, elr_lambda) default to the chosen
    loss's own defaults."""

    loss: str = "ce"
    phases: str = "pretrain,classify,finetune"
    pretrain_epochs: int | None = None
    pretrain_lr: float | None = None
    temperature: float = 0.5
    head_epochs: int | None = None
    gmm_last_epochs: int = 5
    finetune: str = "supcon"
    finetune_epochs: int | None = None
    finetune_lr: float | None = None
    supcon_temperature: float = 0.07
    supcon_variant: str = "poster"
    mixup_alpha: float = 32.0
    monitor_every: int = 5
    q: float | None = None
    alpha: float | None = None
    beta: float | None = None
    gamma: float | None = None
    rce_log_zero: float | None = None
    focal_detach: bool | None = None
    elr_beta: float | None = None
    elr_lambda: float | None = None


def parse_phases(text: str) -> list[str]:
    """'pretrain,classify' -> ['pretrain', 'classify'] in pipeline order; a user error if invalid."""
    names = [p.strip() for p in str(text).split(",") if p.strip()]
    bad = [p for p in names if p not in PHASES]
    if bad or not names:
        raise UserError(f"--phases takes a comma list of {', '.join(PHASES)}; got {text!r}")
    if "finetune" in names and "classify" not in names:
        raise UserError("--phases finetune needs classify too (the pseudo-labels come from phase a2)")
    return [p for p in PHASES if p in names]


class Framework(Method[FrameworkOptions]):
    """Yields the phases (:meth:`phases`, trained by the engine); after them it behaves as its last classifier."""

    name = "framework"
    Options = FrameworkOptions

    def __init__(self, encoder: nn.Module, num_classes: int, num_train: int, options: FrameworkOptions) -> None:
        super().__init__(encoder, num_classes, num_train, options)
        if options.loss not in LOSSES:
            raise UserError(f"--loss must be one of {', '.join(LOSSES)}, got {options.loss!r}")
        if options.finetune not in ("supcon", "mixup-bootstrap"):
            raise UserError(f"--finetune must be supcon or mixup-bootstrap, got {options.finetune!r}")
        if options.supcon_variant not in ("poster", "code"):
            raise UserError(f"--supcon-variant must be poster or code, got {options.supcon_variant!r}")
        if options.gmm_last_epochs < 1:
            raise UserError(f"--gmm-last-epochs must be at least 1, got {options.gmm_last_epochs}")
        self.phase_names = parse_phases(options.phases)
        self.encoder = encoder
        self.classifier: CrossEntropy[Any] | None = None
        self.has_classifier = "classify" in self.phase_names

    # the phases' methods -------------------------------------------------------------------------
    def _loss_method(self, cls: type[CrossEntropy[Any]], epochs: int, pretrained: bool,
                     **extra: Any) -> CrossEntropy[Any]:
        o = self.options
        fields = {f.name for f in dataclasses.fields(cls.Options)}
        given = {k: getattr(o, k) for k in LOSS_OPTION_NAMES if k in fields and getattr(o, k) is not None}
        head = o.head_epochs if o.head_epochs is not None else (max(1, epochs // 10) if pretrained else 0)
        options = dataclasses.replace(cls.Options(), **given, **extra, head_epochs=head,
                                      record_probs_epochs=min(o.gmm_last_epochs, epochs))
        return cls(self.encoder, self.num_classes, self.num_train, options)

    def phases(self, data: TrainData, cfg: FitConfig, *, pretrained: bool,
               log: Callable[[str], None]) -> Phases:
        """The chosen phases in order (each trained by the engine before the next is built); returns
        the pseudo-label statistics for the summary."""
        o = self.options
        device = data.device
        extra: dict[str, Any] = {}
        simclr: SimCLR | None = None
        if "pretrain" in self.phase_names and pretrained:
            log("phase pretrain: skipped, the encoder comes from --pretrained")
        elif "pretrain" in self.phase_names:
            simclr = self._seeded(cfg, 1, lambda: SimCLR(self.encoder, self.num_classes, self.num_train,
                                                         SimCLROptions(temperature=o.temperature)))
            yield Phase("pretrain", simclr.to(device), data,
                        _with(cfg, o.pretrain_epochs, o.pretrain_lr, eval_every=o.monitor_every))
            pretrained = True
        if "classify" in self.phase_names:
            clf = self._seeded(cfg, 2, lambda: self._loss_method(LOSSES[o.loss], cfg.epochs, pretrained))
            yield Phase("classify", clf.to(device), data, cfg)
            self.classifier = clf
        if "finetune" in self.phase_names:
            assert self.classifier is not None
            ft = _with(cfg, o.finetune_epochs, o.finetune_lr)
            if o.finetune == "supcon":
                self.classifier = yield from self._supcon_then_classify(data, cfg, ft, simclr, extra)
            else:
                mb = self._seeded(cfg, 3, lambda: self._loss_method(MixupBootstrap, ft.epochs, True,
                                                                    mixup_alpha=o.mixup_alpha))
                mb.model.fc.load_state_dict(self.classifier.model.fc.state_dict())
                yield Phase("mixup-bootstrap", mb.to(device), data, ft)
                self.classifier = mb
        return extra

    def _supcon_then_classify(self, data: TrainData, cfg: FitConfig, ft: FitConfig, a1: SimCLR | None,
                              extra: dict[str, Any]) -> Generator[Phase, None, CrossEntropy[Any]]:
        """Phases b1 (GMM on the a2 losses against y^), b2 (weighted SupCon) and b3 (classification on y^).
        b2 continues phase a1's projection head when a1 ran in this run, as the public code does (with
        --pretrained the head starts new: only the encoder is carried over). Adds the pseudo-label
        statistics to ``extra``; returns the b3 classifier."""
        o = self.options
        a2 = self.classifier
        assert a2 is not None
        history = a2.recent_probs.cpu().numpy()
        pseudo = history[-1].argmax(1)
        w = loss_clean_probability(history, pseudo)
        extra["pseudo_label_clean_estimated"] = float(np.mean(w >= 0.5))
        extra["pseudo_label_changed"] = float(np.mean(pseudo != data.labels.cpu().numpy()))
        if data.true_labels is not None:
            extra["pseudo_label_accuracy_vs_truth"] = float(np.mean(pseudo == data.true_labels.cpu().numpy()))
        sc_options = SupConOptions(supcon_temperature=o.supcon_temperature, supcon_variant=o.supcon_variant)
        sc = self._seeded(cfg, 3, lambda: WeightedSupCon(self.encoder, self.num_classes, self.num_train, sc_options))
        if a1 is not None:
            sc.projector.load_state_dict(a1.projector.state_dict())
        sc.pseudo_labels.copy_(torch.from_numpy(pseudo))
        sc.weights.copy_(torch.from_numpy(w).float())
        yield Phase("supcon", sc.to(data.device), data, dataclasses.replace(ft, eval_every=o.monitor_every))
        relabelled = dataclasses.replace(data, labels=torch.from_numpy(pseudo).to(data.device))
        final = self._seeded(cfg, 4, lambda: self._loss_method(LOSSES[o.loss], ft.epochs, True))
        yield Phase("final", final.to(data.device), relabelled, ft)
        return final

    @staticmethod
    def _seeded(cfg: FitConfig, phase: int, build: Callable[[], M]) -> M:
        """Build a phase's method under a fixed seed, so new heads start the same after a resume."""
        torch.manual_seed(cfg.seed * 1000 + phase)
        return build()

    # the final classifier ------------------------------------------------------------------------
    def logits(self, x: Tensor) -> Tensor:
        if self.classifier is None:
            raise RuntimeError("the framework has no classifier before phase classify has run")
        return self.classifier.logits(x)

    def detection_embedding(self, x: Tensor) -> Tensor | None:
        return None if self.classifier is None else self.classifier.detection_embedding(x)


def _with(cfg: FitConfig, epochs: int | None, lr: float | None, **changes: Any) -> FitConfig:
    return dataclasses.replace(cfg, epochs=int(epochs or cfg.epochs), lr=float(lr or cfg.lr), **changes)
