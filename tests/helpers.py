"""Plain helpers shared by the test modules (imported as ``tests.helpers``; the fixtures built on them
are in ``tests/conftest.py``).

* the CLI in-process (``cli``) and README's promise for a user error: exit code 2, exactly one line on
  stderr, no traceback (``one_line_error``, ``user_error``), and an earlier output left byte-identical
  (``snapshot``, ``copy_of``); ``Reached``, the stop that the ``attempt_train`` fixture puts in place of
  training;
* tiny synthetic training sets and methods for the engine and method tests (``random_train_data``,
  ``stripe_train_data``, ``tiny_method``), unit vectors for the loss tests;
* the smallest settings of a digits run (``FAST``, ``digits_config``, ``QUIET``) and an image writer;
* tiny trees in the real layouts of mini-WebVision, ImageNet's validation set and Clothing1M
  (``webvision_tree``, ``imagenet_val_tree``, ``clothing1m_tree``)."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from noisylabels.cli import main
from noisylabels.data.augment import ViewConfig
from noisylabels.methods import TrainData, get_method
from noisylabels.models.backbones import build_backbone

ROOT = Path(__file__).resolve().parents[1]  # the repository: configs/, benchmarks/

# the smallest training settings: every accidental success trains one short epoch at most
TINY = ["--width", "8", "--batch-size", "64", "--quiet"]
FAST = ["--epochs", "1", *TINY]

QUIET: dict[str, Callable[[str], None]] = {"log": lambda s: None}  # run_train(..., **QUIET) prints nothing


# -- the command line ---------------------------------------------------------------------------------
def cli(*argv: Any) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``noisylabels ARGV``; argparse's own exits count as return codes.
    An uncaught exception propagates, so a crash fails the test with its traceback."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def one_line_error(*argv: Any) -> str:
    """Run ``noisylabels ARGV``; assert exit 2, no traceback and one 'noisylabels: error:' line; return it."""
    rc, _, err = cli(*argv)
    lines = err.strip().splitlines()
    assert rc == 2, f"exit {rc}, stderr: {err}"
    assert len(lines) == 1 and lines[0].startswith("noisylabels: error:"), err
    assert "Traceback" not in err
    return lines[0]


def user_error(argv: list, needle: str) -> str:
    """Run ``argv``; assert exit 2 and one 'noisylabels: error:' line holding ``needle`` (case-blind)."""
    line = one_line_error(*argv)
    assert needle.lower() in line.lower(), line
    return line


class Reached(Exception):
    """Raised instead of training (the ``attempt_train`` fixture): every check passed and training was
    called with these arguments (method, data, FitConfig)."""


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_of(template: Path, dest: Path) -> tuple[Path, dict[str, bytes]]:
    """A fresh copy of an earlier output and its snapshot."""
    shutil.copytree(template, dest)
    return dest, snapshot(dest)


def digits_config(**overrides: Any) -> dict[str, Any]:
    """A run_train configuration on scikit-learn's digits at the small settings (width 8, batch 64, seed 0,
    no progress bar), with ``overrides`` applied."""
    return {"dataset": "digits", "width": 8, "batch_size": 64, "seed": 0, "progress": False, **overrides}


# -- tiny synthetic training sets and methods ---------------------------------------------------------
def random_train_data(n: int, side: int, channels: int, n_test: int, views: ViewConfig) -> TrainData:
    """``n`` random uint8 images (side x side x channels) with random labels of 3 classes (torch generator
    seed 0); the first ``n_test`` serve as the test set. Not learnable: for single training steps."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, side, side, channels), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 3, (n,), generator=g)
    return TrainData(images=images, labels=labels, true_labels=labels.clone(), test_images=images[:n_test],
                     test_labels=labels[:n_test], num_classes=3, views=views)


def stripe_train_data(n: int = 96) -> TrainData:
    """A learnable 3-class problem of 8 x 8 grey images: each class has its own bright stripe (numpy seed 0);
    the first 32 images serve as the test set."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, n)
    images = (rng.random((n, 8, 8, 1)) * 60).astype(np.uint8)
    for c in range(3):  # a class-dependent bright stripe: learnable
        images[labels == c, :, c * 2:c * 2 + 2, 0] += 150
    t = torch.from_numpy
    return TrainData(images=t(images), labels=t(labels), true_labels=t(labels), test_images=t(images[:32]),
                     test_labels=t(labels[:32]), num_classes=3,
                     views=ViewConfig(crop_pad=1, flip=False, mean=(0.3,), std=(0.3,)))


def tiny_method(name: str, num_train: int, *, channels: int = 1, side: int = 8, width: int = 4, **options: Any):
    """Method ``name`` on a small-cnn encoder (torch seed 0) for 3 classes and ``num_train`` samples."""
    torch.manual_seed(0)
    cls = get_method(name)
    encoder = build_backbone("small-cnn", in_channels=channels, image_size=side, width=width)
    return cls(encoder, 3, num_train, cls.Options(**options))


def unit_vectors(b: int, d: int, seed: int) -> torch.Tensor:
    """``b`` random unit vectors of dimension ``d`` (torch generator ``seed``)."""
    return torch.nn.functional.normalize(torch.randn(b, d, generator=torch.Generator().manual_seed(seed)), dim=1)


# -- files ----------------------------------------------------------------------------------------------
def write_png(path: Path, size: tuple[int, int] = (8, 8), mode: str = "L", color: int | tuple = 100) -> Path:
    """A flat image of ``size`` in ``mode`` at ``path`` (parents made); an int ``color`` fills every channel."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(color, int) and mode not in ("L", "I;16"):
        color = tuple([color] * len(mode))
    Image.new(mode, size, color).save(path)
    return path


def image_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 10) -> str:
    """A tiny ``folder:`` source under ``root``: one sub-folder a class, 8 x 8 grey PNGs with distinct
    grey levels per class and image; returns the --dataset value."""
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("L", (8, 8), 40 + 150 * c + 3 * i).save(root / name / f"{i}.png")
    return f"folder:{root}"


# -- tiny trees in the real layouts of the list sources ---------------------------------------------------
SYNSETS = [f"n{10_000_000 + 7 * i:08d}" for i in range(60)]  # WebVision's synsets.txt: line i = class i


def _jpeg(path: Path, label: int, k: int, size: tuple[int, int] = (40, 30)) -> None:
    """A flat RGB JPEG at ``path`` (parents made) whose colour depends on its class and index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, ((37 * label) % 256, (255 - 53 * label) % 256, (40 * k) % 256)).save(path)


def _lines(path: Path, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(r + "\n" for r in rows))


def webvision_tree(root: Path, labels: Any = range(50), per_class: int = 2, val_per_class: int = 1) -> Path:
    """A tiny mini-WebVision under ``root`` in WebVision 1.0's layout: ``google/q<label>/<k>.jpg`` listed
    in ``info/train_filelist_google.txt``, ``val_images_256/val<label>_<k>.jpg`` in ``info/val_filelist.txt``
    and ``info/synsets.txt`` (:data:`SYNSETS`). ``labels``: the classes that get images (mini-WebVision
    keeps 0..49; give others to see them left out). Returns ``root``."""
    train, val = [], []
    for label in labels:
        for k in range(per_class):
            rel = f"google/q{label:04d}/{k}.jpg"
            _jpeg(root / rel, label, k)
            train.append(f"{rel} {label}")
        for k in range(val_per_class):
            rel = f"val{label}_{k}.jpg"
            _jpeg(root / "val_images_256" / rel, label, k + 3)
            val.append(f"{rel} {label}")
    _lines(root / "info" / "train_filelist_google.txt", train)
    _lines(root / "info" / "val_filelist.txt", val)
    _lines(root / "info" / "synsets.txt", [f"{s} class {i}" for i, s in enumerate(SYNSETS)])
    return root


def imagenet_val_tree(root: Path, layout: str, classes: Any = range(52), per_class: int = 1) -> Path:
    """ImageNet validation images of the synsets ``SYNSETS[c]`` for c in ``classes`` (52 by default: two
    outside mini-WebVision's 50) under ``root``: ``layout`` ``"folders"`` (``val/<synset>/*.JPEG``) or
    ``"kaggle"`` (``ILSVRC2012_val_*.JPEG`` in ``root`` and ``LOC_val_solution.csv``). Returns ``root``."""
    rows, n = [], 0
    for c in classes:
        for k in range(per_class):
            n += 1
            image = f"ILSVRC2012_val_{n:08d}"
            if layout == "folders":
                _jpeg(root / "val" / SYNSETS[c] / f"{image}.JPEG", c, k + 5, (50, 44))
            else:
                _jpeg(root / f"{image}.JPEG", c, k + 5, (50, 44))
                rows.append(f"{image},{SYNSETS[c]} 12 30 200 180 {SYNSETS[c]} 1 2 3 4")
    if layout == "kaggle":
        _lines(root / "LOC_val_solution.csv", ["ImageId,PredictionString", *rows])
    return root


def clothing1m_tree(root: Path, per_class: int = 2, test_per_class: int = 1) -> Path:
    """A tiny Clothing1M under ``root`` in its layout: ``images/<k>/<i>.jpg`` of the 14 classes, the noisy
    training set (``noisy_train_key_list.txt`` + ``noisy_label_kv.txt``) and the clean test set
    (``clean_test_key_list.txt`` + ``clean_label_kv.txt``). Returns ``root``."""
    noisy, train, clean, test = [], [], [], []
    for c in range(14):
        for k in range(per_class + test_per_class):
            rel = f"images/{k % 10}/{c}_{k}.jpg"
            _jpeg(root / rel, c, k)
            if k < per_class:
                noisy.append(f"{rel} {c}")
                train.append(rel)
            else:
                clean.append(f"{rel} {c}")
                test.append(rel)
    for name, rows in (("noisy_label_kv.txt", noisy), ("noisy_train_key_list.txt", train),
                       ("clean_label_kv.txt", clean), ("clean_test_key_list.txt", test)):
        _lines(root / name, rows)
    return root


def corrected_labels(folder: Path) -> dict[int, str]:
    """apply-review's corrected_labels.csv in ``folder``: {source index: label as written}."""
    import csv

    with open(Path(folder) / "corrected_labels.csv", newline="") as f:
        return {int(r["index"]): r["label"] for r in csv.DictReader(f)}


def by_source_index(labels: np.ndarray, source_index: np.ndarray) -> dict[int, str]:
    """Labels (N,) in training order as {source index: label text}, as corrected_labels.csv keys them."""
    return {int(s): str(int(y)) for s, y in zip(source_index, labels)}


def memory_store(images: torch.Tensor, max_batch: int | None = None):
    """An ImageStore (bound to the CPU) over ``images`` (N, H, W, C) uint8, standing in for a streamed folder:
    it records the batches announced (``announced``, by ``prefetch``) and asked for (``asked``), and refuses
    a request of more than ``max_batch`` images at once (a whole set decoded in one piece)."""
    from noisylabels.data.store import ImageStore

    class Store(ImageStore):
        device = torch.device("cpu")

        def __init__(self, data: torch.Tensor) -> None:
            self.data, self.announced, self.asked = data, [], []

        @property
        def shape(self):
            return tuple(self.data.shape)

        def __len__(self) -> int:
            return len(self.data)

        def __getitem__(self, key):
            idx = torch.arange(len(self.data))[key] if isinstance(key, slice) else torch.as_tensor(key).reshape(-1)
            if max_batch is not None and len(idx) > max_batch:
                raise AssertionError(f"{len(idx)} images decoded at once")
            self.asked.append(idx.tolist())
            return self.data[idx]

        def to(self, device):
            return self

        def subset(self, idx):
            return Store(self.data[torch.as_tensor(idx)])

        def prefetch(self, batches) -> None:
            self.announced += [b.tolist() for b in batches]

    return Store(images)
