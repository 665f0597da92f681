"""``noisylabels detect --dataset SRC --weights W``: label issues without training.

A pretrained encoder embeds every sample of the source once (the un-augmented view); out-of-sample
class probabilities come from a probe on those embeddings (:mod:`noisylabels.probe`: a cross-fitted
linear probe, or leave-one-out kNN votes); the label issues are then ranked exactly as a training run
ranks them: confident learning on the probabilities and TCL's context of the embeddings
(``detect.context_issues``: prototypes from the probabilities, Sec. 3.1 of the TCL paper).

W is a local weights file (``--backbone`` names its network, as for ``train --weights``) or the folder
of a finished run (its encoder, e.g. a ``simclr`` run's; backbone and width from its config.yaml).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from ..config import RunConfig, absolute_paths
from ..data.files import check_out_is_not_the_data
from ..data.sources import load_examined_set, true_labels_known
from ..errors import UserError
from ..inference import map_images
from ..issues import detect_to_folder
from ..precision import autocast_for
from ..probe import PROBES, crossfit_linear_probe, knn_probs
from ..runs import CONFIG, DETECT_CONFIG, FEATURES, PRED_PROBS, RunFolder
from .build import input_views, noisy_training_labels, resolve_device, resolve_encoder, starting_encoder, to_device

# the options of `train` that choose the data, its noise and the encoder; the rest do not apply here
DATA_OPTIONS = ("dataset", "data_dir", "train_size", "image_size", "skip_bad_images", "stream", "noise",
                "noise_rate", "seed", "backbone", "width", "device")


def encoder_config(options: Mapping[str, Any], weights: str) -> RunConfig:
    """The checked options of an encoder detection: ``options`` (DATA_OPTIONS keys) and ``weights``, a
    weights file or a run folder (then ``pretrained``; backbone, width and image size default to that run's)."""
    unknown = sorted(set(options) - set(DATA_OPTIONS))
    if unknown:
        raise UserError(f"detect --weights does not take {', '.join('--' + k.replace('_', '-') for k in unknown)}")
    cfg = {k: v for k, v in options.items() if v is not None}
    path = Path(weights).expanduser()
    if path.is_dir():
        if not (path / CONFIG).is_file():
            raise UserError(f"--weights {weights}: a folder must be a finished training run (no {CONFIG} there); "
                            "give a run folder or a weights file")
        run = RunFolder(path).read_yaml(CONFIG)
        cfg.setdefault("backbone", run.get("backbone"))
        if cfg["backbone"] == run.get("backbone") and run.get("width") is not None:
            cfg.setdefault("width", run.get("width"))
        if run.get("image_size") is not None:  # the resolution its encoder learnt at
            cfg.setdefault("image_size", run["image_size"])
        cfg["pretrained"] = str(path)
    else:
        if cfg.get("backbone", "auto") == "auto":
            raise UserError(f"--weights {weights}: name its network with --backbone (e.g. resnet50)")
        cfg["weights"] = str(path)
    return RunConfig.from_dict({**cfg, "method": "ce"})


def detect_with_encoder(
    options: Mapping[str, Any], weights: str, out: str | Path, *, probe: str = "linear", folds: int = 5,
    k: int = 20, batch_size: int = 256, log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Embed the source with the encoder in ``weights``, probe, rank, and write the detect folder
    ``out`` (label_issues.csv, plots, suspects.png, summary.json, pred_probs.npy, features.npy and
    detect.yaml, the options that rebuild its samples). Returns the summary.

    Args:
        options: data, noise and encoder options as ``train`` names them (:data:`DATA_OPTIONS`).
        probe: "linear" (cross-fitted over ``folds`` folds) or "knn" (leave-one-out, ``k`` neighbours).
    """
    if probe not in PROBES:
        raise UserError(f"--probe must be one of {', '.join(PROBES)}, got {probe!r}")
    if probe == "linear" and not 2 <= folds <= 100:
        raise UserError(f"--folds must be in 2..100, got {folds}")
    if probe == "knn" and k < 1:
        raise UserError(f"--k must be at least 1, got {k}")
    rc = encoder_config(options, weights)
    device = resolve_device(rc.device)
    rc, from_weights = resolve_encoder(rc, device)
    cfg = rc.to_dict()
    check_out_is_not_the_data(Path(out), [str(cfg.get("dataset") or "")])
    train = load_examined_set(cfg)
    noisy, _ = noisy_training_labels(cfg, train)
    views = input_views(train.images, rc, from_weights)
    encoder = starting_encoder(rc, views, train.images.shape[1], "--weights").to(device).eval()
    start = time.perf_counter()
    with autocast_for(device):
        z = map_images(encoder, lambda x: (encoder(x).float(),), to_device(train.images, device), views,
                       batch_size)[0]
    embed_seconds = time.perf_counter() - start
    labels = torch.from_numpy(noisy).to(device)
    start = time.perf_counter()
    if probe == "linear":
        probs = crossfit_linear_probe(z, labels, train.num_classes, folds=folds, seed=rc.seed)
    else:
        probs = knn_probs(z, labels, train.num_classes, k=k)
    probe_seconds = time.perf_counter() - start
    log(f"embedded {len(train)} samples ({z.shape[1]}-d, {rc.backbone}) in {embed_seconds:.1f}s; "
        f"{probe} probe in {probe_seconds:.1f}s")
    features = F.normalize(z, dim=1).cpu().numpy()
    p = probs.double().cpu().numpy()

    def write_more(folder: RunFolder) -> None:
        folder.write_npy(PRED_PROBS, p.astype(np.float32))
        folder.write_npy(FEATURES, features.astype(np.float16))
        folder.write_yaml(DETECT_CONFIG, absolute_paths({k: cfg[k] for k in (*DATA_OPTIONS, "pretrained", "weights")
                                                          if k in cfg}))

    return detect_to_folder(
        out, noisy, p, features=features,  # rows normalised in float64 there, as a run's
        true_labels=train.labels if true_labels_known(cfg) else None, images=train.images,
        source_index=train.source_index, paths=train.paths, class_names=train.class_names,
        extra={"encoder": rc.backbone, "weights": str(weights), "probe": probe,
               **({"folds": folds} if probe == "linear" else {"k": k}),
               "probe_accuracy_vs_given": float(np.mean(p.argmax(1) == noisy)),
               "embed_seconds": embed_seconds, "probe_seconds": probe_seconds, "device": device.type},
        write_more=write_more)

