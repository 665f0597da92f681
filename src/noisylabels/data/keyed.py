"""Label files keyed by sample identity: each row names its sample, so a label reaches its own image
whatever the seed, the held-out split or the row order.

A sample's key is its file path relative to the source's root (``folder:ROOT``: ROOT; ``csv:FILE``: the
CSV's folder) for file sources, and its ``index`` (position in the user's source) for every source. A
keyed CSV has a ``path`` or an ``index`` column and a ``label`` column (``noisy_label`` and
``corrected_label`` are read as ``label``). ``apply-review`` writes such files; ``train --labels`` and
``--noise file:`` read them.

A label written as text is a class name, or a class index where it is a whole number. Where the class names
are themselves numbers at other positions (folders ``1``, ``2``, ``3``: class index 1 is named '2') a number
says neither for sure and is refused; a ``class_index`` or ``class_name`` column says which is meant.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Mapping

import numpy as np

from ..errors import UserError
from ._text import as_index, exact_number, is_number, shown, whole_number
from .dataset import ArrayDataset, DataSplits

READ_AS = {"class_index": "index", "class_name": "name"}  # label columns that say how their values are read
LABEL_COLUMNS = ("label", "noisy_label", "corrected_label", *READ_AS)
MAX_CLASS_INDEX = 1_000_000  # a class index beyond this is a typo (a 10^11 label would build 10^11 classes)


@dataclass(frozen=True)
class SampleKeys:
    """The identities of the N training samples and of the source's held-out samples.

    source_index: int64 (N,) positions in the user's source; paths: (N,) paths relative to the source's
    root (file sources) or None; held_index, held_paths: the same for the samples held out for evaluation
    (a keyed file may name them; their rows are not used); positional: whether a file without keys may be
    read in training order (False where that order depends on the seed: a held-out split was drawn)."""

    source_index: np.ndarray
    paths: list[str] | None
    held_index: np.ndarray
    held_paths: list[str] | None
    positional: bool


def source_root(dataset: str) -> Path | None:
    """The folder that a file source's sample keys are relative to, or None for other sources."""
    kind, _, rest = str(dataset).partition(":")
    if kind == "folder":
        return Path(rest)
    if kind == "csv":
        return Path(rest).parent
    return None


def sample_keys(cfg: Mapping[str, Any], train: ArrayDataset, held: ArrayDataset | None) -> SampleKeys:
    """The identities of the training samples (and of the samples ``held`` out of the same source for
    evaluation, None where the evaluation set is another) that keyed label files match."""
    root = source_root(str(cfg.get("dataset", "")))

    def rel(ds: ArrayDataset | None) -> list[str] | None:
        return None if ds is None or ds.paths is None or root is None else [relative_key(p, root) for p in ds.paths]

    return SampleKeys(np.asarray(train.source_index, dtype=np.int64), rel(train),
                      np.zeros(0, dtype=np.int64) if held is None else np.asarray(held.source_index, dtype=np.int64),
                      rel(held) or [], positional=held is None)


def held_out(splits: DataSplits) -> ArrayDataset | None:
    """The evaluation samples held out of the training source (None where the evaluation set is another)."""
    return splits.test if splits.test_kind == "holdout" else None


def relative_key(path: str | PurePath, root: Path | None) -> str:
    """``path`` relative to ``root`` as a POSIX string (unchanged where it lies outside ``root``)."""
    p = Path(path)
    if root is not None:
        for a, b in ((p, root), (p.resolve(), root.resolve())):
            try:
                return a.relative_to(b).as_posix()
            except ValueError:
                continue
    return p.as_posix()


def to_class_indices(values: np.ndarray, class_names: list[str] | None, source: str,
                     read_as: str = "auto") -> np.ndarray:
    """Labels read from ``source`` (the words naming where they came from, as messages start: "labels file
    'x.csv'", "--true-labels"; numbers, numbers as text, or class names; bytes are read as UTF-8 text; booleans
    are no class index) -> int64 class indices; every number checked finite, integral and below ``MAX_CLASS_INDEX`` before it
    is used, text numbers exactly (:func:`~noisylabels.data._text.exact_number`: '1.0000000000000001' is
    no class index). ``read_as`` "name" or "index" (a ``class_name`` / ``class_index`` column) reads text as
    that kind only; "auto" refuses numbers that are also class names at other positions (module docstring)."""
    if values.size == 0:  # no label: the callers' length checks say what is missing
        return np.zeros(values.shape, dtype=np.int64)
    if values.dtype.kind == "S":
        values = _decoded(values, source)
    if values.dtype.kind == "U":  # strings: integers written as text, or class names
        texts = [str(v).strip() for v in values]
        if read_as == "name" or not (texts and all(is_number(t) for t in texts)):
            if read_as == "index":
                bad = next(t for t in texts if not is_number(t))
                raise UserError(f"{source}: its class_index column holds {shown(bad)}; write class indices 0..C-1 "
                                "there (or name the column class_name)")
            return _name_indices(texts, class_names, source)
        if read_as == "auto":
            _refuse_number_names(texts, class_names, source)
        return _text_indices(texts, source)
    if values.dtype.kind == "f":
        if not (np.all(np.isfinite(values)) and np.all(values == np.round(values))):
            raise UserError(f"{source} holds non-integer values; write integer class indices 0..C-1")
    elif values.dtype.kind not in "iu":
        raise UserError(f"{source} holds {values.dtype} values; write integer class indices or class "
                        "names")
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if low < -MAX_CLASS_INDEX or high > MAX_CLASS_INDEX:  # before an int64 cast or a 10^11-class allocation
        raise UserError(f"{source} holds class index {high if high > MAX_CLASS_INDEX else low:g}; "
                        "write class indices 0..C-1")
    return values.astype(np.int64)


def _refuse_number_names(texts: list[str], class_names: list[str] | None, source: str) -> None:
    """UserError where a number among ``texts`` is also the name of a class at another index."""
    index = {name: i for i, name in enumerate(class_names or [])}
    for t in dict.fromkeys(texts):
        i = index.get(t)
        if i is not None and whole_number(t) != i:
            raise UserError(f"{source}: the label {t!r} could be class index {t} or the class named {t!r} (index {i}), "
                            "as the class names are numbers; put the labels in a column named class_index or "
                            "class_name to say which")


def _decoded(values: np.ndarray, source: str) -> np.ndarray:
    """A bytes array (numpy 'S') as text: class names or numbers saved as bytes are read as UTF-8."""
    try:
        return np.array([v.decode("utf-8") for v in values.reshape(-1)], dtype=str).reshape(values.shape)
    except UnicodeDecodeError:
        raise UserError(f"{source} holds bytes that are not UTF-8 text; save the labels as integers "
                        "or as text (str) class names") from None


def _text_indices(texts: list[str], source: str) -> np.ndarray:
    """Class indices written as text, each exactly a whole number within ``MAX_CLASS_INDEX``."""
    numbers = [exact_number(t) for t in texts]
    for text, number in zip(texts, numbers):
        if number is None or not number.is_finite() or number != number.to_integral_value():
            raise UserError(f"{source} holds non-integer values ({shown(text)}); write integer class "
                            "indices 0..C-1")
        if abs(number) > MAX_CLASS_INDEX:
            raise UserError(f"{source} holds class index {shown(text)}; write class indices 0..C-1")
    return np.array([int(n) for n in numbers], dtype=np.int64)


def _name_indices(texts: list[str], class_names: list[str] | None, source: str) -> np.ndarray:
    """Class names -> their indices in ``class_names``; a name that is no class is a UserError."""
    if not class_names:
        shown_first = shown(texts[0] if len(texts[0]) <= 40 else texts[0][:40] + "...") if texts else "''"
        raise UserError(f"{source} holds class names ({shown_first}, ...) but there are none to match them to; "
                        "write class indices 0..C-1 instead")
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted({t for t in texts if t not in index})
    if unknown:
        numbers = [t for t in unknown if is_number(t)]
        mixed = f" (class indices such as {shown(numbers[0])} beside names: use one kind)" if numbers else ""
        raise UserError(f"{source} has unknown class name(s) "
                        f"{', '.join(map(repr, unknown[:5]))}{mixed}; "
                        f"known names: {', '.join(map(shown, class_names[:20]))}"
                        f"{', ...' if len(class_names) > 20 else ''}")
    return np.array([index[t] for t in texts], dtype=np.int64)


def label_vector(values: np.ndarray, source: str, class_names: list[str] | None = None) -> np.ndarray:
    """One label per sample, int64 (N,), from any array a user gives (read from a file or passed in Python):
    (N,), or one column (N, 1) or row (1, N); values as :func:`to_class_indices` reads them; anything else a
    one-line UserError starting with ``source``. The range of the indices is the caller's to check."""
    values = np.asarray(values)
    if values.ndim == 2 and 1 in values.shape:
        values = values.reshape(-1)
    if values.ndim != 1:
        raise UserError(f"{source} must hold one label per sample (a 1-D array or a single column), got shape "
                        f"{values.shape}")
    if values.dtype.kind in "OVcmM":
        raise UserError(f"{source} holds {values.dtype} values; write integer class indices 0..C-1")
    return to_class_indices(values, class_names, source)


def _form_hint(key: object, keys: list) -> str:
    """Where a path key matches a sample's only once both are in one Unicode normal form (an accent composed in
    one, decomposed in the other, as macOS and Linux tools write names): a hint naming that sample."""
    if not isinstance(key, str):
        return ""
    nfc = unicodedata.normalize("NFC", key)
    same = [k for k in keys if unicodedata.normalize("NFC", k) == nfc]
    return (f"; it differs from sample {same[0]!r} only in how its accents are encoded (Unicode NFC/NFD): write the "
            "name as the file system holds it" if len(same) == 1 else "")


def _index(text: str, where: str) -> int:
    """A source index written in a file (:func:`~noisylabels.data._text.as_index`)."""
    value = as_index(text)
    if value is None:
        raise UserError(f"{where}: index {text!r} is not a sample index (a non-negative integer)")
    return value


def read_keyed_csv(file: Path, keys: SampleKeys, class_names: list[str] | None) -> np.ndarray | None:
    """The labels int64 (N,) of the training samples from a keyed CSV, matched by ``path`` (file sources)
    or ``index``; None when the file has no key column. Unknown, missing and repeated keys are UserErrors."""
    with open(file, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)  # line_num: the file's line where the row ends (blank rows and quoted breaks counted)
        numbered = [(reader.line_num, [cell.strip() for cell in r]) for r in reader if r and any(c.strip() for c in r)]
    lines, rows = [n for n, _ in numbered], [r for _, r in numbered]
    header = [h.lower() for h in rows[0]] if rows else []
    by_path = "path" in header and keys.paths is not None
    if not (by_path or "index" in header):
        if "path" in header:
            raise UserError(f"labels file {shown(file)} is keyed by path, but this dataset has no files; key it by "
                            "'index'")
        return None
    label_col = next((c for c in LABEL_COLUMNS if c in header), None)
    if label_col is None or len(set(header)) != len(header):
        raise UserError(f"labels file {shown(file)} has columns {rows[0]}; write one key column (path or index) and one "
                        "'label' column, each once")
    kc, lc = header.index("path" if by_path else "index"), header.index(label_col)
    if by_path:
        train_keys: list = list(keys.paths or [])
        held_keys: list = list(keys.held_paths or [])
    else:
        train_keys, held_keys = [int(i) for i in keys.source_index], [int(i) for i in keys.held_index]
    position = {k: i for i, k in enumerate(train_keys)}
    held = set(held_keys)
    found: dict[int, str] = {}
    seen = set()
    for n, r in zip(lines[1:], rows[1:]):
        where = f"labels file {shown(file)} line {n}"
        cell = r[kc] if kc < len(r) else ""
        key = PurePath(cell).as_posix() if by_path else _index(cell, where)
        if key in seen:
            raise UserError(f"{where}: {'path' if by_path else 'index'} {cell!r} appears twice; keep one label per "
                            "sample")
        seen.add(key)
        if key in position:
            found[position[key]] = r[lc] if lc < len(r) else ""
        elif key not in held:
            hint = _form_hint(key, train_keys + held_keys)
            raise UserError(f"{where}: {'path' if by_path else 'index'} {cell!r} is not a sample of this dataset; the "
                            f"file belongs to other data (or the files changed since it was written){hint}")
    missing = [train_keys[i] for i in range(len(train_keys)) if i not in found]
    if missing:
        raise UserError(f"labels file {shown(file)} has no row for {len(missing)} training sample(s), e.g. "
                        f"{'path' if by_path else 'index'} {missing[0]!r}; give every training sample a label")
    values = np.array([found[i] for i in range(len(train_keys))])
    if any(v == "" for v in values):
        raise UserError(f"labels file {shown(file)} has an empty label; give every row a class index or name")
    return to_class_indices(values, class_names, f"labels file {shown(file)}", READ_AS.get(label_col, "auto"))
