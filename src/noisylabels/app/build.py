"""A validated run, ready to train: device, views, data and noise, backbone, starting weights, method.

Everything that can fail on the user's input (data, noise, options) is checked in :func:`prepare` before
anything is written, so bad input never touches an earlier run's outputs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from .. import distributed as ddp
from ..config import RunConfig
from ..data.augment import ViewConfig
from ..data.dataset import ArrayDataset, DataSplits
from ..data.keyed import held_out, sample_keys
from ..data.noise import load_label_file, make_noisy_labels, noise_report
from ..data.sources import (FILE_SOURCE_PREFIXES, imagenet_val_listing, load_like_test, load_run_splits,
                            true_labels_known)
from ..data.store import ImageStore
from ..errors import UserError
from ..methods import Method, TrainData, get_method
from ..models.backbones import build_backbone
from ..models.freeze import freeze_encoder
from ..models.weights import load_weights, pretrained_views, weights_input_size
from ..runs import CONFIG, RunFolder, sub_state
from ..precision import resolve_precision
from ..schedule import FitConfig

@dataclass
class Prepared:
    """A validated run, ready to train: nothing has been written yet."""

    splits: DataSplits
    noisy: np.ndarray
    report: dict[str, Any]
    data: TrainData
    method: Method[Any]
    fit_config: FitConfig
    run_config: RunConfig
    """``config`` typed: the options as resolved for this run (backbone, device, image size)."""
    skipped: list[str]
    """Unreadable image files left out with ``--skip-bad-images`` (training, test and further test sets)."""

    @property
    def passed_over(self) -> list[str]:
        """Entries of a folder source that are not data (training and test folders), as the listing found them."""
        return sorted(set(self.splits.train.passed_over) | set(self.splits.test.passed_over))

    @property
    def config(self) -> dict[str, Any]:
        """The options as config.yaml holds them (with runtime-only keys such as ``progress``)."""
        return self.run_config.to_dict()


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


def view_config(images: np.ndarray, dataset: str, flip: str | bool, crop_pad: int | None) -> ViewConfig:
    """Augmentation recipe: padding 1/8 of the side (TCL), flips off for digits, per-channel mean/std
    (from at most 10,000 evenly spaced images of an array source, 2,000 of an image-file source, streamed
    or not: a streamed image costs a decode each, and a file source gives the same statistics either way)."""
    if isinstance(flip, str):
        if flip not in ("auto", "true", "false"):
            raise UserError(f"--flip must be auto, true or false, got {flip!r}")
        flip = dataset != "digits" if flip == "auto" else flip == "true"
    pad = max(1, images.shape[1] // 8) if crop_pad is None else int(crop_pad)
    if pad > images.shape[1]:
        raise UserError(f"--crop-pad {pad} exceeds the image side ({images.shape[1]} px); use at most "
                        f"{images.shape[1]} (default side/8)")
    files = isinstance(images, ImageStore) or dataset.startswith(FILE_SOURCE_PREFIXES)
    limit = 2_000 if files else 10_000
    sample = images[np.linspace(0, len(images) - 1, min(len(images), limit)).astype(np.int64)]
    x = sample.reshape(-1, images.shape[-1]).astype(np.float32) / 255.0  # per-channel stats of the sample
    std = np.maximum(x.std(0), 1e-3)
    return ViewConfig(crop_pad=pad, flip=bool(flip), mean=tuple(x.mean(0).tolist()), std=tuple(std.tolist()))


def noisy_training_labels(cfg: dict[str, Any], train: ArrayDataset,
                          held: ArrayDataset | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The labels int64 (N,) that a checked configuration (:func:`check_config`) gives the training set,
    and their :func:`~noisylabels.data.noise.noise_report`: the one label path of ``train``, ``noise`` and
    ``apply-review``, so that all write the same labels for the same options. ``--labels FILE`` (the user's
    own) and ``--noise file:`` are matched to the samples by :func:`sample_keys`; ``held``: the samples
    held out of the same source for evaluation (:class:`~noisylabels.data.sources.DataSplits` with
    ``test_kind`` "holdout"), whose order depends on the seed."""
    if cfg["noise"] in ("instance", "lookalike") and isinstance(train.images, ImageStore):
        raise UserError(f"--noise {cfg['noise']} needs every image in memory; pass --stream off (or a smaller "
                        "--image-size)")
    keys = sample_keys(cfg, train, held)
    if cfg.get("labels"):
        noisy = load_label_file(str(cfg["labels"]), n=len(train), num_classes=train.num_classes,
                                class_names=train.class_names, keys=keys)
    else:
        noisy = make_noisy_labels(train.labels, noise=cfg["noise"], rate=float(cfg["noise_rate"]),
                                  num_classes=train.num_classes, seed=int(cfg["seed"]), dataset=cfg["dataset"],
                                  images=train.images, class_names=train.class_names, keys=keys)
    return noisy, noise_report(train.labels, noisy, train.num_classes)


def prepare(config: RunConfig | Mapping[str, Any]) -> Prepared:
    """Build data, noisy labels and the method of a run (no writes). ``config``: a :class:`RunConfig`, or
    a mapping of options checked into one at once (:meth:`RunConfig.from_dict`)."""
    rc = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
    method_cls = get_method(rc.method)
    device = resolve_device(rc.device)
    rc, from_weights = resolve_encoder(rc, device)
    rc = rc.replace(method_options=method_cls.run_options(rc.method_options, dataset=rc.dataset))  # recipe, dataset
    cfg = rc.to_dict()  # the data readers and the noise path take the options as a mapping
    imagenet = imagenet_val_listing(cfg) if rc.imagenet_val else None  # checked before the long decode
    splits = load_run_splits(cfg)
    train = splits.train
    noisy, report = noisy_training_labels(cfg, train, held_out(splits))
    if rc.exclude:  # after the noise: a labels file (--noise file:) names every sample of the source
        from ..review.exclude import exclude_samples, read_exclude_file, resolve_excluded

        listed = resolve_excluded(read_exclude_file(rc.exclude), sample_keys(cfg, train, held_out(splits)), "--exclude")
        train, noisy = exclude_samples(train, noisy, listed)
        splits = dataclasses.replace(splits, train=train)
        report = noise_report(train.labels, noisy, train.num_classes)
    views = input_views(train.images, rc, from_weights)
    true_known = true_labels_known(cfg)
    eval_sets = {}
    skipped = list(splits.train.skipped_paths) + list(splits.test.skipped_paths)
    if imagenet is not None:
        val = load_like_test(imagenet, cfg, train)
        skipped += val.skipped_paths
        eval_sets["imagenet"] = (to_device(val.images, device), torch.from_numpy(val.labels).to(device))
    data = TrainData(
        images=to_device(train.images, device),
        labels=torch.from_numpy(noisy).to(device),
        true_labels=torch.from_numpy(train.labels).to(device) if true_known else None,
        test_images=to_device(splits.test.images, device),
        test_labels=torch.from_numpy(splits.test.labels).to(device),
        num_classes=train.num_classes,
        views=views,
        eval_sets=eval_sets,
    )
    torch.manual_seed(rc.seed)  # weight initialisation
    encoder = starting_encoder(rc, views, train.images.shape[1])
    if rc.freeze_encoder:
        freeze_encoder(encoder)
    method = method_cls.build(encoder, train.num_classes, len(train), method_cls.Options(**rc.method_options))
    if rc.sync_bn and ddp.current().enabled:
        method = ddp.convert_sync_batchnorm(method, device)
    method = method.to(device)
    settings = method.fit_settings()
    if rc.precision != "auto":  # a precision given wins over a method's recipe (TCL's paper recipe: fp32)
        settings["autocast"] = True
    fit_cfg = FitConfig(
        epochs=rc.epochs, batch_size=rc.batch_size, lr=rc.lr, momentum=rc.momentum, weight_decay=rc.weight_decay,
        lr_warmup_epochs=rc.lr_warmup_epochs, final_lr_ratio=rc.final_lr_ratio, seed=rc.seed,
        progress=bool(rc.extra.get("progress", True)), compile=rc.compile, epoch_samples=rc.epoch_samples,
        class_balanced=rc.class_balanced, **settings, precision=resolve_precision(rc.precision, device),
    )
    rc = rc.replace(device=device.type)
    return Prepared(splits, noisy, report, data, method, fit_cfg, rc, sorted(set(skipped)))


def resolve_encoder(rc: RunConfig, device: torch.device) -> tuple[RunConfig, bool]:
    """``rc`` with backbone "auto" resolved for ``device`` (PreAct ResNet-18 on CUDA, small-cnn on the
    CPU) and, when the encoder starts from ``--weights`` (or from a run that did), the image size
    defaulting to the network's input; and whether it does."""
    if rc.backbone == "auto":
        rc = rc.replace(backbone="preact-resnet18" if device.type == "cuda" else "small-cnn")
    from_weights = bool(rc.weights) or started_from_weights(rc.pretrained)
    if from_weights and rc.image_size is None:  # file images decoded at the network's input size
        rc = rc.replace(image_size=weights_input_size(rc.backbone))
    return rc, from_weights


def input_views(images: Any, rc: RunConfig, from_weights: bool) -> ViewConfig:
    """The views of the data's images (N, H, W, C): :func:`view_config`, then a pretrained network's own
    normalisation and input size where the encoder starts from ``--weights``."""
    views = view_config(images, rc.dataset, rc.flip, rc.crop_pad)
    return pretrained_views(views, rc.backbone, rc.image_size) if from_weights else views


def starting_encoder(rc: RunConfig, views: ViewConfig, side: int, run_flag: str = "--pretrained") -> torch.nn.Module:
    """The backbone ``rc.backbone`` for images of ``side`` px (or the views' size) and the views' channels,
    with the weights of ``--pretrained RUN`` (named ``run_flag`` in errors) or ``--weights FILE`` where given."""
    encoder = build_backbone(rc.backbone, in_channels=len(views.mean), image_size=views.size or side,
                             width=rc.width)
    if rc.pretrained:
        load_pretrained_encoder(encoder, rc.pretrained, run_flag)
    if rc.weights:
        load_weights(encoder, rc.weights, rc.backbone)
    return encoder


def to_device(images: Any, device: torch.device) -> Any:
    """uint8 images as the training device sees them: a tensor, or the streaming set bound to it."""
    if isinstance(images, ImageStore):
        return images.to(device)
    return torch.from_numpy(images).to(device)


def load_pretrained_encoder(encoder: torch.nn.Module, run_dir: str, flag: str = "--pretrained") -> None:
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
        raise UserError(f"{flag} {run_dir}: no checkpoint.pt there; give the folder of a finished run")
    state = RunFolder(folder).load_checkpoint()["method"]
    weights = sub_state(state, "encoder.", "model.encoder.")
    try:
        encoder.load_state_dict(weights)
    except RuntimeError:
        raise UserError(f"{flag} {run_dir}: its encoder does not match this backbone; pass the same "
                        "--backbone, --width and --image-size as that run, on images of its channels (grey or "
                        "RGB)") from None


def started_from_weights(run_dir: str | None) -> bool:
    """Whether the encoder of ``--pretrained run_dir`` descends from ``--weights``: that run, or the run it was
    itself started from (and so on), was given --weights. Such a run keeps the network's ImageNet input
    (:func:`~noisylabels.models.weights.pretrained_views`), as a framework cell of ``bench`` does after
    the SimCLR pre-training it shares (started from the protocol's weights)."""
    folder = Path(run_dir) if run_dir else None
    for _ in range(8):
        if folder is None or not (folder / CONFIG).exists():
            return False
        saved = RunFolder(folder).read_yaml(CONFIG)
        if not isinstance(saved, dict):
            return False
        if saved.get("weights"):
            return True
        folder = Path(saved["pretrained"]) if saved.get("pretrained") else None
    return False


def _pretrained_source(folder: Path) -> Path | None:
    """The --pretrained run a framework run without its own pre-training phase was started from."""
    if (folder / "checkpoint.pt").exists() or not (folder / CONFIG).exists():
        return None
    saved = RunFolder(folder).read_yaml(CONFIG)
    return Path(saved["pretrained"]) if saved.get("method") == "framework" and saved.get("pretrained") else None
