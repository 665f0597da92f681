"""Reading image files with Pillow for the ``folder:`` and ``csv:`` sources."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import UserError
from .dataset import ArrayDataset

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def _open_all(paths: list[Path]):
    """Open every image; UserError naming the unreadable ones."""
    from PIL import Image

    images, bad = [], []
    for p in paths:
        try:
            with Image.open(p) as im:
                im.load()
                images.append(im.copy())
        except Exception:
            bad.append(str(p))
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise UserError(f"{len(bad)} image file(s) cannot be read: {shown}; remove or replace them")
    return images


def _to_array(im, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image

    if channels == 1:
        im = im.convert("L") if im.mode not in ("I", "I;16", "I;16B", "I;16L", "F") else im.point(
            lambda v: v / 256).convert("L")
    else:
        im = im.convert("RGB")
    if size is not None and im.size != size:
        im = im.resize(size, Image.BILINEAR)
    arr = np.asarray(im, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def decode_images(paths: list[Path], image_size: int | None) -> np.ndarray:
    """uint8 (N, H, W, C): 1 channel if every image is grayscale, else RGB; one common size.

    Sizes: ``image_size`` x ``image_size`` when given; else the images' own size when they all
    share one; else 32 x 32.
    """
    images = _open_all(paths)
    channels = 1 if all(im.mode in _GRAY_MODES for im in images) else 3
    sizes = Counter(im.size for im in images)
    size = (image_size, image_size) if image_size else (None if len(sizes) == 1 else (32, 32))
    return np.stack([_to_array(im, channels, size) for im in images])


def resize_all(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Resize uint8 (N, H, W, C) images to size x size with ``channels`` channels."""
    from PIL import Image

    out = [_to_array(Image.fromarray(im.squeeze(-1) if im.shape[-1] == 1 else im), channels, (size, size))
           for im in images]
    return np.stack(out)


def read_folder_source(root: str, image_size: int | None) -> ArrayDataset:
    """Class = sub-folder (sorted names); images = files with image extensions, sorted, recursive."""
    base = Path(root)
    if not base.is_dir():
        raise UserError(f"image folder {root} not found")
    classes = sorted(d.name for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (base / name).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        paths += files
        labels += [label] * len(files)
    if not classes or not paths:
        raise UserError(f"{root} holds no class sub-folders with images; expected {root}/<class>/<image>.png")
    empty = [c for i, c in enumerate(classes) if i not in set(labels)]
    if empty:
        raise UserError(f"class folder(s) without images in {root}: {', '.join(empty[:5])}; remove them or add images")
    images = decode_images(paths, image_size)
    return ArrayDataset(images, np.array(labels), classes, paths=[str(p) for p in paths])


def read_csv_source(csv_path: str, image_size: int | None) -> ArrayDataset:
    """Columns ``path,label``; relative paths resolve against the CSV's folder; labels ints or names."""
    p = Path(csv_path)
    if not p.is_file():
        raise UserError(f"CSV file {csv_path} not found")
    with open(p, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise UserError(f"{csv_path} needs a header with columns path,label; found {reader.fieldnames}")
        rows = [(r["path"], (r["label"] or "").strip()) for r in reader]
    if not rows:
        raise UserError(f"{csv_path} has no data rows")
    paths = [Path(x) if Path(x).is_absolute() else p.parent / x for x, _ in rows]
    missing = [str(x) for x in paths if not x.is_file()]
    if missing:
        raise UserError(f"{len(missing)} file(s) listed in {csv_path} not found, e.g. {missing[0]}")
    raw = [lab for _, lab in rows]
    if all(lab.lstrip("-").isdigit() for lab in raw):
        labels = np.array([int(x) for x in raw])
        if labels.min() < 0:
            raise UserError(f"{csv_path}: labels must be non-negative integers or class names")
        classes = [str(i) for i in range(int(labels.max()) + 1)]
    else:
        classes = sorted(set(raw))
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index[x] for x in raw])
    images = decode_images(paths, image_size)
    return ArrayDataset(images, labels, classes, paths=[str(x) for x in paths])
