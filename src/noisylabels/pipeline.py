"""One training run from a resolved configuration: data -> noise -> method -> engine -> run folder.

Everything that can fail on the user's input (data, noise, options, the output folder) is checked in
:func:`prepare` before anything is written, so bad input never touches an earlier run's outputs.
"""

from __future__ import annotations

import dataclasses
import math
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import distributed as ddp
from .data.augment import ViewConfig
from .data.dataset import ArrayDataset, DataSplits
from .data.noise import describe_noise, make_noisy_labels, noise_report, resolve_rate
from .data.sources import load_run_splits, true_labels_known
from .data.store import ImageStore
from .engine import TOP5_KEYS, train
from .errors import UserError
from .inference import predict_embeddings, predict_probs
from .issues import export_label_issues
from .methods import Method, TrainData, get_method
from .report import plot_curves
from .models.backbones import build_backbone
from .models.freeze import freeze_encoder
from .models.weights import check_weights_path, load_weights, pretrained_views, weights_input_size
from .schedule import FitConfig
from .runs import (CONFIG, FEATURES, NOISY_LABELS, PRED_PROBS, SKIPPED_IMAGES, SUMMARY, RunFolder, labels_sha256,
                   sub_state)

TRAIN_DEFAULTS: dict[str, Any] = {
    "dataset": "digits",
    "data_dir": None,
    "train_size": None,
    "test_data": None,
    "test_fraction": 0.1,
    "image_size": None,
    "skip_bad_images": False,
    "stream": "auto",
    "noise": "none",
    "noise_rate": None,
    "method": "ce",
    "backbone": "auto",
    "width": None,
    "epochs": 20,
    "batch_size": 128,
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "lr_warmup_epochs": 0.0,
    "final_lr_ratio": 0.0,
    "seed": 0,
    "device": "auto",
    "flip": "auto",
    "crop_pad": None,
    "pretrained": None,
    "weights": None,
    "freeze_encoder": False,
    "exclude": None,
    "sync_bn": False,
    "compile": False,
    "method_options": {},
}


@dataclass
class Prepared:
    """A validated run, ready to train: nothing has been written yet."""

    config: dict[str, Any]
    splits: DataSplits
    noisy: np.ndarray
    report: dict[str, Any]
    data: TrainData
    method: Method[Any]
    fit_config: FitConfig


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is a user error; in a data-parallel
    job, the device this rank was given."""
    if ddp.current().enabled:
        return torch.device(ddp.current().device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise UserError(f"--device must be auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu")
    return torch.device(name)


def resolve_method_options(method_cls: type[Method[Any]], given: dict[str, Any]) -> dict[str, Any]:
    """The method's option defaults updated by ``given``; unknown keys are a user error."""
    fields = {f.name: f for f in dataclasses.fields(method_cls.Options)}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        valid = ", ".join(sorted(fields)) or "none"
        raise UserError(f"method {method_cls.name!r} has no option(s) {', '.join(unknown)}; its options: {valid}")
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


def view_config(images: np.ndarray, dataset: str, flip: str | bool, crop_pad: int | None) -> ViewConfig:
    """Augmentation recipe: padding 1/8 of the side (TCL), flips off for digits, per-channel mean/std
    (from at most 10,000 evenly spaced images, so CIFAR-sized sets cost little memory)."""
    if isinstance(flip, str):
        if flip not in ("auto", "true", "false"):
            raise UserError(f"--flip must be auto, true or false, got {flip!r}")
        flip = dataset != "digits" if flip == "auto" else flip == "true"
    pad = max(1, images.shape[1] // 8) if crop_pad is None else int(crop_pad)
    if pad > images.shape[1]:
        raise UserError(f"--crop-pad {pad} exceeds the image side ({images.shape[1]} px); use at most "
                        f"{images.shape[1]} (default side/8)")
    limit = 2_000 if isinstance(images, ImageStore) else 10_000  # streamed images cost a decode each
    sample = images[np.linspace(0, len(images) - 1, min(len(images), limit)).astype(np.int64)]
    x = sample.reshape(-1, images.shape[-1]).astype(np.float32) / 255.0  # per-channel stats of <= 10k images
    std = np.maximum(x.std(0), 1e-3)
    return ViewConfig(crop_pad=pad, flip=bool(flip), mean=tuple(x.mean(0).tolist()), std=tuple(std.tolist()))


# Every train option's type and range, checked before anything is built or written (flags arrive typed,
# but a --config YAML or a bench --set can hold anything). Ranges: (low, high, low_open, high_open).
_INT_RANGES: dict[str, tuple[int | None, int | None]] = {
    "epochs": (1, None), "batch_size": (2, None), "seed": (0, 2**32 - 1), "train_size": (1, None),
    "width": (1, 1024), "image_size": (8, 4096), "crop_pad": (0, None),
}
_FLOAT_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "lr": (0.0, math.inf, True, True), "momentum": (0.0, 1.0, False, True),
    "weight_decay": (0.0, math.inf, False, True), "lr_warmup_epochs": (0.0, math.inf, False, True),
    "final_lr_ratio": (0.0, 1.0, False, False), "test_fraction": (0.0, 1.0, True, True),
    "noise_rate": (0.0, 1.0, False, False),
}
_STRINGS = ("dataset", "noise", "method", "backbone", "device", "stream", "data_dir", "test_data", "pretrained",
            "weights", "exclude")
_NULLABLE = ("train_size", "width", "image_size", "crop_pad", "noise_rate", "data_dir", "test_data", "pretrained",
             "weights", "exclude")


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def as_int(value: Any, what: str, low: int | None = None, high: int | None = None) -> int:
    """An integer option (an int, or text of one) within [low, high]; UserError naming the fix otherwise."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
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
    value = float(value)
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if not math.isfinite(value) or below or above:
        span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise UserError(f"{what} must be a finite number in {span}, got {value}")
    return value


def validate_config(cfg: dict[str, Any]) -> None:
    """Check (and normalise in place) the type and range of every train option; raises UserError."""
    for key in _STRINGS:
        if cfg.get(key) is None and key in _NULLABLE:
            continue
        if not isinstance(cfg.get(key), str) or not cfg[key]:
            raise UserError(f"{_flag(key)} must be a non-empty text value, got {cfg.get(key)!r}")
    for key, (low, high) in _INT_RANGES.items():
        if cfg.get(key) is None and key in _NULLABLE:
            continue
        cfg[key] = as_int(cfg.get(key), _flag(key), low, high)
    for key, (low, high, low_open, high_open) in _FLOAT_RANGES.items():
        if cfg.get(key) is None and key in _NULLABLE:
            continue
        cfg[key] = as_float(cfg.get(key), _flag(key), low, high, low_open, high_open)
    for key in ("skip_bad_images", "sync_bn", "compile", "freeze_encoder"):
        if not isinstance(cfg.get(key), bool):
            raise UserError(f"{_flag(key)} must be true or false, got {cfg.get(key)!r}")
    if not isinstance(cfg.get("flip"), (str, bool)):
        raise UserError(f"--flip must be auto, true or false, got {cfg.get('flip')!r}")
    if not isinstance(cfg.get("method_options") or {}, dict):
        raise UserError(f"method_options must be a mapping of option: value, got {cfg.get('method_options')!r}")
    if cfg.get("weights") and cfg.get("pretrained"):
        raise UserError("give --weights FILE or --pretrained RUN, not both: each sets the encoder's starting weights")
    if cfg.get("weights"):
        check_weights_path(cfg["weights"])  # before any data is read
    if cfg.get("freeze_encoder") and not (cfg.get("weights") or cfg.get("pretrained")):
        raise UserError("--freeze-encoder needs --weights FILE or --pretrained RUN: a random encoder would stay random")
    if cfg["lr_warmup_epochs"] > cfg["epochs"]:
        raise UserError(f"--lr-warmup-epochs ({cfg['lr_warmup_epochs']:g}) must not exceed --epochs "
                        f"({cfg['epochs']}): the learning rate would never reach --lr")


def check_config(cfg: dict[str, Any]) -> None:
    """Resolve the noise rate (:func:`~noisylabels.data.noise.resolve_rate`), then check and normalise
    every option in place (:func:`validate_config`): ``train`` and ``noise`` alike; raises UserError."""
    cfg["noise_rate"] = resolve_rate(str(cfg["noise"]), cfg["noise_rate"])
    validate_config(cfg)


def noisy_training_labels(cfg: dict[str, Any], train: ArrayDataset) -> tuple[np.ndarray, dict[str, Any]]:
    """The noisy labels int64 (N,) that a checked configuration (:func:`check_config`) gives the
    training set, and their :func:`~noisylabels.data.noise.noise_report`: the one noise path of
    ``train`` and ``noise``, so that both write the same labels for the same options."""
    if cfg["noise"] in ("instance", "lookalike") and isinstance(train.images, ImageStore):
        raise UserError(f"--noise {cfg['noise']} needs every image in memory; pass --stream off (or a smaller "
                        "--image-size)")
    noisy = make_noisy_labels(train.labels, noise=cfg["noise"], rate=float(cfg["noise_rate"]),
                              num_classes=train.num_classes, seed=int(cfg["seed"]), dataset=cfg["dataset"],
                              images=train.images, class_names=train.class_names)
    return noisy, noise_report(train.labels, noisy, train.num_classes)


def prepare(config: dict[str, Any]) -> Prepared:
    """Validate a resolved configuration and build data, noisy labels and the method (no writes)."""
    validate_config({**TRAIN_DEFAULTS, **config})  # types first: the method's defaults read some options
    method_cls = get_method(config.get("method", TRAIN_DEFAULTS["method"]))
    options = resolve_method_options(method_cls, dict(config.get("method_options") or {}))
    epochs = as_int(config.get("epochs", TRAIN_DEFAULTS["epochs"]), "--epochs", 1)
    cfg = {**TRAIN_DEFAULTS, **method_cls.fit_defaults(options, epochs), **config, "method_options": options}
    check_config(cfg)
    device = resolve_device(cfg["device"])
    backbone = cfg["backbone"]
    if backbone == "auto":
        backbone = "preact-resnet18" if device.type == "cuda" else "small-cnn"
    cfg["backbone"] = backbone
    if cfg["weights"] and cfg["image_size"] is None:  # file images decoded at the network's input size
        cfg["image_size"] = weights_input_size(backbone)
    splits = load_run_splits(cfg)
    train = splits.train
    noisy, report = noisy_training_labels(cfg, train)
    if cfg["exclude"]:  # after the noise: a labels file (--noise file:) names every sample of the source
        from .review.exclude import exclude_samples, read_exclude_file

        train, noisy = exclude_samples(train, noisy, read_exclude_file(cfg["exclude"]))
        splits = dataclasses.replace(splits, train=train)
        report = noise_report(train.labels, noisy, train.num_classes)
    views = view_config(train.images, cfg["dataset"], cfg["flip"], cfg["crop_pad"])
    if cfg["weights"]:
        views = pretrained_views(views, backbone, cfg["image_size"])
    true_known = true_labels_known(cfg)
    data = TrainData(
        images=to_device(train.images, device),
        labels=torch.from_numpy(noisy).to(device),
        true_labels=torch.from_numpy(train.labels).to(device) if true_known else None,
        test_images=to_device(splits.test.images, device),
        test_labels=torch.from_numpy(splits.test.labels).to(device),
        num_classes=train.num_classes,
        views=views,
    )
    torch.manual_seed(int(cfg["seed"]))  # weight initialisation
    encoder = build_backbone(backbone, in_channels=len(views.mean), image_size=views.size or train.images.shape[1],
                             width=cfg["width"])
    if cfg["pretrained"]:
        load_pretrained_encoder(encoder, cfg["pretrained"])
    if cfg["weights"]:
        load_weights(encoder, cfg["weights"], backbone)
    if cfg["freeze_encoder"]:
        freeze_encoder(encoder)
    method = method_cls.build(encoder, train.num_classes, len(train), method_cls.Options(**options))
    if cfg["sync_bn"] and ddp.current().enabled:
        method = ddp.convert_sync_batchnorm(method, device)
    method = method.to(device)
    fit_cfg = FitConfig(
        epochs=int(cfg["epochs"]), batch_size=int(cfg["batch_size"]), lr=float(cfg["lr"]),
        momentum=float(cfg["momentum"]), weight_decay=float(cfg["weight_decay"]),
        lr_warmup_epochs=float(cfg["lr_warmup_epochs"]), final_lr_ratio=float(cfg["final_lr_ratio"]),
        seed=int(cfg["seed"]), progress=bool(cfg.get("progress", True)), compile=bool(cfg.get("compile", False)),
    )
    cfg["device"] = device.type
    return Prepared(cfg, splits, noisy, report, data, method, fit_cfg)


def to_device(images: Any, device: torch.device) -> Any:
    """uint8 images as the training device sees them: a tensor, or the streaming set bound to it."""
    if isinstance(images, ImageStore):
        return images.to(device)
    return torch.from_numpy(images).to(device)


def skipped_paths(splits: DataSplits) -> list[str]:
    """Unreadable files left out of either split (a held-out test set shares its source's list)."""
    return sorted(set(splits.train.skipped_paths) | set(splits.test.skipped_paths))


def load_pretrained_encoder(encoder: torch.nn.Module, run_dir: str) -> None:
    """Copy the encoder weights of a finished run into ``encoder``: a simclr or tcl run (``encoder.*``),
    a ce-family run (``model.encoder.*``) or a framework run (its pre-training phase)."""
    folder = Path(run_dir)
    for _ in range(8):  # a framework run that itself started --pretrained: follow it to its source
        if (folder / "phase-pretrain" / "checkpoint.pt").exists():
            folder = folder / "phase-pretrain"
            break
        source = _pretrained_source(folder)
        if source is None:
            break
        folder = source
    if not (folder / "checkpoint.pt").exists():
        raise UserError(f"--pretrained {run_dir}: no checkpoint.pt there; give the folder of a finished run")
    state = RunFolder(folder).load_checkpoint()["method"]
    weights = sub_state(state, "encoder.", "model.encoder.")
    try:
        encoder.load_state_dict(weights)
    except RuntimeError:
        raise UserError(f"--pretrained {run_dir}: its encoder does not match this backbone; pass the same "
                        "--backbone and --width as that run") from None


def _pretrained_source(folder: Path) -> Path | None:
    """The --pretrained run a framework run without its own pre-training phase was started from."""
    if (folder / "checkpoint.pt").exists() or not (folder / CONFIG).exists():
        return None
    saved = RunFolder(folder).read_yaml(CONFIG)
    return Path(saved["pretrained"]) if saved.get("method") == "framework" and saved.get("pretrained") else None


def saved_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The configuration as written to config.yaml (plain YAML types, no runtime-only keys)."""
    return {k: v for k, v in cfg.items() if k not in ("progress",)}


def run_train(
    config: dict[str, Any], out: str | Path, *, resume: bool = False, overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train one run into ``out`` and return its summary (also written to summary.json)."""
    run = RunFolder(out)
    run.check_writable(resume=resume, overwrite=overwrite)
    ddp.barrier()  # every rank has seen the folder as it was before rank 0 clears or writes it
    if resume:
        saved = read_saved_config(run)
        _check_resume_matches(run, saved, config)
        config = {**saved, **{k: v for k, v in config.items() if k in ("epochs", "progress")}}
    prep = prepare(config)
    sha = labels_sha256(prep.noisy)
    if resume and (run.path / NOISY_LABELS).exists():
        old = np.load(run.path / NOISY_LABELS)
        if labels_sha256(old) != sha:
            raise UserError(f"--resume: the noisy labels differ from those saved in {run.path}; use --overwrite")
    if resume:
        run.remove_stale_temporaries()
    else:
        if overwrite:
            run.clear()
        run.write_yaml(CONFIG, saved_config(prep.config))
    if not (run.path / NOISY_LABELS).exists():
        run.write_npy(NOISY_LABELS, prep.noisy)
    skipped = skipped_paths(prep.splits)
    if skipped:
        run.write_text(SKIPPED_IMAGES, "".join(p + "\n" for p in skipped))
        log(f"skipped {len(skipped)} unreadable image file(s); listed in {run.path / SKIPPED_IMAGES}")
    cfg = prep.config
    noise = describe_noise(cfg["noise"], cfg["noise_rate"], prep.report["noise_rate_actual"])
    log(f"{cfg['method']} on {prep.splits.name}: {len(prep.splits.train)} train / {len(prep.splits.test)} test "
        f"({prep.splits.test_kind}), noise {noise}, {cfg['backbone']} on {cfg['device']}")
    result = train(prep.method, prep.data, prep.fit_config, run, resume=resume, pretrained=bool(cfg["pretrained"]),
                   log=log)
    summary = build_summary(prep, result, sha)
    summary.update(result.get("extra", {}))
    if prep.method.has_classifier:
        summary.update(write_issues(prep, run))
    plot_curves(result["history"], run.path / "plots" / "curves.png", _title(summary))
    run.write_json(SUMMARY, summary)
    return summary


def read_saved_config(run: RunFolder) -> dict[str, Any]:
    """A run folder's config.yaml as a mapping; UserError when it is damaged."""
    import yaml

    try:
        saved = run.read_yaml(CONFIG)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        saved = None
    if not isinstance(saved, dict):
        raise UserError(f"--resume: {run.path / CONFIG} is damaged (not a mapping of options); "
                        "start again with --overwrite")
    return saved


def _check_resume_matches(run: RunFolder, saved: dict[str, Any], given: dict[str, Any]) -> None:
    """--resume continues the saved run: an option given now that the run was started with otherwise
    (another --method, --noise, ...) is refused rather than silently ignored (--epochs may change)."""
    diffs = [f"{_flag(k)} {saved[k]!r} -> {v!r}" for k, v in given.items()
             if k not in ("epochs", "progress", "method_options") and k in saved and saved[k] != v]
    saved_opts = saved.get("method_options") or {}
    diffs += [f"{_flag(k)} {saved_opts[k]!r} -> {v!r}" if k in saved_opts else f"{_flag(k)} (not an option of "
              f"its method {saved.get('method')!r})" for k, v in (given.get("method_options") or {}).items()
              if saved_opts.get(k, object()) != v]
    if diffs:
        raise UserError(f"--resume: the run in {run.path} was started with other settings ({'; '.join(diffs)}); "
                        "drop them to continue it, or start a new run with --overwrite or another --out")


def _title(s: dict[str, Any]) -> str:
    return f"{s['method']} | {s['dataset']} | {describe_noise(s['noise'], s['noise_rate'], s['noise_rate_actual'])}"


def write_issues(prep: Prepared, run: RunFolder) -> dict[str, Any]:
    """Write pred_probs.npy, features.npy and the label issues of the final model
    (:func:`~noisylabels.issues.export_label_issues`, as ``detect`` does); return the detection figures."""
    data, train = prep.data, prep.splits.train
    probs = predict_probs(prep.method, data.images, data.views)
    z = predict_embeddings(prep.method, data.images, data.views)
    z = None if z is None else z.cpu().half().float()  # as features.npy keeps them: detect --run ranks the same
    issues = prep.method.label_issues(data, probs, z)
    # for cleanlab & co: out-of-sample probabilities where the method has them, else the final model's
    oos = getattr(prep.method, "out_of_sample_probs", None)
    run.write_npy(PRED_PROBS, (oos() if oos else probs).cpu().numpy().astype(np.float32))
    if z is not None:
        run.write_npy(FEATURES, z.numpy().astype(np.float16))
    true = train.labels if data.true_labels is not None else None
    return export_label_issues(run, issues, prep.noisy, probs.cpu().numpy(), true_labels=true,
                               source_index=train.source_index, paths=train.paths, class_names=train.class_names,
                               title=f"{prep.config['method']}: label quality of {len(prep.noisy)} training samples")


def build_summary(prep: Prepared, result: dict[str, Any], sha: str) -> dict[str, Any]:
    cfg = prep.config
    return {
        "method": cfg["method"],
        "dataset": prep.splits.name,
        "noise": cfg["noise"],
        "noise_rate": float(cfg["noise_rate"]),
        "noise_rate_actual": prep.report["noise_rate_actual"],
        "noise_transition_matrix": prep.report["transition_matrix"],
        "noisy_labels_sha256": sha,
        "epochs": int(cfg["epochs"]),
        "seed": int(cfg["seed"]),
        "backbone": cfg["backbone"],
        "num_train": len(prep.splits.train),
        "num_test": len(prep.splits.test),
        "test_kind": prep.splits.test_kind,
        "test_accuracy": result["test_accuracy"],
        "best_test_accuracy": result["best_test_accuracy"],
        "best_epoch": result["best_epoch"],
        **{k: result[k] for k in TOP5_KEYS if k in result},
        "train_seconds": result["train_seconds"],
        "images_per_second": result["images_per_second"],
        "device": _device_name(prep.data.device),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "num_threads": torch.get_num_threads(),
        "streamed": isinstance(prep.splits.train.images, ImageStore),
        "skipped_images": len(skipped_paths(prep.splits)),
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
