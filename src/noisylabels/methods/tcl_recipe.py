"""TCL's recipes (``--recipe``): ``tuned``, our defaults for short runs on one device, and ``paper``, every
switchable setting as the official code (github.com/Hzzone/TCL) and its CIFAR configs have it
(Huang et al., CVPR 2023; README "TCL", the table of what still differs).

A recipe fills in the method options left unset (None): a value the user gives always wins, and the
training options (batch size, lr, ...) it sets are defaults the user's own values override too.
Official sources of the ``paper`` values (paths in that repository):

* ``models/tcl/configs/cifar10_20_prer18.yml`` and ``cifar10_90_prer18.yml`` (identical but for the label
  file): batch_size 256 on num_devices 4, learning_rate 0.03, learning_eta_min 0.01, weight_decay 0.001,
  epochs 200, warmup_epochs 20, feat_dim 256, temp 0.25, mixup_alpha 1.0, resized_crop_scale 0.2,
  syncbn true; scale1, scale2 and sep_gmm unset.
* ``models/tcl/configs/cifar100_90_prer18.yml``: the same, and sep_gmm true, scale2 1.0 (the repository's
  only CIFAR-100 config; its values serve every CIFAR-100 run).
* ``models/basic_template.py``: lr x total batch / 256 (0.12 at 4 x 256); momentum 0.9; the cosine of
  ``cosine_annealing_LR`` (progress over all epochs); amp off (fp32).
* ``models/tcl/tcl.py``: SGD over every parameter with the weight decay; unset scales become the estimated
  clean ratio; the free 2-component GMM of ``noise_detect``; the strong views (ColorJitter(0.4, 0.4, 0.4,
  0.1) p 0.8, RandomGrayscale 0.2, RandomSolarize(128) p 0.5); warm-up while ``cur_epoch < warmup_epochs``.
* ``models/tcl/tcl_wrapper.py``: only the strong and mixed views are classified (no weak-view term).
* ``models/tcl/tcl_plus.py`` with the defaults of ``basic_template.py`` (the repository has no TCL+
  config): batch 256, lr 0.05 x batch / 256 held constant, weight decay 1e-4 on every parameter,
  startLabelCorrection 30, fp32.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ..errors import UserError

TUNED, PAPER = "tuned", "paper"
RECIPES = (TUNED, PAPER)

# method options a recipe decides where the user left them unset; tuned: our defaults (TCLOptions explains each)
TUNED_OPTIONS: dict[str, Any] = {"scale1": 1.0, "scale2": 1.0, "per_class_gmm": False, "strong_crop_min": 0.35,
                                 "solarize": 0.0, "selection": "capped", "weight_weak": 1.0, "jitter": "fixed"}
_CIFAR10 = {"scale1": "auto", "scale2": "auto", "per_class_gmm": False, "strong_crop_min": 0.2, "solarize": 0.5,
            "selection": "gmm", "weight_weak": 0.0, "jitter": "torchvision", "feature_dim": 256}
# paper, by --dataset; any other dataset takes CIFAR-10's
PAPER_OPTIONS: dict[str, dict[str, Any]] = {"cifar10": _CIFAR10,
                                            "cifar100": {**_CIFAR10, "per_class_gmm": True, "scale2": 1.0}}

PAPER_EPOCHS = 200
PAPER_BATCH = 1024  # 256 per GPU on 4 GPUs: our --batch-size is the global batch
PAPER_LR_PER_256 = 0.03  # lr = 0.03 x batch / 256: 0.12 at 1,024
PAPER_FIT: dict[str, Any] = {"weight_decay": 1e-3, "momentum": 0.9, "final_lr_ratio": 0.01, "sync_bn": True}
# FitConfig behaviours of the official training loop: decay on every parameter, its cosine, fp32
PAPER_FIT_SETTINGS: dict[str, Any] = {"decay_all": True, "cosine_all_steps": True, "autocast": False}

PLUS_PAPER_BATCH = 256
PLUS_PAPER_LR_PER_256 = 0.05
PLUS_PAPER_FIT: dict[str, Any] = {"weight_decay": 1e-4, "momentum": 0.9, "final_lr_ratio": 1.0, "lr_warmup_epochs": 0.0}
PLUS_PAPER_START_LABEL_CORRECTION = 30


def check_recipe(value: Any) -> str:
    """``value`` if it names a recipe, else a one-line UserError naming the choices."""
    if value not in RECIPES:
        raise UserError(f"--recipe must be one of {', '.join(RECIPES)}, got {value!r}")
    return str(value)


def recipe_options(options: Mapping[str, Any], dataset: str | None) -> dict[str, Any]:
    """TCL's ``options`` (every field) with each option its recipe decides and the user left unset (None)
    filled in: tuned from :data:`TUNED_OPTIONS`, paper from :data:`PAPER_OPTIONS` of ``dataset`` (CIFAR-10's
    for any other or None)."""
    recipe = check_recipe(options.get("recipe", TUNED))
    table = TUNED_OPTIONS if recipe == TUNED else PAPER_OPTIONS.get(dataset or "", _CIFAR10)
    return {**options, **{k: v for k, v in table.items() if options.get(k) is None}}


def paper_warmup_epochs(epochs: int) -> int:
    """The official warm-up, 20 of 200 epochs, at the same share of a run of ``epochs``: round(epochs / 10)."""
    return math.floor(epochs / 10 + 0.5)


def scaled_lr(per_256: float, batch: int, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Batch size ``batch`` and the official lr rule, lr = per_256 x batch / 256 (``basic_template.py``), at
    the user's --batch-size where ``given`` holds one (which then overrides ``batch`` as well)."""
    if given is not None and given.get("batch_size") is not None:
        return {"batch_size": batch, "lr": per_256 * int(given["batch_size"]) / 256}
    return {"batch_size": batch, "lr": per_256 * batch / 256}
