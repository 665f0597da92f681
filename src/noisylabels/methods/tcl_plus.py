"""TCL+: the optional second stage of the official TCL code (``tcl_plus.py``; Huang et al., CVPR 2023).

Starts from a finished ``tcl`` run (``--init-from DIR``): samples whose largest context assignment
gamma exceeds ``high_th`` are relabelled with its argmax; then encoder + classifier are fine-tuned on
the weak view with mixup, and after ``start_label_correction`` epochs with hard bootstrapping
(weight 0.2) towards an EMA copy's predictions. The EMA copy is the model evaluated.

The EMA copy as the official code keeps it: every step, before the optimiser step, its parameters
move to m x EMA + (1 - m) x student (official m = 0: the student's weights); its buffers are its own,
never copied from the student: it runs in train mode with dropout off on the un-mixed weak batch every
step (label correction started or not), so its targets use that batch's statistics and its running
statistics, which evaluation uses, come from un-mixed images (the student's see mixed ones).

Declared differences of the default recipe (``tuned``) from the official ``tcl_plus.py``: label
correction starts after half the epochs when not given (official: a fixed 30 of its default 1,000); lr
0.03 and weight decay 1e-3 at batch 256, constant (the TCL config's per-256 values; official defaults
0.05 x batch / 256 and 1e-4); no weight decay on biases and norm layers, bf16 autocast on CUDA
(engine-wide). ``--recipe paper`` follows the code in each (:mod:`.tcl_recipe`). Either way the
relabelling recomputes the TCL run's context assignments with the same formula instead of reading its
stored buffer, and with several processes the EMA copy's norm statistics are averaged each epoch like
every module's.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..data.augment import mixup, weak_view
from ..detect import prototype_assignments
from ..errors import UserError
from ..models.heads import MLPClassifier, MLPProjector
from ..runs import CONFIG, RunFolder, sub_state
from ..inference import map_images
from .base import Method, MethodOptions, TrainData
from .tcl_recipe import (PAPER, PAPER_FIT_SETTINGS, PLUS_PAPER_BATCH, PLUS_PAPER_FIT, PLUS_PAPER_LR_PER_256,
                         PLUS_PAPER_START_LABEL_CORRECTION, TUNED, check_recipe, scaled_lr)

BOOTSTRAP_WEIGHT = 0.2  # official constant B


@dataclass
class TCLPlusOptions(MethodOptions):
    """init_from: run folder of a finished ``tcl`` run with the same data, noise and backbone.
    high_th: relabelling threshold on max_k gamma_ik [0.5]. ema: EMA momentum m of the evaluated copy's
    parameters [0: the student's weights every step; its norm statistics stay its own]. start_label_correction: epochs
    of plain mixup CE before bootstrapping; None = half the epochs (official: 30). temperature: tau of
    the context assignments; None = the tcl run's own (its config.yaml), else 0.25. recipe: "tuned"
    [default] or "paper": the official code's defaults (:mod:`.tcl_recipe`): batch 256, lr 0.05 x batch /
    256 held constant, weight decay 1e-4 on every parameter, fp32, label correction after 30 epochs
    unless given."""

    recipe: str = TUNED
    init_from: str | None = None
    high_th: float = 0.5
    mixup_alpha: float = 1.0
    ema: float = 0.0
    start_label_correction: int | None = None
    temperature: float | None = None
    dropout: float = 0.25


def read_tcl_run(init_from: str | None) -> tuple[dict[str, Tensor], float | None]:
    """The finished tcl run in folder ``init_from``: its method's state dict (checkpoint.pt) and the
    temperature it trained with (config.yaml; None where it kept the default)."""
    if not init_from:
        raise UserError("tcl-plus needs --init-from DIR, the run folder of a finished tcl run")
    tcl_run = RunFolder(init_from)
    state = tcl_run.load_checkpoint()["method"]
    temperature = (tcl_run.read_yaml(CONFIG).get("method_options") or {}).get("temperature")
    return state, None if temperature is None else float(temperature)


class TCLPlus(Method[TCLPlusOptions]):
    """Student ``model`` (encoder + classifier from the tcl run), its EMA copy (evaluated), the relabelling."""

    name = "tcl-plus"
    Options = TCLPlusOptions

    @classmethod
    def build(cls, encoder: nn.Module, num_classes: int, num_train: int, options: TCLPlusOptions) -> TCLPlus:
        """Read the tcl run of ``options.init_from`` (:func:`read_tcl_run`), then construct."""
        state, run_temperature = read_tcl_run(options.init_from)
        temperature = options.temperature if options.temperature is not None else (
            run_temperature if run_temperature is not None else 0.25)
        return cls(encoder, num_classes, num_train, options, tcl_state=state, temperature=temperature)

    def __init__(self, encoder: nn.Module, num_classes: int, num_train: int, options: TCLPlusOptions, *,
                 tcl_state: dict[str, Tensor], temperature: float) -> None:
        """tcl_state: the tcl run's method state dict (its encoder, classifier and projector start this
        method); temperature: tau of the context assignments (options.temperature or the run's own)."""
        options = TCLPlusOptions(**self.run_options(dataclasses.asdict(options), dataset=""))  # checks the recipe
        super().__init__(encoder, num_classes, num_train, options)
        self.temperature = float(temperature)
        self.model = nn.Sequential(encoder, MLPClassifier(encoder.feature_dim, num_classes, options.dropout))
        self._load_tcl(tcl_state)
        self.projector_state = sub_state(tcl_state, "projector.")
        self.ema_model = copy.deepcopy(self.model)
        for p in self.ema_model.parameters():
            p.requires_grad_(False)
        self.register_buffer("labels_corrected", torch.full((num_train,), -1, dtype=torch.long))
        self.epochs = 0

    def _load_tcl(self, state: dict[str, Tensor]) -> None:
        enc = sub_state(state, "encoder.")
        cls = sub_state(state, "classifier.")
        if not enc or not cls:
            raise UserError(f"{self.options.init_from} is not a tcl run (no encoder/classifier in its checkpoint)")
        if len(state.get("clean_prob", ())) != self.num_train:
            raise UserError(f"the tcl run in {self.options.init_from} was trained on another number of samples; "
                            "use the same --dataset, --train-size and --noise")
        try:
            self.model[0].load_state_dict(enc)
            self.model[1].load_state_dict(cls)
        except RuntimeError:
            raise UserError(f"the tcl run in {self.options.init_from} used another backbone; pass the same "
                            "--backbone and --width") from None

    @classmethod
    def fit_defaults(cls, options: dict[str, Any], epochs: int,
                     given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The repo keeps the learning rate constant during TCL+; paper: its defaults, lr 0.05 x batch / 256
        (of the batch in ``given`` where one is)."""
        if check_recipe(options.get("recipe", TUNED)) == PAPER:
            return {**scaled_lr(PLUS_PAPER_LR_PER_256, PLUS_PAPER_BATCH, given), **PLUS_PAPER_FIT}
        return {"batch_size": 256, "lr": 0.03, "weight_decay": 1e-3, "final_lr_ratio": 1.0}

    @classmethod
    def run_options(cls, options: Mapping[str, Any], *, dataset: str) -> dict[str, Any]:
        """Paper: label correction after the official 30 epochs unless given."""
        start = options.get("start_label_correction")
        if check_recipe(options.get("recipe", TUNED)) == PAPER and start is None:
            return {**options, "start_label_correction": PLUS_PAPER_START_LABEL_CORRECTION}
        return dict(options)

    def fit_settings(self) -> dict[str, Any]:
        """Paper: weight decay on every parameter and fp32 (its lr is constant: no cosine to follow)."""
        if self.options.recipe != PAPER:
            return {}
        return {k: v for k, v in PAPER_FIT_SETTINGS.items() if k != "cosine_all_steps"}

    def logits(self, x: Tensor) -> Tensor:
        return self.ema_model(x)

    @torch.no_grad()
    def _relabel(self, data: TrainData) -> dict[str, float]:
        """Context assignments of the TCL model (its projector, prototypes from its predictions);
        relabel where max_k gamma_ik > high_th."""
        o = self.options
        projector = MLPProjector(self.model[0].feature_dim, self.projector_state["net.3.weight"].shape[0])
        projector.load_state_dict(self.projector_state)
        projector.to(data.device).eval()
        def both(x: Tensor) -> tuple[Tensor, Tensor]:
            h = self.model[0](x)
            return projector(h).float(), torch.softmax(self.model[1](h).float(), dim=1)

        z, p = map_images(self.model, both, data.images, data.views)
        _, gamma = prototype_assignments(z, p, self.temperature)
        conf, arg = gamma.max(dim=1)
        corrected = torch.where(conf > o.high_th, arg, data.labels)
        self.labels_corrected.copy_(corrected)
        logs = {"relabelled_fraction": float((corrected != data.labels).float().mean())}
        if data.true_labels is not None:
            logs["corrected_label_accuracy"] = float((corrected == data.true_labels).float().mean())
        return logs

    def on_fit_start(self, total_epochs: int, data: TrainData) -> None:
        """The run's length: label correction starts after half of it unless given."""
        self.epochs = total_epochs

    def epoch_start(self, epoch: int, total_epochs: int, data: TrainData, gen: torch.Generator) -> dict[str, float]:
        """Relabel once, before the first epoch (``labels_corrected`` is checkpointed)."""
        if int(self.labels_corrected[0]) < 0:
            return self._relabel(data)
        return {}

    @torch.no_grad()
    def _ema_targets(self, x: Tensor) -> Tensor:
        """Hard targets (B,) of the EMA copy on the un-mixed weak views x (B, C, H, W): train mode with
        dropout off, as the official code, so its batch-norm statistics follow un-mixed images."""
        self.ema_model.train()
        for m in self.ema_model.modules():
            if isinstance(m, nn.Dropout):
                m.eval()
        return self.ema_model(x).argmax(1)

    def training_step(
        self, idx: Tensor, epoch: int, data: TrainData, gen: torch.Generator,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        o = self.options
        with torch.no_grad():
            for pe, pm in zip(self.ema_model.parameters(), self.model.parameters()):
                pe.mul_(o.ema).add_(pm.detach(), alpha=1 - o.ema)
        x = weak_view(data.images[idx], data.views, gen)
        z1 = self._ema_targets(x)
        y = self.labels_corrected[idx]
        x_mix, perm, lam = mixup(x, gen, o.mixup_alpha)
        logits = self.model(x_mix).float()
        ce_a, ce_b = F.cross_entropy(logits, y, reduction="none"), F.cross_entropy(logits, y[perm], reduction="none")
        start = o.start_label_correction if o.start_label_correction is not None else math.ceil(self.epochs / 2)
        if epoch <= start:
            loss = (lam * ce_a + (1 - lam) * ce_b).mean()
        else:
            b = BOOTSTRAP_WEIGHT
            loss = (lam * ((1 - b) * ce_a + b * F.cross_entropy(logits, z1, reduction="none"))
                    + (1 - lam) * ((1 - b) * ce_b + b * F.cross_entropy(logits, z1[perm], reduction="none"))).mean()
        return loss, {"loss": loss.detach()}
