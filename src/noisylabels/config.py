"""A run's options: their defaults, and the one check of their types and ranges.

Each option is declared once in :mod:`noisylabels.options`; the defaults, the checks and the typed record
(:class:`RunConfig`) here come from those declarations.

Errors name the command line's flags (``--noise-rate``): these checks run at the edge, on the merged
configuration of defaults, a --config YAML, a bench --set and flags, before anything is built or written.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from .data.noise import resolve_rate
from .errors import UserError
from .methods import Method, get_method
from .models.weights import check_weights_path
from .options import TRAIN_OPTIONS, TrainOption, option_defaults

TRAIN_DEFAULTS: dict[str, Any] = {**option_defaults(), "method_options": {}}


def resolve_method_options(method_cls: type[Method[Any]], given: dict[str, Any]) -> dict[str, Any]:
    """The method's option defaults updated by ``given``; unknown keys are a user error."""
    fields = {f.name: f for f in dataclasses.fields(method_cls.Options)}
    unknown = sorted((k for k in given if k not in fields), key=str)  # a YAML key may be a number or null
    if unknown:
        valid = ", ".join(sorted(fields)) or "none"
        names = ", ".join(k if isinstance(k, str) and k.isprintable() else repr(k) for k in unknown)
        raise UserError(f"method {method_cls.name!r} has no option(s) {names}; its options: {valid}")
    given = {k: _check_option(k, str(fields[k].type), v) for k, v in given.items() if v is not None}
    defaults = dataclasses.asdict(method_cls.Options())
    return {**defaults, **given}


# Method options whose range is the same in every method that has them: (low, high, low_open, high_open)
_OPTION_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "temperature": (0.0, math.inf, True, True), "supcon_temperature": (0.0, math.inf, True, True),
    "q": (0.0, 1.0, True, False), "mixup_alpha": (0.0, math.inf, True, True), "elr_beta": (0.0, 1.0, False, True),
    "ema": (0.0, 1.0, False, False), "high_th": (0.0, 1.0, False, False), "dropout": (0.0, 1.0, False, True),
    "pretrain_lr": (0.0, math.inf, True, True), "finetune_lr": (0.0, math.inf, True, True),
    "rce_log_zero": (-math.inf, 0.0, True, True),
}
_OPTION_MIN_INT = {"proj_dim": 1, "feature_dim": 1, "monitor_every": 1, "folds": 2, "gmm_last_epochs": 1,
                   "pretrain_epochs": 1, "finetune_epochs": 1}


def _check_option(name: str, kind: str, value: Any) -> Any:
    """A method option of annotation ``kind`` ('int', 'float | None', ...): its type, finiteness and,
    where every method agrees, its range; other values are each method's to check."""
    flag = _flag(name)
    if kind.startswith("bool"):
        if not isinstance(value, bool):
            raise UserError(f"{flag} must be true or false, got {value!r}")
        return value
    if kind.startswith("int"):
        return as_int(value, flag, _OPTION_MIN_INT.get(name, 0))
    if kind.startswith("float"):
        if kind.startswith("float | str") and isinstance(value, str):
            return value  # a word such as TCL's 'auto', checked by the method
        low, high, low_open, high_open = _OPTION_RANGES.get(name, (0.0, math.inf, False, True))
        return as_float(value, flag, low, high, low_open, high_open)
    return value


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def as_int(value: Any, what: str, low: int | None = None, high: int | None = None) -> int:
    """An integer option (an int, or text of one as ``int`` reads it: '7', ' +7 ', '1_000', '٣') within
    [low, high]; UserError naming the fix otherwise ('7.0', '²', '--7', '1e3' and a bool are refused)."""
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:  # no whole number, or over Python's 4300 digits
            raise UserError(f"{what} must be a whole number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UserError(f"{what} must be a whole number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"at least {low}" if high is None else f"in {low}..{high}"
        raise UserError(f"{what} must be {span}, got {value}")
    return int(value)


def as_float(value: Any, what: str, low: float = -math.inf, high: float = math.inf, low_open: bool = False,
             high_open: bool = False) -> float:
    """A finite number (or text of one) within the interval; UserError naming the fix otherwise."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise UserError(f"{what} must be a number, got {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond float's range (10**400 in a YAML file)
        value = math.inf if value > 0 else -math.inf
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if not math.isfinite(value) or below or above:
        span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise UserError(f"{what} must be a finite number in {span}, got {value}")
    return value


def check_option(option: TrainOption, value: Any) -> Any:
    """``value`` of ``option`` checked against its declaration (type, range, words) and normalised (text
    of a number to the number); UserError naming the option's flag otherwise."""
    flag = option.flag
    if value is None and option.nullable:
        return None
    if option.choices and not (option.type is bool and isinstance(value, bool)):
        if value not in option.choices:
            words = ", ".join(option.choices[:-1]) + " or " + option.choices[-1]
            raise UserError(f"{flag} must be {words}, got {value!r}")
        return value
    if option.type is bool:
        if not isinstance(value, bool):
            raise UserError(f"{flag} must be true or false, got {value!r}")
        return value
    if option.type is int:
        return as_int(value, flag, None if option.low is None else int(option.low),
                      None if option.high is None else int(option.high))
    if option.type is float:
        low = -math.inf if option.low is None else option.low
        high = math.inf if option.high is None else option.high
        return as_float(value, flag, low, high, option.low_open, option.high_open)
    if not isinstance(value, str) or not value:
        raise UserError(f"{flag} must be a non-empty text value, got {value!r}")
    return value


def validate_config(cfg: dict[str, Any]) -> None:
    """Check (and normalise in place) the type and range of every train option; raises UserError."""
    for option in TRAIN_OPTIONS:
        cfg[option.name] = check_option(option, cfg.get(option.name))
    if cfg.get("labels") and cfg["noise"] != "none":
        raise UserError(f"--labels {cfg['labels']} are your own labels; --noise {cfg['noise']} would replace them: give "
                        "one of the two (--noise file: for noisy labels whose truth is the dataset's labels)")
    if cfg["compile"] and not hasattr(torch.compiler, "set_stance"):  # before any data is read or written
        raise UserError(f"--compile needs torch >= 2.6 (torch.compiler.set_stance); this is torch {torch.__version__}: "
                        "upgrade torch or drop --compile")
    if not isinstance(cfg.get("method_options") or {}, dict):
        raise UserError(f"method_options must be a mapping of option: value, got {cfg.get('method_options')!r}")
    if cfg.get("weights") and cfg.get("pretrained"):
        raise UserError("give --weights FILE or --pretrained RUN, not both: each sets the encoder's starting weights")
    if cfg.get("weights"):
        check_weights_path(cfg["weights"])  # before any data is read
    if cfg.get("freeze_encoder") and not (cfg.get("weights") or cfg.get("pretrained")):
        raise UserError("--freeze-encoder needs --weights FILE or --pretrained RUN: a random encoder would stay random")
    if cfg.get("imagenet_val") and not cfg["dataset"].startswith("webvision:"):
        raise UserError(f"--imagenet-val is mini-WebVision's second test set (--dataset webvision:ROOT), not one "
                        f"for --dataset {cfg['dataset']}; drop it")
    if cfg["lr_warmup_epochs"] > cfg["epochs"]:
        raise UserError(f"--lr-warmup-epochs ({cfg['lr_warmup_epochs']:g}) must not exceed --epochs "
                        f"({cfg['epochs']}): the learning rate would never reach --lr")


def check_config(cfg: dict[str, Any]) -> None:
    """Resolve the noise rate (:func:`~noisylabels.data.noise.resolve_rate`), then check and normalise
    every option in place (:func:`validate_config`): ``train`` and ``noise`` alike; raises UserError."""
    cfg["noise_rate"] = resolve_rate(str(cfg["noise"]), cfg["noise_rate"])
    validate_config(cfg)


PATH_OPTIONS = ("data_dir", "imagenet_val", "pretrained", "weights", "exclude", "labels")  # a plain path each
SOURCE_OPTIONS = ("dataset", "test_data")  # KIND:PATH for file sources
SOURCE_KINDS = ("folder", "csv", "npz", "webvision", "clothing1m")


def absolute_paths(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``cfg`` with every path it names made absolute (against the current folder): the dataset's and
    test set's ``KIND:PATH``, ``--noise file:PATH[#key]`` and the plain path options, so that a saved run
    reads the same files from any folder (``--resume``, ``review``, ``apply-review``, ``detect --run``)."""
    out = dict(cfg)

    def absolute(p: str) -> str:
        return str(Path(p).expanduser().absolute())

    for key in PATH_OPTIONS:
        if isinstance(out.get(key), str) and out[key]:
            out[key] = absolute(out[key])
    for key in SOURCE_OPTIONS:
        kind, sep, rest = str(out.get(key) or "").partition(":")
        if sep and kind in SOURCE_KINDS and rest:
            out[key] = f"{kind}:{absolute(rest)}"
    noise = out.get("noise")
    if isinstance(noise, str) and noise.startswith("file:"):
        path, hash_, entry = noise[len("file:"):].partition("#")
        if not Path(noise[len("file:"):]).is_file() and hash_:
            out["noise"] = f"file:{absolute(path)}#{entry}"
        else:
            out["noise"] = f"file:{absolute(noise[len('file:'):])}"
    return out


@dataclass(frozen=True)
class RunConfig:
    """One run's options, typed and checked: built once at the edge by :meth:`from_dict` from the merged
    layers (defaults, the method's fit defaults, a --config YAML, a bench --set, flags), never mutated.
    :meth:`to_dict` gives the mapping that config.yaml holds. The fields are the declared options
    (:data:`~noisylabels.options.TRAIN_OPTIONS`), in their order and with their defaults, then the method's
    options: spelt out for the type checker, and kept equal to the declarations by a test."""

    dataset: str = "digits"
    data_dir: str | None = None
    train_size: int | None = None
    test_data: str | None = None
    test_fraction: float = 0.1
    imagenet_val: str | None = None
    image_size: int | None = None
    skip_bad_images: bool = False
    stream: str = "auto"
    noise: str = "none"
    noise_rate: float | None = None
    method: str = "ce"
    backbone: str = "auto"
    width: int | None = None
    epochs: int = 20
    batch_size: int = 128
    epoch_samples: int | None = None
    class_balanced: bool = False
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_warmup_epochs: float = 0.0
    final_lr_ratio: float = 0.0
    seed: int = 0
    device: str = "auto"
    flip: str | bool = "auto"
    crop_pad: int | None = None
    pretrained: str | None = None
    weights: str | None = None
    freeze_encoder: bool = False
    exclude: str | None = None
    labels: str | None = None
    sync_bn: bool = False
    precision: str = "auto"
    compile: bool = False
    method_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Keys outside the options above (``progress``, ...), carried along in their order."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "method_options", MappingProxyType(dict(self.method_options)))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> RunConfig:
        """Merge ``config`` over :data:`TRAIN_DEFAULTS` and the method's fit defaults, resolve the method's
        options and the noise rate, and check every option's type and range (UserError naming the flag)."""
        config = dict(config)
        validate_config({**TRAIN_DEFAULTS, **config})  # types first: the method's defaults read some options
        method_cls = get_method(config.get("method", TRAIN_DEFAULTS["method"]))
        options = resolve_method_options(method_cls, dict(config.get("method_options") or {}))
        epochs = as_int(config.get("epochs", TRAIN_DEFAULTS["epochs"]), "--epochs", 1)
        cfg = {**TRAIN_DEFAULTS, **method_cls.fit_defaults(options, epochs, given=config), **config,
               "method_options": options}
        check_config(cfg)
        return cls(**{k: v for k, v in cfg.items() if k in _RUN_FIELDS},
                   extra={k: v for k, v in cfg.items() if k not in _RUN_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        """The options as one plain mapping, in :data:`TRAIN_DEFAULTS` order, then :attr:`extra`."""
        out = {k: getattr(self, k) for k in _RUN_FIELDS}
        out["method_options"] = dict(self.method_options)
        return {**out, **self.extra}

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes`` (resolved values such as the backbone or the device)."""
        return dataclasses.replace(self, **changes)


_RUN_FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.name != "extra")  # TRAIN_DEFAULTS' order
