"""The Python door to training: ``train(data, ...) -> Run`` and ``load_run(path) -> Run``.

``train`` runs what ``noisylabels train`` runs (the same checks, the same run folder); a :class:`Run` reads a
finished run folder: its typed summary fields, its label issues, its exported classifier and
``Run.predict(images)``. Errors name the parameters (``epochs``), not the command line's flags.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .data.given import plain_array
from .errors import UserError, as_parameters
from .runs import CONFIG, LABEL_ISSUES, SUMMARY, RunFolder, atomic_write_bytes

ARRAYS_FILE = "arrays.npz"  # arrays given to train(), kept in the run folder so that the run can be resumed
ARRAY_KEYS = ("images", "labels", "test_images", "test_labels", "class_names")


@dataclass(frozen=True)
class Run:
    """A finished run folder.

    path: the folder; method, dataset: as trained; test_accuracy, best_test_accuracy: on its test set (None
    when it has none); noise_rate_actual: the share of training labels the run's noise changed (0 when it added
    none; None for the user's own ``labels`` file, whose truth is unknown); noise_rate_estimated: the flagged share; num_flagged:
    labels flagged; class_names: index = class; summary: every figure of summary.json."""

    path: Path
    method: str
    dataset: str
    test_accuracy: float | None
    best_test_accuracy: float | None
    noise_rate_actual: float | None
    noise_rate_estimated: float | None
    num_flagged: int
    class_names: list[str]
    summary: dict[str, Any] = field(repr=False)

    def label_issues(self) -> list[dict[str, Any]]:
        """The run's label issues, most suspect first: one dict per training sample with the columns of
        label_issues.csv (index, given_label, predicted_label, label_quality, is_label_issue, suggested_label,
        ...), numbers as numbers."""
        from .review.apply import read_issue_rows  # the one reader of label_issues.csv (UserError on damage)

        return [{k: _typed(k, v) for k, v in row.items()} for row in read_issue_rows(self.path / LABEL_ISSUES)]

    def model(self) -> Any:
        """The exported classifier (a ``torch.export`` program's module): uint8 images (B, H, W, C) -> probabilities (B, K)."""
        from .export import load_model

        return load_model(self.path)[0]

    def predict(self, images: Any, *, batch_size: int = 512) -> np.ndarray:
        """Probabilities float32 (N, K) over :attr:`class_names`. ``images``: uint8 (N, H, W) or (N, H, W, C)
        (resized and converted to the run's shape where they differ), or a dataset spec / folder / image file
        as ``noisylabels predict --images`` takes."""
        from .app.predict import predict
        from .data._images import image_array, resize_all
        from .export import load_model, predict_with

        if isinstance(images, (str, Path)):
            return predict(self.path, str(images), batch_size=batch_size).probs
        module, info = load_model(self.path)
        arr = plain_array(images, "images")
        if arr.ndim == 3 and arr.shape[-1] in (1, 3) and arr.shape[1:] != info.image_shape[:2]:
            raise UserError(f"images of shape {arr.shape}: one image (H, W, C) or {len(arr)} images (N, H, W)? give "
                            "(N, H, W) or (N, H, W, C); one image as images[None]")
        arr = image_array(arr, "images")
        if arr.shape[1:] != info.image_shape:
            arr = resize_all(arr, info.image_shape[0], info.image_shape[2])
        return predict_with(module, arr, batch_size, len(info.class_names))


def _typed(key: str, value: str) -> Any:
    if key == "is_label_issue":
        return value == "True"
    if key.endswith(("_label", "index")) and value.lstrip("-").isdigit():
        return int(value)
    if key.endswith(("_quality", "_probability")):
        return float(value)
    return value


def load_run(path: str | Path) -> Run:
    """The finished run in ``path`` (its summary.json and config.yaml)."""
    if not isinstance(path, (str, Path)):
        raise UserError(f"load_run needs a run folder's path (str or Path), got {type(path).__name__}")
    folder = RunFolder(path)
    if not (folder.path / SUMMARY).is_file():
        raise UserError(f"no finished run in {folder.path} (no {SUMMARY}); give the folder a train run wrote")
    s = folder.read_json(SUMMARY)
    cfg = folder.read_yaml(CONFIG) if (folder.path / CONFIG).is_file() else {}
    names = s.get("class_names") or [c.get("name") for c in (s.get("class_summary") or {}).get("per_class", [])]
    flagged = sum(int(c.get("flagged", 0)) for c in (s.get("class_summary") or {}).get("per_class", []))
    return Run(folder.path, str(s.get("method", cfg.get("method"))), str(s.get("dataset", cfg.get("dataset"))),
               s.get("test_accuracy"), s.get("best_test_accuracy"), s.get("noise_rate_actual"),
               s.get("noise_rate_estimated"), flagged, [str(n) for n in names], s)


def _arrays_spec(data: Any, out: Path) -> str:
    """``data`` as a dataset spec: a spec string as is; arrays (images, labels) or a mapping with ``images``,
    ``labels`` [, ``test_images``, ``test_labels``, ``class_names``] saved to ``out``/arrays.npz."""
    if isinstance(data, (str, Path)):
        return str(data)
    if isinstance(data, tuple) and len(data) == 2:
        data = {"images": data[0], "labels": data[1]}
    if not isinstance(data, Mapping) or not {"images", "labels"} <= set(data):
        raise UserError("data must be a dataset spec ('fashion-mnist', 'folder:PATH', ...), a tuple (images, labels) "
                        "or a mapping with images and labels")
    unknown = sorted(str(k) for k in set(data) - set(ARRAY_KEYS))
    if unknown:  # a misspelt 'tst_images' would train without a test set
        raise UserError(f"data has key(s) {', '.join(map(repr, unknown))}; its keys: {', '.join(ARRAY_KEYS)}")
    buf = io.BytesIO()
    np.savez(buf, **{k: plain_array(v, f"data[{k!r}]") for k, v in data.items()})
    atomic_write_bytes(out / ARRAYS_FILE, buf.getvalue())
    return f"npz:{out / ARRAYS_FILE}"


def train(data: Any, *, method: str = "ce", epochs: int = 20, out: str | Path | None = None, noise: str = "none",
          noise_rate: float | None = None, seed: int = 0, overwrite: bool = False, progress: bool = False,
          method_options: Mapping[str, Any] | None = None, **options: Any) -> Run:
    """Train ``method`` on ``data`` into the run folder ``out`` (a new temporary folder when None) and return
    the finished :class:`Run`.

    Args:
        data: a dataset spec as ``--dataset`` takes, a tuple (images uint8 (N, H, W[, C]), labels int (N,)), or
            a mapping with those and optionally ``test_images``, ``test_labels``, ``class_names``.
        method, epochs, noise, noise_rate, seed: as the command line's options; ``method_options``: the
            method's own options by name (``{"temperature": 0.3}``); ``options``: any other train option by
            its name (``batch_size=64``, ``backbone="resnet18"``, ``labels="my_labels.csv"``).
        overwrite: replace a run already in ``out``; progress: print each epoch's line.
    Bad input raises ``noisylabels.errors.UserError`` naming the parameter; nothing is written then.
    """
    from .app.run import run_train
    from .config import TRAIN_DEFAULTS

    unknown = sorted(set(options) - set(TRAIN_DEFAULTS) | ({"dataset", "method_options"} & set(options)))
    if unknown:
        raise UserError(f"train() has no option(s) {', '.join(unknown)}; its options: "
                        f"{', '.join(k for k in TRAIN_DEFAULTS if k != 'method_options')}")
    made = out is None or not Path(out).exists()  # a folder this call makes goes again if it fails
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="noisylabels-run-"))
    arrays = folder / ARRAYS_FILE
    earlier = arrays.read_bytes() if arrays.is_file() else None
    try:
        RunFolder(folder).check_writable(resume=False, overwrite=overwrite)
        config = {"dataset": _arrays_spec(data, folder), "method": method, "epochs": epochs, "noise": noise,
                  "noise_rate": noise_rate, "seed": seed, "method_options": dict(method_options or {}),
                  "progress": progress, **options}
        run_train(config, folder, overwrite=overwrite, log=print if progress else (lambda _line: None))
    except BaseException as e:  # nothing of this call is left: the arrays it saved go, an earlier run's come back
        if made:
            shutil.rmtree(folder, ignore_errors=True)
        elif earlier is not None:
            atomic_write_bytes(arrays, earlier)
        else:
            arrays.unlink(missing_ok=True)
        if isinstance(e, UserError):
            raise UserError(as_parameters(str(e)).replace(str(arrays), "data")) from None
        raise
    return load_run(folder)
