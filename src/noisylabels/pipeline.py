"""One training run from a resolved configuration: data -> noise -> method -> engine -> run folder.

Everything that can fail on the user's input (data, noise, options, the output folder) is checked in
:func:`prepare` before anything is written, so bad input never touches an earlier run's outputs.
"""

from __future__ import annotations

import dataclasses
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import distributed as ddp
from .data.augment import ViewConfig
from .data.dataset import DataSplits
from .data.noise import describe_noise, make_noisy_labels, noise_report, resolve_rate
from .data.sources import load_splits
from .data.streaming import StreamingImages
from .detect import export_issues
from .engine import FitConfig, fit
from .errors import UserError
from .methods import Method, TrainData, get_method
from .methods.base import predict_embeddings, predict_probs
from .report import plot_curves
from .models.backbones import build_backbone
from .runs import CONFIG, FEATURES, NOISY_LABELS, PRED_PROBS, SKIPPED_IMAGES, SUMMARY, RunFolder, labels_sha256

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
    "sync_bn": False,
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
    method: Method
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


def resolve_method_options(method_cls: type[Method], given: dict[str, Any]) -> dict[str, Any]:
    """The method's option defaults updated by ``given``; unknown keys are a user error."""
    fields = {f.name: f for f in dataclasses.fields(method_cls.Options)}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        valid = ", ".join(sorted(fields)) or "none"
        raise UserError(f"method {method_cls.name!r} has no option(s) {', '.join(unknown)}; its options: {valid}")
    defaults = dataclasses.asdict(method_cls.Options())
    return {**defaults, **{k: v for k, v in given.items() if v is not None}}


def view_config(images: np.ndarray, dataset: str, flip: str | bool, crop_pad: int | None) -> ViewConfig:
    """Augmentation recipe: padding 1/8 of the side (TCL), flips off for digits, per-channel mean/std
    (from at most 10,000 evenly spaced images, so CIFAR-sized sets cost little memory)."""
    if isinstance(flip, str):
        if flip not in ("auto", "true", "false"):
            raise UserError(f"--flip must be auto, true or false, got {flip!r}")
        flip = dataset != "digits" if flip == "auto" else flip == "true"
    pad = max(1, images.shape[1] // 8) if crop_pad is None else int(crop_pad)
    limit = 2_000 if getattr(images, "streaming", False) else 10_000  # streamed images cost a decode each
    sample = images[np.linspace(0, len(images) - 1, min(len(images), limit)).astype(np.int64)]
    x = sample.reshape(-1, images.shape[-1]).astype(np.float32) / 255.0  # per-channel stats of <= 10k images
    std = np.maximum(x.std(0), 1e-3)
    return ViewConfig(crop_pad=pad, flip=bool(flip), mean=tuple(x.mean(0).tolist()), std=tuple(std.tolist()))


def _check_ranges(cfg: dict[str, Any]) -> None:
    cfg["noise_rate"] = resolve_rate(str(cfg["noise"]), cfg["noise_rate"])
    if int(cfg["epochs"]) < 1:
        raise UserError(f"--epochs must be at least 1, got {cfg['epochs']}")
    if float(cfg["lr"]) <= 0:
        raise UserError(f"--lr must be positive, got {cfg['lr']}")


def prepare(config: dict[str, Any]) -> Prepared:
    """Validate a resolved configuration and build data, noisy labels and the method (no writes)."""
    method_cls = get_method(config.get("method", TRAIN_DEFAULTS["method"]))
    options = resolve_method_options(method_cls, dict(config.get("method_options") or {}))
    epochs = int(config.get("epochs", TRAIN_DEFAULTS["epochs"]))
    cfg = {**TRAIN_DEFAULTS, **method_cls.fit_defaults(options, epochs), **config, "method_options": options}
    _check_ranges(cfg)
    device = resolve_device(cfg["device"])
    splits = load_run_splits(cfg)
    train = splits.train
    if cfg["noise"] in ("instance", "lookalike") and getattr(train.images, "streaming", False):
        raise UserError(f"--noise {cfg['noise']} needs every image in memory; pass --stream off (or a smaller "
                        "--image-size)")
    noisy = make_noisy_labels(train.labels, noise=cfg["noise"], rate=float(cfg["noise_rate"]),
                              num_classes=train.num_classes, seed=int(cfg["seed"]), dataset=cfg["dataset"],
                              images=train.images, class_names=train.class_names)
    report = noise_report(train.labels, noisy, train.num_classes)
    views = view_config(train.images, cfg["dataset"], cfg["flip"], cfg["crop_pad"])
    # The source's labels are the truth when noise was added to them (generated, or a file such as
    # CIFAR-N's); with noise "none" they are the user's own labels, whose truth is unknown.
    true_known = cfg["noise"] != "none"
    data = TrainData(
        images=to_device(train.images, device),
        labels=torch.from_numpy(noisy).to(device),
        true_labels=torch.from_numpy(train.labels).to(device) if true_known else None,
        test_images=to_device(splits.test.images, device),
        test_labels=torch.from_numpy(splits.test.labels).to(device),
        num_classes=train.num_classes,
        views=views,
    )
    backbone = cfg["backbone"]
    if backbone == "auto":
        backbone = "preact-resnet18" if device.type == "cuda" else "small-cnn"
    cfg["backbone"] = backbone
    torch.manual_seed(int(cfg["seed"]))  # weight initialisation
    encoder = build_backbone(backbone, in_channels=train.images.shape[-1], image_size=train.images.shape[1],
                             width=cfg["width"])
    if cfg["pretrained"]:
        load_pretrained_encoder(encoder, cfg["pretrained"])
    method = method_cls(encoder, train.num_classes, len(train), method_cls.Options(**options))
    if cfg["sync_bn"] and ddp.current().enabled:
        method = ddp.convert_sync_batchnorm(method, device)
    method = method.to(device)
    fit_cfg = FitConfig(
        epochs=int(cfg["epochs"]), batch_size=int(cfg["batch_size"]), lr=float(cfg["lr"]),
        momentum=float(cfg["momentum"]), weight_decay=float(cfg["weight_decay"]),
        lr_warmup_epochs=float(cfg["lr_warmup_epochs"]), final_lr_ratio=float(cfg["final_lr_ratio"]),
        seed=int(cfg["seed"]), progress=bool(cfg.get("progress", True)),
    )
    cfg["device"] = device.type
    return Prepared(cfg, splits, noisy, report, data, method, fit_cfg)


def to_device(images: Any, device: torch.device) -> Any:
    """uint8 images as the training device sees them: a tensor, or the streaming set bound to it."""
    if isinstance(images, StreamingImages):
        return images.to(device)
    return torch.from_numpy(images).to(device)


def skipped_paths(splits: DataSplits) -> list[str]:
    """Unreadable files left out of either split (a held-out test set shares its source's list)."""
    return sorted(set(splits.train.skipped_paths) | set(splits.test.skipped_paths))


def load_run_splits(cfg: dict[str, Any]) -> DataSplits:
    """The train/test splits a (resolved or saved) run configuration names."""
    return load_splits(cfg["dataset"], data_dir=cfg.get("data_dir"), train_size=cfg.get("train_size"),
                       test_data=cfg.get("test_data"), test_fraction=float(cfg.get("test_fraction", 0.1)),
                       image_size=cfg.get("image_size"), seed=int(cfg.get("seed", 0)),
                       skip_bad_images=bool(cfg.get("skip_bad_images", False)), stream=str(cfg.get("stream", "auto")))


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
    weights = {k.split("encoder.", 1)[1]: v for k, v in state.items() if k.startswith(("encoder.", "model.encoder."))}
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
        saved = run.read_yaml(CONFIG)
        config = {**saved, **{k: v for k, v in config.items() if k in ("epochs", "progress")}}
    prep = prepare(config)
    sha = labels_sha256(prep.noisy)
    if resume and (run.path / NOISY_LABELS).exists():
        old = np.load(run.path / NOISY_LABELS)
        if labels_sha256(old) != sha:
            raise UserError(f"--resume: the noisy labels differ from those saved in {run.path}; use --overwrite")
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
    cfg, train = prep.config, prep.splits.train
    noise = describe_noise(cfg["noise"], cfg["noise_rate"], prep.report["noise_rate_actual"])
    log(f"{cfg['method']} on {prep.splits.name}: {len(train)} train / {len(prep.splits.test)} test "
        f"({prep.splits.test_kind}), noise {noise}, {cfg['backbone']} on {cfg['device']}")
    if getattr(prep.method, "orchestrates", False):  # the framework: several phases, each its own fit
        result = prep.method.run(prep.data, prep.fit_config, run, pretrained=bool(cfg["pretrained"]),
                                 resume=resume, log=log)
    else:
        result = fit(prep.method, prep.data, prep.fit_config, run, resume=resume, log=log)
    summary = build_summary(prep, result, sha)
    summary.update(result.get("extra", {}))
    if prep.method.has_classifier:
        summary.update(write_issues(prep, run))
    plot_curves(result["history"], run.path / "plots" / "curves.png", _title(summary))
    run.write_json(SUMMARY, summary)
    return summary


def _title(s: dict[str, Any]) -> str:
    return f"{s['method']} | {s['dataset']} | {describe_noise(s['noise'], s['noise_rate'], s['noise_rate_actual'])}"


def write_issues(prep: Prepared, run: RunFolder) -> dict[str, Any]:
    """Write label_issues.csv and the label-quality histogram; return the detection figures."""
    data, train = prep.data, prep.splits.train
    probs = predict_probs(prep.method, data.images, data.views)
    issues = prep.method.label_issues(data, probs)
    # for cleanlab & co: out-of-sample probabilities where the method has them, else the final model's
    oos = getattr(prep.method, "out_of_sample_probs", None)
    run.write_npy(PRED_PROBS, (oos() if oos else probs).cpu().numpy().astype(np.float32))
    z = predict_embeddings(prep.method, data.images, data.views)
    if z is not None:
        run.write_npy(FEATURES, z.cpu().numpy().astype(np.float16))
    predicted = probs.argmax(1).cpu().numpy()
    true = train.labels if data.true_labels is not None else None
    out = export_issues(run, issues, prep.noisy, predicted, source_index=train.source_index, true_labels=true,
                        paths=train.paths, class_names=train.class_names,
                        title=f"{prep.config['method']}: label quality of {len(prep.noisy)} training samples")
    if true is not None:
        out["train_accuracy_vs_truth"] = float(np.mean(predicted == true))
    return out


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
        "train_seconds": result["train_seconds"],
        "images_per_second": result["images_per_second"],
        "device": _device_name(prep.data.device),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "num_threads": torch.get_num_threads(),
        "streamed": isinstance(prep.splits.train.images, StreamingImages),
        "skipped_images": len(skipped_paths(prep.splits)),
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
