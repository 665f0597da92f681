"""``noisylabels predict``: a trained run's classifier on new images -> one CSV row per image.

The images are read at the model's own decoded shape (side and channels), whatever their files are, with
the decoder of training (``data._images``): a dataset spec as ``train`` takes (``fashion-mnist``,
``folder:PATH``, ``csv:PATH``, ``npz:PATH``, ...; its test split where it has one, else every sample, with
the source's labels to score against), or a plain folder / image file (every image under it, no labels).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data._images import decode_all, resize_all
from ..data._text import shown
from ..data.dataset import ArrayDataset
from ..data.files import FileList, folder_files, list_csv, list_folder
from ..data.sources import SOURCE_NAMES, SPEC_KINDS, check_spec_path, load_source
from ..errors import UserError
from ..export import ModelInfo, load_model, predict_with
from ..runs import atomic_write_bytes

TOP = 5
SPLITS = ("auto", "train", "test")


@dataclass(frozen=True)
class Predictions:
    """probs: float32 (N, K) over the model's classes; paths: one per image (file sources) or None;
    given: int64 (N,) the source's labels mapped to the model's classes (-1 where a label is not one of
    them), or None when the source has no labels."""

    probs: np.ndarray
    class_names: list[str]
    paths: list[str] | None
    given: np.ndarray | None

    @property
    def accuracy(self) -> float | None:
        """Share of the labelled images (given >= 0) whose most probable class is their label."""
        if self.given is None or not (self.given >= 0).any():
            return None
        known = self.given >= 0
        return float(np.mean(self.probs[known].argmax(1) == self.given[known]))


def _plain_files(path: Path) -> list[Path]:
    """Every image file under a folder (sorted, recursive), or the one file."""
    if path.is_file():
        return [path]
    files, _ = folder_files(path)
    if not files:
        raise UserError(f"no image files under {shown(str(path))} (images are named .png, .jpg, .webp, .tif, ...)")
    return files


def _plain_path(spec: str) -> bool:
    """Whether ``spec`` is a plain folder or file: it exists and starts with no source kind ('col:dir' is a path,
    'npz:x' a source)."""
    return (":" not in spec or spec.partition(":")[0] not in SPEC_KINDS) and Path(spec).exists()


def _listing(spec: str) -> FileList | None:
    """The file listing a spec names (folder:/csv:, or a plain folder or file), None for array sources."""
    if spec.startswith("folder:"):
        return list_folder(spec[len("folder:"):])
    if spec.startswith("csv:"):
        return list_csv(spec[len("csv:"):])
    if _plain_path(spec):
        files = _plain_files(Path(spec))
        return FileList(files, np.full(len(files), -1, dtype=np.int64), [], spec)
    return None


def _mapped(labels: np.ndarray, names: list[str], info: ModelInfo) -> np.ndarray:
    """The source's labels as the model's class indices, by class name (-1: not a class of the model)."""
    index = {n: i for i, n in enumerate(info.class_names)}
    table = np.array([index.get(n, -1) for n in names] + [-1], dtype=np.int64)
    return table[np.where(labels >= 0, labels, len(names))]


def read_images(spec: str, info: ModelInfo, split: str = "auto", skip_bad: bool = False
                ) -> tuple[np.ndarray, list[str] | None, np.ndarray | None]:
    """(uint8 images (N, H, W, C) at the model's shape, their paths or None, labels as the model's class
    indices or None) of ``spec``. ``split``: auto (the source's test split where it has one, else all), train
    or test."""
    if split not in SPLITS:
        raise UserError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    h, _, c = info.image_shape
    check_spec_path(spec)
    if not spec.strip():
        raise UserError("no images named: give a folder, an image file or a dataset spec")
    if ":" not in spec and spec not in SOURCE_NAMES and not Path(spec).exists():
        raise UserError(f"{shown(spec)} not found: give an existing folder or image file, or a dataset spec "
                        f"({', '.join(SOURCE_NAMES)}, folder:PATH, csv:PATH, npz:PATH)")
    files = spec.startswith(("folder:", "csv:")) or _plain_path(spec)
    if files and split == "test":
        raise UserError(f"{spec} has no test split of its own; drop --split (every image is predicted)")
    listing = _listing(spec) if files else None
    if listing is not None:
        images, kept = decode_all(listing.paths, h, c, skip_bad)
        paths = [str(listing.paths[i]) for i in kept]
        given = None if not listing.class_names else _mapped(listing.labels[kept], listing.class_names, info)
        return images, paths, given
    train, test = load_source(spec)
    if split == "test" and test is None:
        raise UserError(f"{spec} has no test split of its own; pass --split train")
    ds: ArrayDataset = test if (split in ("auto", "test") and test is not None) else train
    images = np.asarray(ds.images)
    if images.shape[1:] != info.image_shape:
        images = resize_all(images, h, c)
    return images, None, _mapped(ds.labels, ds.class_names, info)


def predict(model: str | Path, spec: str, *, split: str = "auto", skip_bad: bool = False,
            batch_size: int = 512) -> Predictions:
    """The exported classifier of ``model`` (a run folder or its model.pt) on the images ``spec`` names."""
    module, info = load_model(model)
    images, paths, given = read_images(spec, info, split, skip_bad)
    probs = predict_with(module, images, batch_size, len(info.class_names))
    return Predictions(probs, list(info.class_names), paths, given)


def predictions_csv(pred: Predictions, top: int = TOP) -> bytes:
    """One row per image: index, path, predicted_label, predicted_class, probability, the ``top`` classes and
    their probabilities (';'-separated, most probable first) and the given class where the source has one."""
    k = min(top, pred.probs.shape[1])
    order = np.argsort(-pred.probs, axis=1, kind="stable")[:, :k]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "path", "predicted_label", "predicted_class", "probability", "top_classes",
                "top_probabilities", "given_class"])
    names = pred.class_names
    for i, row in enumerate(order):
        given = "" if pred.given is None or pred.given[i] < 0 else names[pred.given[i]]
        w.writerow([i, pred.paths[i] if pred.paths else "", int(row[0]), names[row[0]], f"{pred.probs[i, row[0]]:.6f}",
                    ";".join(names[j] for j in row), ";".join(f"{pred.probs[i, j]:.6f}" for j in row), given])
    return buf.getvalue().encode("utf-8")


def predict_to_csv(model: str | Path, spec: str, out: str | Path, *, split: str = "auto", skip_bad: bool = False,
                   overwrite: bool = False) -> Predictions:
    """:func:`predict`, written to the CSV ``out`` (:func:`predictions_csv`); an existing ``out`` is kept
    unless ``overwrite``; nothing is written when the inputs are refused."""
    out = Path(out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / 'predictions.csv'}")
    if out.exists() and not overwrite:
        raise UserError(f"--out {out} exists; pass --overwrite to replace it or choose another file")
    pred = predict(model, spec, split=split, skip_bad=skip_bad)
    atomic_write_bytes(out, predictions_csv(pred))
    return pred
