"""``--imagenet-val ROOT``: ImageNet's validation images of the 50 mini-WebVision classes, the second test
set of the mini-WebVision tables (DivideMix, Li et al., ICLR 2020, Table 4; TCL, CVPR 2023, Table 3).

WebVision 1.0 uses ImageNet-1k's 1,000 classes: ``WEBVISION_ROOT/info/synsets.txt`` holds one
``nXXXXXXXX name...`` line per class, line i = class i, and mini-WebVision keeps classes 0..49. The
validation images of those 50 synsets are read in either layout:

* Kaggle's: a folder of JPEGs (``ILSVRC2012_val_00000001.JPEG``, ...) and ``LOC_val_solution.csv``
  (header ``ImageId,PredictionString``; a PredictionString starts with the synset id) in ROOT or in
  ROOT's parent; the JPEGs in ROOT, ``ROOT/ILSVRC/Data/CLS-LOC/val`` or ``ROOT/val``;
* a tree of one folder per synset (``ROOT/val/<synset>/*.JPEG``, or ROOT itself holding them), or per
  class index 0..49 (``ROOT/val/<class>/``, DivideMix's own ``imagenet/val/<class>/``).

The result is a :class:`~noisylabels.data.files.FileList`, decoded like every other list source.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from ..errors import UserError
from .files import IMAGE_EXTENSIONS, WEBVISION_MINI_CLASSES, FileList, check_files, list_folder

SOLUTION_CSV = "LOC_val_solution.csv"
_SYNSET = re.compile(r"^n\d{8}$")
_KAGGLE_IMAGE_DIRS = (".", "ILSVRC/Data/CLS-LOC/val", "val")


def read_synsets(webvision_root: str | Path) -> list[str]:
    """The synset ids of WebVision's classes in class order, from ``info/synsets.txt``."""
    path = Path(webvision_root) / "info" / "synsets.txt"
    if not path.is_file():
        raise UserError(f"--imagenet-val needs {path} (WebVision 1.0's info files: one 'nXXXXXXXX name' line "
                        "per class) to map ImageNet synsets to classes; put it there")
    synsets = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        sid = line.split()[0]
        if not _SYNSET.match(sid):
            raise UserError(f"{path}:{n}: expected a synset id such as n01440764 first, got {sid[:30]!r}")
        synsets.append(sid)
    if len(synsets) < WEBVISION_MINI_CLASSES:
        raise UserError(f"{path} lists {len(synsets)} synsets; mini-WebVision needs its first {WEBVISION_MINI_CLASSES}")
    return synsets


def list_imagenet_val(root: str, webvision_root: str) -> FileList:
    """The validation images of ImageNet under ``root`` whose class is one of the first 50 of
    ``webvision_root``'s synset list, labelled 0..49 in that order (either layout of the module)."""
    base = Path(root).expanduser()
    if not base.is_dir():
        raise UserError(f"--imagenet-val {root}: folder not found")
    solution = next((p for p in (base / SOLUTION_CSV, base.parent / SOLUTION_CSV) if p.is_file()), None)
    flat = next((base / d for d in _KAGGLE_IMAGE_DIRS if _has_images(base / d)), None)
    if solution is not None and flat is not None:
        paths, names = _kaggle_images(solution, flat)
    else:  # a tree of synset folders (also where Kaggle's csv was kept beside a re-sorted tree)
        tree = base / "val" if (base / "val").is_dir() else base
        if not any(d.is_dir() and not d.name.startswith(".") for d in tree.iterdir()):
            raise UserError(f"--imagenet-val {root} holds neither {SOLUTION_CSV} with the JPEGs (in ROOT, "
                            "ROOT/ILSVRC/Data/CLS-LOC/val or ROOT/val) nor one folder per synset "
                            "(val/<synset>/*.JPEG); point it at ImageNet's validation set")
        folders = list_folder(str(tree))
        paths, names = folders.paths, [folders.class_names[i] for i in folders.labels]
    index = _class_index(names, webvision_root, root)
    keep = [i for i, c in enumerate(index) if c < WEBVISION_MINI_CLASSES]
    if not keep:
        raise UserError(f"--imagenet-val {root} holds no images of the 50 mini-WebVision classes (the first 50 "
                        f"synsets of {Path(webvision_root) / 'info' / 'synsets.txt'})")
    labels = np.array([index[i] for i in keep], dtype=np.int64)
    kept = [paths[i] for i in keep]
    check_files(kept, str(solution or root))
    return FileList(kept, labels, [str(c) for c in range(WEBVISION_MINI_CLASSES)],
                    f"--imagenet-val {root}")


def _class_index(names: list[str], webvision_root: str, root: str) -> list[int]:
    """Each image's WebVision class from its synset (or, in DivideMix's tree, its class-index folder)."""
    if names and all(n.isdigit() for n in names):
        return [int(n) for n in names]
    index = {s: i for i, s in enumerate(read_synsets(webvision_root))}
    unknown = sorted({n for n in names if n not in index})
    if unknown:
        raise UserError(f"--imagenet-val {root}: synset(s) {', '.join(unknown[:3])} are not in WebVision's "
                        f"{Path(webvision_root) / 'info' / 'synsets.txt'}; give ImageNet-1k's validation set")
    return [index[n] for n in names]


def _kaggle_images(solution: Path, folder: Path) -> tuple[list[Path], list[str]]:
    """(image files in ``folder``, their synsets) of Kaggle's ``LOC_val_solution.csv``, in its row order."""
    with open(solution, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"ImageId", "PredictionString"} <= set(reader.fieldnames):
            raise UserError(f"{solution} needs the header ImageId,PredictionString (Kaggle's ImageNet "
                            f"localization files); found {reader.fieldnames}")
        rows = [((r["ImageId"] or "").strip(), (r["PredictionString"] or "").split()) for r in reader]
    bad = [i + 2 for i, (image, pred) in enumerate(rows) if not image or not pred]
    if bad:
        raise UserError(f"{solution}: line(s) {', '.join(map(str, bad[:5]))} lack an ImageId or a synset")
    if not rows:
        raise UserError(f"{solution} has no data rows")
    files = {p.stem: p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS}
    return [files.get(image, folder / f"{image}.JPEG") for image, _ in rows], [pred[0] for _, pred in rows]


def _has_images(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir())
