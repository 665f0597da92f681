"""Dataset readers: every source returns uint8 images N x H x W x C, int labels and class names.

Sources (``--dataset``): ``digits`` (scikit-learn's bundled 8x8 digits), ``fashion-mnist`` (idx files,
Debian package ``dataset-fashion-mnist``), ``cifar10`` / ``cifar100`` (python pickles),
``folder:PATH``, ``csv:PATH``, ``npz:PATH``, and the list files of ``webvision:ROOT`` (mini-WebVision)
and ``clothing1m:ROOT``. File-based sources are decoded into memory or streamed from disk
(``--stream``). Nothing is ever downloaded.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..safeload import UnsafePickle, unpickle_arrays
from ._images import resize_all
from ._text import shown
from .files import (FileList, check_class_names, check_classes_present, file_identity, is_file, list_clothing1m,
                    list_csv, list_folder, list_webvision)
from .imagenet_val import list_imagenet_val
from .streaming import StreamingImages
from .dataset import ArrayDataset, DataSplits

SOURCE_NAMES = ("digits", "fashion-mnist", "cifar10", "cifar100")
SPEC_KINDS = ("folder", "csv", "npz", "webvision", "clothing1m")  # KIND:PATH sources
FILE_SOURCE_PREFIXES = ("folder:", "csv:", "webvision:", "clothing1m:")  # sources of image files
SOURCE_PREFIXES = ("folder:", "csv:", "npz:", "webvision:", "clothing1m:")
LIST_SOURCE_SIZE = 224  # default side of mini-WebVision / Clothing1M images (the papers' crop size)
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot"]
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


def load_digits_source() -> tuple[ArrayDataset, ArrayDataset]:
    """scikit-learn's 1,797 8x8 digits (values 0..16 -> 0..255), fixed stratified 80/20 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    images = np.round(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[..., None]
    idx = np.arange(len(images))
    tr, te = train_test_split(idx, test_size=0.2, stratify=d.target, random_state=0)
    names = [str(c) for c in range(10)]
    full = ArrayDataset(images, d.target, names)
    return full.subset(np.sort(tr)), full.subset(np.sort(te))


def read_idx(path: Path) -> np.ndarray:
    """An idx file (optionally .gz): magic 0x0000 08 NDIM, big-endian int32 dims, uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise UserError(f"cannot read {shown(path)}: {e}; the file may be damaged, reinstall it") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError(f"{shown(path)} is not a uint8 idx file (bad magic number)")
    ndim = raw[3]
    dims = struct.unpack(">" + "i" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).copy()
    if data.size != int(np.prod(dims)):
        raise UserError(f"{shown(path)} is truncated: expected {int(np.prod(dims))} values, found {data.size}")
    return data.reshape(dims)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (directory / name).exists():
            return directory / name
    raise UserError(
        f"Fashion-MNIST file {directory / (stem + '.gz')} not found; install it with "
        f"'sudo apt-get install dataset-fashion-mnist' or pass --data-dir DIR holding the four idx files"
    )


def load_fashion_mnist(data_dir: str | None) -> tuple[ArrayDataset, ArrayDataset]:
    """60,000 train / 10,000 test 28x28 grayscale images from the four idx files."""
    d = Path(data_dir or FASHION_MNIST_DIR)
    parts = []
    for split in ("train", "t10k"):
        images = read_idx(_find(d, f"{split}-images-idx3-ubyte"))
        labels = read_idx(_find(d, f"{split}-labels-idx1-ubyte"))
        if images.ndim != 3 or len(images) != len(labels):
            raise UserError(f"Fashion-MNIST {split} files in {d} do not match ({len(images)} images, {len(labels)} "
                            "labels)")
        parts.append(ArrayDataset(np.ascontiguousarray(images[..., None]), labels.astype(np.int64),
                                  list(FASHION_MNIST_CLASSES)))
    return parts[0], parts[1]


def _unpickle(path: Path) -> dict:
    if not path.exists():
        raise UserError(f"CIFAR file {shown(path)} not found; unpack the 'python version' archive from {CIFAR_URL} "
                        "into the folder given with --data-dir")
    try:
        return unpickle_arrays(path)
    except UnsafePickle as e:
        raise UserError(f"CIFAR file {shown(path)} holds pickled objects other than arrays ({e}), which could run code; "
                        "refused: download it again") from None
    except Exception as e:
        raise UserError(f"cannot read CIFAR file {shown(path)} ({type(e).__name__}); download it again") from None


def _cifar_rows(batch: dict, key: bytes) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(data), np.asarray(batch[key], dtype=np.int64)


def load_cifar(name: str, data_dir: str | None) -> tuple[ArrayDataset, ArrayDataset]:
    """CIFAR-10 (data_batch_1..5, test_batch) or CIFAR-100 (train, test; fine labels), 32x32 RGB."""
    folder = "cifar-10-batches-py" if name == "cifar10" else "cifar-100-python"
    if not data_dir:
        raise UserError(f"{name} needs --data-dir DIR holding {folder}/ (the 'python version' from {CIFAR_URL})")
    d = Path(data_dir)
    d = d / folder if (d / folder).is_dir() else d
    if name == "cifar10":
        batches = [_unpickle(d / f"data_batch_{i}") for i in range(1, 6)]
        rows = [_cifar_rows(b, b"labels") for b in batches]
        train = (np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows]))
        test = _cifar_rows(_unpickle(d / "test_batch"), b"labels")
        names = [n.decode() for n in _unpickle(d / "batches.meta")[b"label_names"]]
    else:
        train = _cifar_rows(_unpickle(d / "train"), b"fine_labels")
        test = _cifar_rows(_unpickle(d / "test"), b"fine_labels")
        names = [n.decode() for n in _unpickle(d / "meta")[b"fine_label_names"]]
    return ArrayDataset(*train, names), ArrayDataset(*test, names)


def _as_uint8_images(arr: np.ndarray, path: str, key: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise UserError(f"{shown(path)}: '{key}' must be N x H x W or N x H x W x C (C = 1 or 3), got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating) and arr.size and 0.0 <= arr.min() and arr.max() <= 1.0:
        return np.round(arr * 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer) and arr.size and 0 <= arr.min() and arr.max() <= 255:
        return arr.astype(np.uint8)
    raise UserError(f"{shown(path)}: '{key}' must be uint8, integers in 0..255 or floats in [0, 1]; got {arr.dtype}")


def load_npz(path: str) -> tuple[ArrayDataset, ArrayDataset | None]:
    """Arrays ``images``, ``labels`` [, ``test_images``, ``test_labels``, ``class_names``]."""
    if not is_file(Path(path)):
        raise UserError(f"npz file {shown(path)} not found ({file_identity(Path(path))[1]})")
    try:
        z = np.load(path, allow_pickle=False)
        arrays = {k: z[k] for k in z.files}
    except Exception as e:
        raise UserError(f"cannot read {shown(path)} as a numpy .npz file ({type(e).__name__})") from None
    missing = [k for k in ("images", "labels") if k not in arrays]
    if missing:
        raise UserError(f"{shown(path)} lacks array(s) {', '.join(missing)}; found: "
                        f"{', '.join(sorted(arrays)) or 'none'}")
    if ("test_images" in arrays) != ("test_labels" in arrays):
        given, lacking = ("test_images", "test_labels") if "test_images" in arrays else ("test_labels", "test_images")
        raise UserError(f"{shown(path)} holds '{given}' but no '{lacking}'; give both or neither")
    labels = _int_labels(arrays["labels"], path, "labels")
    test_labels = _int_labels(arrays["test_labels"], path, "test_labels") if "test_labels" in arrays else None
    top = int(max(labels.max(initial=0), test_labels.max(initial=0) if test_labels is not None else 0))
    if len(labels) and top >= len(labels) + (0 if test_labels is None else len(test_labels)):  # before top + 1 names
        raise UserError(f"{shown(path)}: class index {top} with {len(labels)} labels: some classes have no samples; "
                        "number the classes 0..C-1 without gaps")
    names = _class_names(arrays["class_names"], top + 1, path) if "class_names" in arrays else \
        [str(i) for i in range(top + 1)]
    for images_key, labels_key in (("images", "labels"), ("test_images", "test_labels")):
        if images_key in arrays and labels_key in arrays and len(arrays[images_key]) != len(arrays[labels_key]):
            raise UserError(f"{shown(path)}: '{images_key}' holds {len(arrays[images_key])} images but '{labels_key}' "
                            f"{len(arrays[labels_key])} labels; give one label per image")
    train = ArrayDataset(_as_uint8_images(arrays["images"], path, "images"), labels, names)
    test = None
    if "test_images" in arrays and test_labels is not None:
        test = ArrayDataset(_as_uint8_images(arrays["test_images"], path, "test_images"), test_labels, names)
    return train, test


def _class_names(arr: np.ndarray, at_least: int, path: str) -> list[str]:
    """An npz's ``class_names``: a 1-D array of at least ``at_least`` distinct names (not one string);
    names saved as bytes are read as UTF-8 text."""
    arr = np.asarray(arr)
    if arr.ndim != 1 or arr.dtype.kind not in "US" or len(arr) < at_least:
        raise UserError(f"{shown(path)}: 'class_names' must be a 1-D array of {at_least} or more names, one per class "
                        f"(got {arr.dtype} of shape {arr.shape}); save it as numpy.array(['cat', 'dog', ...])")
    try:
        names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in arr.tolist()]
    except UnicodeDecodeError:
        raise UserError(f"{shown(path)}: 'class_names' holds bytes that are not UTF-8 text; save the names as text "
                        "(numpy.array(['cat', 'dog', ...]))") from None
    check_class_names(names, np.ones(len(names)), path)
    return names


def _int_labels(arr: np.ndarray, path: str, key: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer) or (arr.size and arr.min() < 0):
        raise UserError(f"{shown(path)}: '{key}' must be a 1-D array of non-negative integers, got {arr.dtype} "
                        f"{arr.shape}")
    return arr.astype(np.int64)


def check_spec_path(spec: str) -> None:
    """UserError where a ``KIND:PATH`` source spec names no path (``folder:`` alone would read the current
    folder)."""
    kind, sep, rest = spec.partition(":")
    if sep and kind in SPEC_KINDS and not rest.strip():
        raise UserError(f"{spec!r} names no path; write {kind}:PATH")


def load_source(spec: str, *, data_dir: str | None = None, image_size: int | None = None,
                skip_bad_images: bool = False, stream: str = "auto") -> tuple[ArrayDataset, ArrayDataset | None]:
    """(train, the source's own test split or None) for a ``--dataset`` spec.

    ``skip_bad_images`` leaves unreadable files out (listed in ``skipped_paths``); ``stream`` is
    ``auto`` / ``on`` / ``off`` for file-based sources (auto: stream when they would not fit in memory).
    """
    check_spec_path(spec)
    if spec == "digits":
        return load_digits_source()
    if spec == "fashion-mnist":
        return load_fashion_mnist(data_dir)
    if spec in ("cifar10", "cifar100"):
        return load_cifar(spec, data_dir)
    if spec.startswith("folder:"):
        return list_folder(spec[len("folder:"):]).load(image_size, skip_bad_images, stream), None
    if spec.startswith("csv:"):
        return list_csv(spec[len("csv:"):]).load(image_size, skip_bad_images, stream), None
    for prefix, lister in (("webvision:", list_webvision), ("clothing1m:", list_clothing1m)):
        if spec.startswith(prefix):
            root, size = spec[len(prefix):], image_size or LIST_SOURCE_SIZE
            return tuple(lister(root, split).load(size, skip_bad_images, stream) for split in ("train", "test"))
    if spec.startswith("npz:"):
        return load_npz(spec[len("npz:"):])
    raise UserError(f"unknown dataset {spec!r}; choose one of {', '.join(SOURCE_NAMES)} "
                    f"or folder:PATH, csv:PATH, npz:PATH, webvision:ROOT, clothing1m:ROOT")


def _check(ds: ArrayDataset, what: str) -> None:
    if len(ds) == 0:
        raise UserError(f"the {what} set is empty")
    if ds.labels.min() < 0 or ds.labels.max() >= ds.num_classes:
        raise UserError(f"{what} labels must lie in [0, {ds.num_classes}), found {ds.labels.min()}..{ds.labels.max()}")


def _align_test(test: ArrayDataset, train: ArrayDataset) -> ArrayDataset:
    """Map test class names onto the training classes and match image size/channels."""
    if test.class_names != train.class_names:
        index = {n: i for i, n in enumerate(train.class_names)}
        unknown = sorted(set(test.class_names) - set(index))
        if unknown:
            raise UserError(f"test classes {', '.join(map(shown, unknown[:5]))} do not occur in the training data")
        remap = np.array([index[n] for n in test.class_names])
        test = ArrayDataset(test.images, remap[test.labels], list(train.class_names), test.paths, test.source_index,
                            test.skipped_paths, test.passed_over)
    if tuple(test.images.shape[1:]) != tuple(train.images.shape[1:]):
        h, w, c = train.images.shape[1:]
        if isinstance(test.images, StreamingImages):
            images = StreamingImages(test.images.paths, h, c)
        else:
            images = resize_all(test.images, h, c)
        test = ArrayDataset(images, test.labels, test.class_names, test.paths, test.source_index,
                            test.skipped_paths, test.passed_over)
    return test


def load_splits(spec: str, *, data_dir: str | None = None, train_size: int | None = None,
                test_data: str | None = None, test_fraction: float = 0.1, image_size: int | None = None,
                seed: int = 0, skip_bad_images: bool = False, stream: str = "auto") -> DataSplits:
    """Training set (after the ``train_size`` rule) and evaluation set.

    Evaluation: ``test_data`` if given ("given"), else the source's own test split ("builtin"), else a
    stratified ``test_fraction`` of the training source, held out before ``train_size`` ("holdout").
    """
    read = {"data_dir": data_dir, "image_size": image_size, "skip_bad_images": skip_bad_images, "stream": stream}
    train, test = load_source(spec, **read)
    _check_training(train, spec)
    kind = "builtin"
    if test_data:
        test, kind = load_source(test_data, **read)[0], "given"
    elif test is None:
        if not 0.0 < test_fraction < 1.0:
            raise UserError(f"--test-fraction must be in (0, 1), got {test_fraction}")
        train, test = _holdout(train, test_fraction, seed)
        kind = "holdout"
    test = _align_test(test, train)
    _check(test, "test")
    train = _first_of_permutation(train, train_size)
    counts = np.bincount(train.labels, minlength=train.num_classes)
    unseen = tuple(train.class_names[c] for c in np.flatnonzero(counts == 0)) if train_size or kind == "holdout" else ()
    name = spec if ":" not in spec else f"{spec.split(':', 1)[0]}:{Path(spec.split(':', 1)[1]).stem}"
    return DataSplits(train=train, test=test, test_kind=kind, name=name, unseen_classes=unseen)


def _check_training(train: ArrayDataset, spec: str) -> None:
    _check(train, "training")
    if ":" in spec:  # the user's files (npz, folder after --skip-bad-images, lists): a class never seen
        check_classes_present(train.labels, train.class_names, f"the training data of {spec}")
    if len(np.unique(train.labels)) < 2:
        raise UserError(f"the training data of {spec} holds a single class ({train.class_names[int(train.labels[0])]!r}"
                        "); a classifier needs at least 2 classes, and label issues need something to confuse")


def _first_of_permutation(train: ArrayDataset, train_size: int | None) -> ArrayDataset:
    """PROTOCOL's subset rule: the first ``train_size`` of ``default_rng(0).permutation(N)``."""
    if train_size is None:
        return train
    if not 1 <= train_size <= len(train):
        raise UserError(f"--train-size must be in 1..{len(train)}, got {train_size}")
    return train.subset(np.random.default_rng(0).permutation(len(train))[:train_size])


def load_examined_set(cfg: dict[str, Any]) -> ArrayDataset:
    """Every training sample of the source a configuration names (``detect --dataset``): no held-out
    test split is taken from sources without one, so each of the user's labels is examined; then the
    ``train_size`` rule. Sources with their own test split give the same set as :func:`load_run_splits`."""
    train, _ = load_source(cfg["dataset"], data_dir=cfg.get("data_dir"), image_size=cfg.get("image_size"),
                           skip_bad_images=bool(cfg.get("skip_bad_images", False)),
                           stream=str(cfg.get("stream", "auto")))
    _check_training(train, cfg["dataset"])
    return _first_of_permutation(train, cfg.get("train_size"))


def load_run_splits(cfg: dict[str, Any]) -> DataSplits:
    """The train/test splits a (resolved or saved) run configuration names (``train``, ``noise``,
    ``detect --run``)."""
    return load_splits(cfg["dataset"], data_dir=cfg.get("data_dir"), train_size=cfg.get("train_size"),
                       test_data=cfg.get("test_data"), test_fraction=float(cfg.get("test_fraction", 0.1)),
                       image_size=cfg.get("image_size"), seed=int(cfg.get("seed", 0)),
                       skip_bad_images=bool(cfg.get("skip_bad_images", False)), stream=str(cfg.get("stream", "auto")))


def imagenet_val_listing(cfg: dict[str, Any]) -> FileList:
    """``--imagenet-val``: ImageNet's validation images of the 50 mini-WebVision classes
    (:func:`~noisylabels.data.imagenet_val.list_imagenet_val`), listed and checked (cheap: no decoding);
    ``cfg`` is checked (:func:`~noisylabels.config.validate_config`): its dataset is ``webvision:ROOT``."""
    return list_imagenet_val(str(cfg["imagenet_val"]), str(cfg["dataset"]).split(":", 1)[1])


def load_like_test(listing: FileList, cfg: dict[str, Any], train: ArrayDataset) -> ArrayDataset:
    """A further test set, decoded as the list sources' test sets are (``--image-size``, default 224;
    streamed or not) and matched to ``train``'s side and channels: the same test-time view."""
    images = listing.load(cfg.get("image_size") or LIST_SOURCE_SIZE, bool(cfg.get("skip_bad_images", False)),
                          str(cfg.get("stream", "auto")))
    return _align_test(images, train)


def true_labels_known(cfg: dict[str, Any]) -> bool:
    """Whether a run configuration's source labels are the truth: when noise was added to them
    (generated, or a file such as CIFAR-N's); with noise "none" they are the user's own labels, whose
    truth is unknown."""
    return cfg.get("noise", "none") != "none"


def _holdout(ds: ArrayDataset, fraction: float, seed: int) -> tuple[ArrayDataset, ArrayDataset]:
    from sklearn.model_selection import train_test_split

    counts = np.bincount(ds.labels, minlength=ds.num_classes)
    single = counts[ds.labels] == 1  # a class's only image stays in training: a class never trained is unknown
    pool = np.flatnonzero(~single)
    pool_counts = counts[(counts >= 2)]
    stratify = ds.labels[pool] if len(pool_counts) and pool_counts.min() >= 2 else None
    n_test = max(1, int(round(fraction * len(ds))))
    if stratify is not None:
        n_test = max(n_test, int((counts >= 2).sum()))
    if n_test >= len(pool):
        raise UserError(f"too few samples ({len(ds)}) to hold out a test set; give --test-data")
    tr, te = train_test_split(pool, test_size=n_test, stratify=stratify, random_state=seed)
    return ds.subset(np.sort(np.concatenate([tr, np.flatnonzero(single)]))), ds.subset(np.sort(te))
