"""Every training option, declared once: its type, default, allowed values, help and group.

The command line's flags (``cli``), the keys of a ``--config`` YAML and of a run's config.yaml, the
checks of :func:`noisylabels.config.validate_config` and the README's option table all come from
:data:`TRAIN_OPTIONS`. A leaf module: it imports nothing of the package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

GROUPS: dict[str, str] = {
    "data": "the training data: where it comes from, how it is split, decoded and augmented",
    "noise": "the training labels: generated noise or your own labels",
    "method": "the method and its network",
    "optimisation": "epochs, batches and the learning-rate schedule (SGD, warm-up then cosine)",
    "run": "seeds, devices and the run itself",
}


@dataclass(frozen=True)
class TrainOption:
    """One option of ``noisylabels train``: flag ``--name-with-dashes``, YAML key ``name``.

    ``type`` is the value's type (``str``, ``int``, ``float`` or ``bool``); a number lies within
    ``low``..``high`` (each end open where ``low_open``/``high_open``, ``None``: unbounded); a word
    option with ``choices`` takes only those (a ``bool`` with ``choices`` takes true/false or those
    words); ``nullable`` allows None, which means ``default_text``. ``commands`` lists the
    subcommands that have the flag; ``required`` those whose command line must give it (a key of a
    ``--config`` YAML counts), although the library keeps ``default``."""

    name: str
    type: type
    default: Any
    help: str
    group: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False
    default_text: str | None = None
    metavar: str | None = None
    commands: tuple[str, ...] = ("train",)
    required: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        """The command line's spelling, also used in every error message about the option."""
        return "--" + self.name.replace("_", "-")

    def shown_default(self) -> str:
        """The default as help and the README show it."""
        if self.default_text is not None:
            return self.default_text
        if isinstance(self.default, bool):
            return "on" if self.default else "off"
        if self.default is None:
            return "none"
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return str(self.default)

    def accepts(self) -> str:
        """The values the check takes, in words."""
        if self.choices:
            return ", ".join(self.choices)
        if self.type is bool:
            return "true/false"
        if self.type is int:
            if self.high is None:
                return f"whole number >= {self.low:.0f}" if self.low is not None else "whole number"
            return f"whole number in {self.low:.0f}..{self.high:.0f}"
        if self.type is float:
            return f"number in {interval(self)}"
        return "text"


def interval(option: TrainOption) -> str:
    """``option``'s range as ``[low, high)``-style text (unbounded ends as -inf/inf)."""
    low = -math.inf if option.low is None else option.low
    high = math.inf if option.high is None else option.high
    return f"{'(' if option.low_open else '['}{low:g}, {high:g}{')' if option.high_open else ']'}"


_DATA_COMMANDS = ("noise", "train", "detect")  # the flags that choose the data and its labels

TRAIN_OPTIONS: tuple[TrainOption, ...] = (
    TrainOption("dataset", str, "digits", "digits | fashion-mnist | cifar10 | cifar100 | folder:PATH | csv:PATH | "
                "npz:PATH | webvision:ROOT (mini-WebVision) | clothing1m:ROOT", "data", commands=_DATA_COMMANDS,
                required=("noise", "train"), metavar="SRC"),
    TrainOption("data_dir", str, None, "folder holding the dataset files", "data", nullable=True,
                default_text="the dataset's own; fashion-mnist: /usr/share/datasets/fashion-mnist",
                commands=_DATA_COMMANDS, metavar="DIR"),
    TrainOption("train_size", int, None, "the first N of numpy.random.default_rng(0).permutation (the benchmark "
                "protocols' subset rule)", "data",
                low=1, nullable=True, default_text="every training sample", commands=_DATA_COMMANDS, metavar="N"),
    TrainOption("test_data", str, None, "evaluation source for data without a test split (same formats)", "data",
                nullable=True, default_text="the dataset's test split, or a held-out part", commands=_DATA_COMMANDS,
                metavar="SRC"),
    TrainOption("test_fraction", float, 0.1, "stratified held-out fraction when there is no test data", "data",
                low=0.0, high=1.0, low_open=True, high_open=True, commands=_DATA_COMMANDS, metavar="X"),
    TrainOption("imagenet_val", str, None, "webvision: only: also evaluate on ImageNet's validation images of the 50 "
                "classes (ROOT: LOC_val_solution.csv + JPEGs, or val/SYNSET/ folders); reports "
                "imagenet_top1_accuracy / imagenet_top5_accuracy", "data", nullable=True, metavar="ROOT"),
    TrainOption("image_size", int, None, "square side in px that file images are decoded at", "data", low=8,
                high=4096, nullable=True, default_text="folder:/csv: 32, webvision:/clothing1m: 224, --weights: the "
                "network's input size", commands=_DATA_COMMANDS, metavar="PX"),
    TrainOption("skip_bad_images", bool, False, "leave unreadable image files out (listed in RUN/skipped_images.txt) "
                "instead of stopping", "data", commands=_DATA_COMMANDS),
    TrainOption("stream", str, "auto", "file images: decode on the fly from disk (on), all into memory (off), or by "
                "size (auto)", "data", choices=("auto", "on", "off"), commands=_DATA_COMMANDS),
    TrainOption("noise", str, "none", "none | symmetric | symmetric-exclusive | asymmetric | pairflip | instance | "
                "lookalike | file:PATH", "noise", commands=_DATA_COMMANDS, metavar="NAME"),
    TrainOption("noise_rate", float, None, "noise rate r", "noise", low=0.0, high=1.0, nullable=True,
                default_text="required with generated noise", commands=_DATA_COMMANDS, metavar="R"),
    TrainOption("method", str, "ce", "the training method ('noisylabels train --help' lists them)", "method",
                metavar="M"),
    TrainOption("backbone", str, "auto", "auto | small-cnn | preact-resnet18 | resnet18 | resnet34 | resnet50 | "
                "inception-resnet-v2 | timm:NAME (with timm installed)", "method",
                default_text="auto: preact-resnet18 on CUDA, small-cnn on CPU", metavar="NAME"),
    TrainOption("width", int, None, "backbone base width", "method", low=1, high=1024, nullable=True,
                default_text="small-cnn 16, resnet 64", metavar="W"),
    TrainOption("epochs", int, 20, "training epochs", "optimisation", low=1, metavar="E"),
    TrainOption("batch_size", int, 128, "samples per step (over all processes); an epoch of fewer than 8 full "
                "batches trains on batches of N // 8, 16 at least (a note says so)", "optimisation", low=2, metavar="B"),
    TrainOption("epoch_samples", int, None, "each epoch draws N samples afresh (at most all)", "optimisation", low=2,
                nullable=True, default_text="every sample once", metavar="N"),
    TrainOption("class_balanced", bool, False, "each epoch takes at most an equal share of its samples from each given "
                "class (DivideMix's Clothing1M epochs, with --epoch-samples)", "optimisation"),
    TrainOption("lr", float, 0.05, "peak learning rate of SGD", "optimisation", low=0.0, low_open=True, high_open=True,
                metavar="LR"),
    TrainOption("momentum", float, 0.9, "SGD momentum", "optimisation", low=0.0, high=1.0, high_open=True,
                metavar="X"),
    TrainOption("weight_decay", float, 5e-4, "SGD weight decay", "optimisation", low=0.0, high_open=True,
                metavar="X"),
    TrainOption("lr_warmup_epochs", float, 0.0, "linear LR warm-up length in epochs (at most --epochs)",
                "optimisation", low=0.0, high_open=True, metavar="X"),
    TrainOption("final_lr_ratio", float, 0.0, "cosine decays to lr x this", "optimisation", low=0.0, high=1.0,
                metavar="X"),
    TrainOption("seed", int, 0, "run seed; also seeds the noise", "run", low=0, high=2**32 - 1,
                commands=_DATA_COMMANDS, metavar="S"),
    TrainOption("device", str, "auto", "auto | cpu | cuda", "run", default_text="auto: CUDA when present"),
    TrainOption("flip", bool, "auto", "horizontal flips of the training views", "data",
                choices=("auto", "true", "false"), default_text="auto: off for digits, on otherwise",
                metavar="auto|true|false"),
    TrainOption("crop_pad", int, None, "weak-view crop padding in px", "data", low=0, nullable=True,
                default_text="side/8", metavar="PX"),
    TrainOption("pretrained", str, None, "initialise the encoder from a finished run folder (e.g. a simclr run)",
                "method", nullable=True, metavar="RUN"),
    TrainOption("weights", str, None, "initialise the encoder from a local state dict (.pth/.pt, optionally under "
                "'state_dict' or 'model', 'module.' prefix allowed; .safetensors): torchvision's ResNets, timm's "
                "inception_resnet_v2; ImageNet normalisation and input size by default; never downloads", "method",
                nullable=True, metavar="FILE"),
    TrainOption("freeze_encoder", bool, False, "keep the --weights/--pretrained encoder fixed (weights and BN "
                "statistics): a linear probe; --head-epochs N probes for N epochs, then fine-tunes", "method"),
    TrainOption("exclude", str, None, "file of samples to leave out of training (excluded.txt of apply-review: an "
                "index column, and a path column for file sources; or one index a line)", "data", nullable=True,
                metavar="FILE"),
    TrainOption("labels", str, None, "your own labels for the training samples, in place of the dataset's "
                "(corrected_labels.csv of apply-review): a CSV keyed by path or index with a label column; their "
                "truth is unknown, so no detection figures are computed against them", "noise", nullable=True,
                metavar="FILE"),
    TrainOption("sync_bn", bool, False, "with several processes on CUDA: batch-norm statistics over the global batch",
                "run"),
    TrainOption("precision", str, "auto", "arithmetic of the training steps and E-steps: bf16 autocast (auto: on "
                "CUDA and on CPUs with bf16 units, AVX512-BF16 or AMX) or fp32; views, contrastive similarities, "
                "class probabilities, test figures and the exported model stay fp32", "run",
                choices=("auto", "fp32", "bf16")),
    TrainOption("compile", bool, False, "torch.compile the encoder and heads for the training steps (E-step and "
                "evaluation stay eager); the first epoch pays the compilation", "run"),
)

OPTIONS_BY_NAME: dict[str, TrainOption] = {o.name: o for o in TRAIN_OPTIONS}


def option_defaults(options: Sequence[TrainOption] = TRAIN_OPTIONS) -> dict[str, Any]:
    """Each option's default, by name, in declaration order."""
    return {o.name: o.default for o in options}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(options: Sequence[TrainOption] = TRAIN_OPTIONS) -> str:
    """The README's table of training options: one row per option, by group, in declaration order."""
    rows = ["| Group | Flag | YAML key | Default | Accepts | Meaning |", "|---|---|---|---|---|---|"]
    for group in GROUPS:
        for o in options:
            if o.group == group:
                default = "required" if o.required else o.shown_default()
                rows.append(f"| {group} | `{o.flag}` | `{o.name}` | {_cell(default)} | {_cell(o.accepts())} | "
                            f"{_cell(o.help)} |")
    return "\n".join(rows) + "\n"
