"""What a finished run leaves besides its checkpoint: the label issues, predictions, features and the
summary.json figures."""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
import torch

from ..data.store import ImageStore
from ..engine import is_topk
from .. import distributed as ddp
from ..inference import predict_probs_and_embeddings
from ..issues import export_label_issues, validate_predictions
from ..runs import COUNT_PROBS, FEATURES, MARGINS, PRED_PROBS, RunFolder
from .build import Prepared

def write_issues(prep: Prepared, run: RunFolder, test_accuracy: float | None = None) -> dict[str, Any]:
    """Write pred_probs.npy, features.npy, count_probs.npy (where the method has them) and the label issues of the final model
    (:func:`~noisylabels.issues.export_label_issues`, as ``detect`` does, with the final model's ``test_accuracy``
    as its held-out accuracy, NaN or None where the run has no test set); return the detection figures."""
    data, train = prep.data, prep.splits.train
    probs, z = predict_probs_and_embeddings(prep.method, data.images, data.views)  # every rank: rows gathered
    count_probs = prep.method.count_probs(data, probs)  # every rank too (TCL: a pass of its probe)
    if not ddp.is_main():  # rank 0 alone ranks, writes and plots the label issues
        return {}
    z = None if z is None else z.cpu().half().float()  # as features.npy keeps them: detect --run ranks the same
    (run.path / COUNT_PROBS).unlink(missing_ok=True)  # an earlier method's, in a folder --overwrite reuses
    if count_probs is not None:  # as count_probs.npy keeps them: detect --run counts the same
        stored = count_probs.astype(np.float32)
        run.write_npy(COUNT_PROBS, stored)
        count_probs = validate_predictions(prep.noisy, stored)[1]  # normalised as detect --run normalises it
    issues = prep.method.label_issues(data, probs, z, count_probs)
    # for cleanlab & co: out-of-sample probabilities where the method has them, else the final model's
    oos = getattr(prep.method, "out_of_sample_probs", None)
    run.write_npy(PRED_PROBS, (oos() if oos else probs).cpu().numpy().astype(np.float32))
    if z is not None:
        run.write_npy(FEATURES, z.numpy().astype(np.float16))
    margins = getattr(prep.method, "training_margins", lambda: None)()
    if margins is not None:
        run.write_npy(MARGINS, margins.astype(np.float32))
    true = train.labels if data.true_labels is not None else None
    return export_label_issues(run, issues, prep.noisy, probs.cpu().numpy(), true_labels=true,
                               source_index=train.source_index, paths=train.paths, class_names=train.class_names,
                               title=f"{prep.config['method']}: label quality of {len(prep.noisy)} training samples",
                               held_out_accuracy=test_accuracy)


def build_summary(prep: Prepared, result: dict[str, Any], sha: str) -> dict[str, Any]:
    cfg = prep.config
    return {
        "method": cfg["method"],
        "dataset": prep.splits.name,
        "noise": cfg["noise"],
        "noise_rate": float(cfg["noise_rate"]),
        # with --labels (the user's own) the truth is unknown: no noise figures against the dataset's labels
        "noise_rate_actual": None if cfg.get("labels") else prep.report["noise_rate_actual"],
        "noise_transition_matrix": None if cfg.get("labels") else prep.report["transition_matrix"],
        **({"labels": str(cfg["labels"]), "labels_changed_from_dataset": prep.report["noise_rate_actual"]}
           if cfg.get("labels") else {}),
        "noisy_labels_sha256": sha,
        "epochs": int(cfg["epochs"]),
        "seed": int(cfg["seed"]),
        # the method's recipe where it has one (TCL, TCL+: tuned or paper, README "TCL")
        **({"recipe": cfg["method_options"]["recipe"]} if "recipe" in (cfg.get("method_options") or {}) else {}),
        "backbone": cfg["backbone"],
        "num_train": len(prep.splits.train),
        "image_shape": [int(v) for v in prep.splits.train.images.shape[1:]],  # H, W, C as decoded
        "classes_without_training_samples": list(prep.splits.unseen_classes),
        "num_test": len(prep.splits.test),
        "test_kind": prep.splits.test_kind,
        "test_accuracy": result["test_accuracy"],
        "best_test_accuracy": result["best_test_accuracy"],
        "best_epoch": result["best_epoch"],
        **{k: v for k, v in result.items() if is_topk(k)},
        **{f"num_{name}": len(labels) for name, (_, labels) in prep.data.eval_sets.items()},
        "train_seconds": result["train_seconds"],
        "images_per_second": result["images_per_second"],
        "device": _device_name(prep.data.device),
        "precision": prep.fit_config.effective_precision,  # as resolved for the device (bf16 autocast or fp32)
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "num_threads": torch.get_num_threads(),
        "streamed": isinstance(prep.splits.train.images, ImageStore),
        "skipped_images": len(prep.skipped),
        "passed_over_files": len(prep.passed_over),
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
