"""File-based sources as lists of (path, label) before any decoding.

Listings: ``folder:ROOT`` (class = sub-folder), ``csv:FILE`` (columns path,label), ``webvision:ROOT``
(mini-WebVision: the Google subset's first 50 classes, DivideMix's convention: Li et al., ICLR 2020)
and ``clothing1m:ROOT`` (the 1M noisy training images, the clean test set; Xiao et al., CVPR 2015).
A listing is decoded into memory (:meth:`FileList.decode`) or streamed (``data.streaming``).
"""

from __future__ import annotations

import csv
import os
import stat
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ._images import bad_images_message, decode_all, scan_headers
from ._text import shown
from .dataset import ArrayDataset
from .streaming import StreamingImages, estimated_bytes, memory_budget

# Names that mark a file as an image: a folder lists every such file, and Pillow either reads it or the file is
# reported as unreadable (phone HEIC photos, camera raw, SVG: refused by name with the fix, never dropped unsaid).
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib", ".gif", ".tif", ".tiff", ".webp",
                    ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico", ".avif", ".jp2", ".j2k",
                    ".heic", ".heif", ".jxl", ".svg", ".psd", ".exr", ".hdr", ".dng", ".raw", ".cr2", ".cr3",
                    ".nef", ".arw", ".orf", ".rw2", ".raf"}
# files every folder this tool writes holds (runs: config.yaml, metrics.jsonl, ...; detect: detect.yaml,
# summary.json, label_issues.csv): a folder with two of them is an output, not data
OUTPUT_MARKERS = ("config.yaml", "summary.json", "metrics.jsonl", "checkpoint.pt", "label_issues.csv", "detect.yaml",
                  "noisy_labels.npy", "pred_probs.npy")
WEBVISION_MINI_CLASSES = 50
FILE_IMAGE_SIZE = 32  # default side of folder:/csv: images (CIFAR's; fast on a CPU; --image-size to change)
CLOTHING1M_CLASSES = ["T-Shirt", "Shirt", "Knitwear", "Chiffon", "Sweater", "Hoodie", "Windbreaker", "Jacket",
                      "Downcoat", "Suit", "Shawl", "Dress", "Vest", "Underwear"]


@dataclass
class FileList:
    """Image files and their labels, in the source's order.

    Attributes:
        paths: one file per sample. labels: int64 (N,). class_names: index = label.
        origin: the file or folder the list came from (for messages).
        passed_over: entries of a folder source that are not data: files in its class folders that are not
            images by name (``notes.txt``, ``IMG_0001`` without an extension) and this tool's own output
            folders (an earlier run's ``--out`` inside the data root); reported by the run, not read.
    """

    paths: list[Path]
    labels: np.ndarray
    class_names: list[str]
    origin: str
    passed_over: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, image_size: int | None, skip_bad: bool, stream: str,
             budget: int | None = None) -> ArrayDataset:
        """The images at ``image_size`` px (default ``FILE_IMAGE_SIZE``), 1 channel when every file is grey
        (else RGB; both read from every file's header), in memory or streamed: ``stream`` is ``on``, ``off``
        or ``auto`` (stream when the decoded images would exceed ``budget`` bytes; by default
        :func:`~noisylabels.data.streaming.memory_budget`). Both decode alike (one decoder, one size, one
        channel rule). Unreadable files stop the run or, with ``skip_bad``, are left out (recorded in
        ``skipped_paths``; ``source_index`` keeps every kept sample's original position)."""
        if stream not in ("auto", "on", "off"):
            raise UserError(f"--stream must be auto, on or off, got {stream!r}")
        side = int(image_size or FILE_IMAGE_SIZE)
        bad, channels = scan_headers(self.paths)
        if bad and not skip_bad:
            raise UserError(bad_images_message([str(self.paths[i]) for i in bad]))
        if len(bad) == len(self.paths):
            raise UserError(f"none of the {len(self.paths)} image files in {shown(self.origin)} can be read")
        kept = np.setdiff1d(np.arange(len(self.paths)), np.asarray(bad, dtype=np.int64))
        if stream == "auto":
            limit = memory_budget() if budget is None else budget
            stream = "on" if estimated_bytes(len(kept), side, channels) > limit else "off"
        paths = [self.paths[i] for i in kept]
        if stream == "on":
            images = StreamingImages(paths, side, channels)
        else:
            images, decoded = decode_all(paths, side, channels, skip_bad)
            kept = kept[decoded]
        skipped = sorted(set(range(len(self.paths))) - set(kept.tolist()))
        return ArrayDataset(images, self.labels[kept], list(self.class_names), paths=[str(self.paths[i]) for i in kept],
                            source_index=kept, skipped_paths=[str(self.paths[i]) for i in skipped],
                            passed_over=[str(x) for x in self.passed_over])


def check_classes_present(labels: np.ndarray, class_names: list[str], origin: str) -> None:
    """UserError naming the classes that have no sample (a model cannot learn a class it never sees)."""
    counts = np.bincount(labels, minlength=len(class_names))
    empty = [class_names[i] for i in np.flatnonzero(counts == 0)]
    if empty:
        raise UserError(f"{shown(origin)}: class(es) {', '.join(map(shown, empty[:5]))} have no samples; "
                        "number the classes 0..C-1 without gaps, or drop the empty ones")


def _normalised(name: str) -> str:
    """``name`` as a reader sees it: one Unicode form (NFKC: 'cafe\u0301' is 'café', 'ﬁ' is 'fi'), no case,
    only its letters and digits (spaces, punctuation and invisible characters dropped); a name of symbols
    alone keeps its visible symbols."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    letters = "".join(ch for ch in folded if ch.isalnum())
    return letters or "".join(ch for ch in folded if ch.isprintable() and not ch.isspace())  # '😀' is not '😺'


def _one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one substitution, insertion, deletion or swap of two
    neighbouring characters (optimal string alignment distance <= 1)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def check_class_names(class_names: list[str], counts: np.ndarray, origin: str) -> None:
    """UserError listing class names that are one class written twice: equal but for case, spaces,
    punctuation, invisible characters and Unicode forms ('Sneaker', 'sneaker ', 'café' composed and
    decomposed), or one edit apart ('Snekaer', 'Sneaker') where the rarer holds at
    most a tenth of the other's samples (a typo, not a class such as 'Shirt' beside 'Skirt'); and an empty
    name (or one of spaces alone), which no labels file or review could name."""
    blank = next((i for i, name in enumerate(class_names) if not str(name).strip()), None)
    if blank is not None:
        raise UserError(f"{shown(origin)}: class {blank} has an empty name ({class_names[blank]!r}); give every class "
                        "a name")
    for i in range(len(class_names)):
        for j in range(i + 1, len(class_names)):
            a, b = _normalised(class_names[i]), _normalised(class_names[j])
            typo = min(len(a), len(b)) >= 4 and _one_edit(a, b) and \
                min(counts[i], counts[j]) * 10 <= max(counts[i], counts[j])
            if a == b or typo:
                raise UserError(f"{shown(origin)}: class names {class_names[i]!r} ({int(counts[i])} samples) and "
                                f"{class_names[j]!r} ({int(counts[j])}) look like one class written twice; use one "
                                "spelling (or rename one if they are different classes)")


def file_identity(path: Path) -> tuple[tuple[int, int | str] | None, str | None]:
    """((device, inode), None) of the regular file at ``path`` (links followed: one identity per file,
    however its path is written; the resolved path where a file system has no inode numbers), else
    (None, why not: no such file, a folder, a name too long, ...)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None, "no such file"
    except OSError as e:
        return None, e.strerror or type(e).__name__
    except ValueError:  # a NUL character in the name
        return None, "a NUL character in its name"
    if not stat.S_ISREG(st.st_mode):
        return None, "a folder, not a file" if stat.S_ISDIR(st.st_mode) else "not a regular file"
    return (st.st_dev, st.st_ino or str(path.resolve())), None


def is_file(path: Path) -> bool:
    """Whether ``path`` is a regular file (links followed); False, not OSError, for a name too long."""
    return file_identity(path)[1] is None


def is_folder(path: Path) -> bool:
    """Whether ``path`` is a folder (links followed); False, not OSError, for a name too long."""
    try:
        return path.is_dir()
    except OSError:
        return False


def check_files(paths: list[Path], origin: str) -> None:
    """UserError naming the first of ``paths`` that is not a file, or the first file listed twice, in
    whatever way ('a.png', './a.png', 'sub/../a.png', its absolute path, a link to it; ``origin``: the list)."""
    found = [file_identity(x) for x in paths]
    missing = [(x, why) for x, (_, why) in zip(paths, found) if why]
    if missing:
        raise UserError(f"{len(missing)} file(s) listed in {shown(origin)} not found, e.g. {shown(missing[0][0])} "
                        f"({missing[0][1]})")
    counts = Counter(identity for identity, _ in found)
    first: dict[tuple[int, int | str] | None, Path] = {}
    for x, (identity, _) in zip(paths, found):
        if identity in first:
            also = "" if first[identity] == x else f" (also as {shown(x)})"
            raise UserError(f"{shown(origin)} lists {sum(k > 1 for k in counts.values())} file(s) more than once, e.g. "
                            f"{shown(first[identity])}{also}; give every image one row (one label)")
        first[identity] = x


def is_output_folder(path: Path) -> bool:
    """Whether ``path`` is a folder this tool wrote (a run, a detection, a review): it holds two or more of
    the files every such folder has. A run's ``--out`` inside the data root is no class, and its plots are
    no training images."""
    try:
        return sum((path / name).is_file() for name in OUTPUT_MARKERS) >= 2
    except OSError:
        return False


def check_out_is_not_the_data(out: Path, specs: list[str]) -> None:
    """Refuse an output folder ``out`` that is the root of a ``folder:`` source among ``specs`` (a run's or a
    detection's files and ``plots/`` would sit among the classes, and be read as one next time). An output
    folder inside the data root is fine: listings pass over this tool's output folders."""
    for spec in specs:
        root = Path(spec[len("folder:"):]) if spec.startswith("folder:") else None
        if root is not None and out.exists() and root.exists() and out.resolve() == root.resolve():
            raise UserError(f"--out {shown(str(out))} is the image folder the data comes from; give a folder outside "
                            "it or a new sub-folder (e.g. --out runs/first)")


def folder_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(images, passed over) under a folder (a class folder; predict's plain folder), each sorted, recursive.
    Every entry whose name has an image extension (any case) is an image, also a broken link or a format
    Pillow cannot read (reported unreadable when decoded); other regular files and this tool's output folders
    (:func:`is_output_folder`, listed as the folder) are passed over; hidden entries (names starting with
    '.', such as ``.DS_Store``, macOS's ``._photo.jpg`` and ``.thumbnails/``) and what lies under them are not
    data. Links to folders are not followed (as ``Path.rglob``); folders and special files (pipes, sockets)
    named like images are not images. A sub-folder that cannot be listed is a UserError, not a gap."""
    images, other = [], []

    def unreadable(error: OSError) -> None:
        raise UserError(f"cannot list the folder {shown(str(error.filename))} ({error.strerror}); make it readable or "
                        "move it out of the data") from None

    for top, dirs, names in os.walk(folder, onerror=unreadable):
        here = Path(top)
        kept = []
        for d in sorted(dirs):
            if d.startswith("."):
                continue
            if is_output_folder(here / d):
                other.append(here / d)
            else:
                kept.append(d)
        dirs[:] = kept
        for name in names:
            p = here / name
            if name.startswith("."):
                continue
            try:
                st = p.stat()
            except OSError:  # a broken link or an unreadable entry
                if p.suffix.lower() in IMAGE_EXTENSIONS:
                    images.append(p)
                continue
            if stat.S_ISREG(st.st_mode):
                (images if p.suffix.lower() in IMAGE_EXTENSIONS else other).append(p)
    return sorted(images), sorted(other)


def list_folder(root: str) -> FileList:
    """Class = sub-folder (sorted names, hidden ones left out); images = the files with image extensions
    under it, sorted, recursive (:func:`folder_files`)."""
    base = Path(root)
    if not is_folder(base):
        raise UserError(f"image folder {shown(root)} not found")
    if is_output_folder(base):
        raise UserError(f"{shown(root)} holds this tool's output files ({', '.join(OUTPUT_MARKERS[:3])}, ...): a run "
                        "was written into the data folder; move those files and its plots/ out, then train again")
    folders = sorted(d for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))
    passed_over = [d for d in folders if is_output_folder(d)]  # an earlier run's --out inside the data root
    loose, _ = _top_files(base)
    passed_over += loose  # images beside the class folders belong to no class
    classes = [d.name for d in folders if d not in passed_over]
    _refuse_split_layout(base, classes)
    paths, labels = [], []
    for label, name in enumerate(classes):
        files, other = folder_files(base / name)
        paths += files
        labels += [label] * len(files)
        passed_over += other
    if not classes or not paths:
        raise UserError(f"{shown(root)} holds no class sub-folders with images; expected "
                        f"{shown(root)}/<class>/<image>.png")
    empty = [c for i, c in enumerate(classes) if i not in set(labels)]
    if empty:
        raise UserError(f"class folder(s) without images in {shown(root)}: {', '.join(map(shown, empty[:5]))}; remove "
                        "them or add images")
    seen: dict[Path, int] = {}
    for path, label in zip(paths, labels):  # a class folder and a link to it: every image under two labels
        first = seen.setdefault(path.resolve(), label)
        if first != label:
            raise UserError(f"{shown(path)} is the same file as one under {classes[first]!r} (a link?); every image "
                            "needs one class folder")
    check_class_names(classes, np.bincount(labels, minlength=len(classes)), root)
    return FileList(paths, np.array(labels, dtype=np.int64), classes, root, passed_over)


def _top_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(image files, other regular files) directly in ``folder`` (hidden names left out), each sorted."""
    files = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file())
    return [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS], [p for p in files
                                                                         if p.suffix.lower() not in IMAGE_EXTENSIONS]


SPLIT_NAMES = {"train", "training", "val", "valid", "validation", "dev", "test", "testing"}


def _refuse_split_layout(base: Path, classes: list[str]) -> None:
    """UserError where the class folders are splits holding the classes (``train/cat``, ``val/cat``): every one
    named as a split (``SPLIT_NAMES``, any case), none with an image of its own, each with the same sub-folders;
    trained as they are, the classes would be 'train' and 'val'. (``cat/day``, ``dog/day`` is a class layout.)"""
    if len(classes) < 2 or not all(name.lower() in SPLIT_NAMES for name in classes):
        return
    subs = []
    for name in classes:
        if _top_files(base / name)[0]:
            return
        subs.append({d.name for d in (base / name).iterdir() if d.is_dir() and not d.name.startswith(".")})
    if len(subs[0]) >= 2 and all(s == subs[0] for s in subs):
        train = next((c for c in classes if c.lower().startswith("train")), classes[0])
        other = next(c for c in classes if c != train)
        raise UserError(f"{shown(str(base))} holds the splits {', '.join(map(shown, classes))}, each with the same "
                        f"class folders ({', '.join(map(shown, sorted(subs[0])[:4]))}, ...); give --dataset "
                        f"folder:{shown(str(base / train))} --test-data folder:{shown(str(base / other))}")


def _is_int(text: str) -> bool:
    """An integer written in ASCII digits ('7', '-2'); not '²' or '٣', which str.isdigit accepts."""
    digits = text[1:] if text.startswith("-") else text
    return digits.isascii() and digits.isdigit()


def _listed_path(cell: str, folder: Path) -> Path:
    """A path cell of a CSV list: absolute, or relative to the list's folder; the cell as written where it
    names a file (' lead.png'), else without the whitespace around it ('a.png ' after 'a.png, cat')."""
    def at(text: str) -> Path:
        return Path(text) if Path(text).is_absolute() else folder / text

    if cell != cell.strip() and file_identity(at(cell))[1] is None:
        return at(cell)
    return at(cell.strip())


def list_csv(csv_path: str) -> FileList:
    """Columns ``path,label``; relative paths resolve against the CSV's folder (a path cell as written
    where it names a file, else without its surrounding whitespace); every file listed once, however its
    path is written; labels ints or names."""
    p = Path(csv_path)
    if not is_file(p):
        raise UserError(f"CSV file {shown(csv_path)} not found ({file_identity(p)[1]})")
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:  # a BOM (Excel's UTF-8 CSV) is not part of a name
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
                raise UserError(f"{shown(csv_path)} needs a header with columns path,label; found {reader.fieldnames}")
            twice = sorted(c for c, k in Counter(reader.fieldnames).items() if k > 1 and c in ("path", "label"))
            if twice:
                raise UserError(f"{shown(csv_path)} names the column(s) {', '.join(twice)} twice; keep one of each")
            rows = [(r["path"] or "", (r["label"] or "").strip()) for r in reader]
    except (UnicodeDecodeError, csv.Error) as e:
        reason = "is not a UTF-8 text CSV file" if isinstance(e, UnicodeDecodeError) else f"is not a readable CSV ({e})"
        raise UserError(f"{shown(csv_path)} {reason}") from None
    if not rows:
        raise UserError(f"{shown(csv_path)} has no data rows")
    blank = [i + 2 for i, (x, lab) in enumerate(rows) if not x.strip() or not lab]
    if blank:
        raise UserError(f"{shown(csv_path)}: line(s) {', '.join(map(str, blank[:5]))} lack a path or a label")
    paths = [_listed_path(x, p.parent) for x, _ in rows]
    check_files(paths, csv_path)
    raw = [lab for _, lab in rows]
    if all(_is_int(lab) for lab in raw):
        labels = np.array([int(x) for x in raw])
        if labels.min() < 0:
            raise UserError(f"{shown(csv_path)}: labels must be non-negative integers or class names")
        if labels.max() >= len(labels):  # some class between would have no sample; checked before listing them
            raise UserError(f"{shown(csv_path)}: class index {labels.max()} in {len(labels)} rows: some classes have "
                            "no samples; number the classes 0..C-1 without gaps")
        classes = [str(i) for i in range(int(labels.max()) + 1)]
    else:
        numbers = sorted({lab for lab in raw if _is_int(lab)})
        if numbers:
            raise UserError(f"{shown(csv_path)}: labels mix class indices ({', '.join(numbers[:3])}) and class names "
                            f"({next(lab for lab in raw if not _is_int(lab))!r}); use one kind in every row")
        classes = sorted(set(raw))
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index[x] for x in raw])
        check_class_names(classes, np.bincount(labels, minlength=len(classes)), csv_path)
    check_classes_present(labels, classes, csv_path)
    return FileList(paths, labels.astype(np.int64), classes, csv_path)


def _read_pairs(list_file: Path, what: str) -> list[tuple[str, int]]:
    """Lines ``relative/path label`` (whitespace separated)."""
    if not list_file.is_file():
        raise UserError(f"{what} list file {shown(list_file)} not found; check the dataset root")
    pairs = []
    for n, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise UserError(f"{shown(list_file)}:{n}: expected 'path label', got {line.strip()[:60]!r}")
        pairs.append((parts[0], int(parts[1])))
    return pairs


def list_webvision(root: str, split: str) -> FileList:
    """mini-WebVision (first 50 classes of WebVision 1.0, Google images), as in DivideMix.

    ``train``: ROOT/info/train_filelist_google.txt, images under ROOT/; ``test``: the WebVision
    validation set, ROOT/info/val_filelist.txt, images under ROOT/val_images_256/.
    """
    base = Path(root)
    if split == "train":
        pairs, image_root = _read_pairs(base / "info" / "train_filelist_google.txt", "mini-WebVision"), base
    else:
        pairs, image_root = _read_pairs(base / "info" / "val_filelist.txt", "mini-WebVision"), base / "val_images_256"
    pairs = [(x, lab) for x, lab in pairs if 0 <= lab < WEBVISION_MINI_CLASSES]
    if not pairs:
        raise UserError(f"mini-WebVision {split} list under {shown(root)} has no images of classes 0..49")
    paths = [image_root / x for x, _ in pairs]
    check_files(paths, f"mini-WebVision {split} list")
    labels = np.array([lab for _, lab in pairs], dtype=np.int64)
    names = [str(i) for i in range(WEBVISION_MINI_CLASSES)]
    if split == "train":
        check_classes_present(labels, names, f"mini-WebVision {split}")
    return FileList(paths, labels, names, f"webvision:{root}")


def list_clothing1m(root: str, split: str) -> FileList:
    """Clothing1M: ``train`` = noisy_train_key_list.txt labelled by noisy_label_kv.txt; ``test`` =
    clean_test_key_list.txt labelled by clean_label_kv.txt (files under ROOT/, paths relative to it)."""
    base = Path(root)
    kv_name, keys_name = (("noisy_label_kv.txt", "noisy_train_key_list.txt") if split == "train"
                          else ("clean_label_kv.txt", "clean_test_key_list.txt"))
    labels_of = dict(_read_pairs(base / kv_name, "Clothing1M"))
    key_file = base / keys_name
    if not key_file.is_file():
        raise UserError(f"Clothing1M list file {shown(key_file)} not found; check the dataset root")
    keys = [k.strip() for k in key_file.read_text().splitlines() if k.strip()]
    unlabelled = [k for k in keys if k not in labels_of]
    if unlabelled:
        raise UserError(f"{shown(key_file)}: {len(unlabelled)} image(s) have no label in {kv_name}, e.g. "
                        f"{shown(unlabelled[0])}")
    paths = [base / k for k in keys]
    check_files(paths, str(key_file))
    labels = np.array([labels_of[k] for k in keys], dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLOTHING1M_CLASSES)):
        raise UserError(f"{shown(base / kv_name)}: labels must lie in 0..13")
    return FileList(paths, labels, list(CLOTHING1M_CLASSES), f"clothing1m:{root}")
