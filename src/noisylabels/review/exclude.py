"""``train --exclude FILE``: samples left out of training, named by their identity.

The file lists source indices (the ``index`` column of label_issues.csv and of review_decisions.csv):
one integer a line, or a CSV with an ``index`` column; for file sources a ``path`` column (relative to the
source's root, ``data.keyed``) names the samples instead, so that a file added to the folder moves no
exclusion onto another image (``apply-review`` writes ``excluded.txt`` so).
"""

from __future__ import annotations

import csv
from pathlib import Path, PurePath
from typing import Any, Mapping

import numpy as np

from ..data._text import as_index, is_number, shown
from ..data.dataset import ArrayDataset
from ..data.files import file_identity, is_file
from ..data.keyed import SampleKeys
from ..errors import UserError


def read_exclude_file(path: str | Path) -> tuple[np.ndarray, list[str] | None]:
    """The sorted unique source indices int64 (K,) listed in ``path``, and the key paths of its ``path``
    column (None without one); UserError for a bad file."""
    file = Path(path)
    if not is_file(file):
        raise UserError(f"--exclude: file {shown(file)} not found ({file_identity(file)[1]}); give the excluded.txt "
                        "written by apply-review")
    try:
        with open(file, newline="", encoding="utf-8-sig") as f:
            rows = [[c.strip() for c in r] for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"--exclude: cannot read {shown(file)} ({type(e).__name__}); write one sample index a "
                        "line") from None
    col, paths = 0, None
    if rows and not is_number(rows[0][0]):
        header = [h.lower() for h in rows[0]]
        if "index" not in header:
            raise UserError(f"--exclude: {shown(file)} has columns {rows[0]}; write one sample index a line, "
                            "or a CSV with an 'index' column")
        col, rows = header.index("index"), rows[1:]
        if "path" in header:
            pc = header.index("path")
            paths = [PurePath(r[pc]).as_posix() if pc < len(r) else "" for r in rows]
    values = []
    for r in rows:
        text = r[col] if col < len(r) else ""
        value = as_index(text)
        if value is None:
            raise UserError(f"--exclude: {shown(file)} holds {text!r}, not a sample index; write non-negative integers "
                            "(the 'index' column of label_issues.csv)")
        values.append(value)
    return np.unique(np.array(values, dtype=np.int64)), paths


def resolve_excluded(listed: tuple[np.ndarray, list[str] | None], keys: SampleKeys, what: str) -> np.ndarray:
    """The source indices int64 (K,) of the listed samples: by path where the list has paths and the
    samples have files (a path that is no sample is a UserError), else by index."""
    indices, paths = listed
    if paths is None or keys.paths is None:
        return indices
    index_of = dict(zip(keys.paths + keys.held_paths, np.concatenate([keys.source_index, keys.held_index]).tolist()))
    unknown = [p for p in paths if p not in index_of]
    if unknown:
        raise UserError(f"{what}: path {unknown[0]!r} is not a sample of this dataset; the list belongs to other "
                        "data (or the files changed since it was written)")
    return np.unique(np.array([index_of[p] for p in paths], dtype=np.int64))


def run_excluded(cfg: Mapping[str, Any], keys: SampleKeys) -> np.ndarray:
    """The source indices int64 (K,) a run's config (config.yaml) excluded with ``--exclude``, resolved
    against the samples ``keys``; empty without."""
    if not cfg.get("exclude"):
        return np.zeros(0, dtype=np.int64)
    return resolve_excluded(read_exclude_file(cfg["exclude"]), keys, "--exclude")


def kept(train: ArrayDataset, excluded: np.ndarray) -> np.ndarray:
    """bool (N,): the samples of ``train`` whose ``source_index`` is not in ``excluded`` (K,)."""
    return ~np.isin(train.source_index, np.asarray(excluded, dtype=np.int64))


def as_trained(cfg: Mapping[str, Any], train: ArrayDataset, keys: SampleKeys) -> ArrayDataset:
    """The training set a finished run trained on: ``train`` (``load_run_splits(cfg).train``, whose
    samples ``keys`` names) without the run's ``--exclude`` list, in the order of its noisy_labels.npy."""
    excluded = run_excluded(cfg, keys)
    return train.subset(np.flatnonzero(kept(train, excluded))) if excluded.size else train


def exclude_samples(train: ArrayDataset, noisy: np.ndarray, excluded: np.ndarray, *,
                    what: str = "--exclude") -> tuple[ArrayDataset, np.ndarray]:
    """The training set and its noisy labels (N,) without the samples whose ``source_index`` is in
    ``excluded`` (source indices, K,). An index that is not in the training set is a UserError (a list
    for another dataset); so is a list that leaves fewer than 2 classes."""
    excluded = np.asarray(excluded, dtype=np.int64)
    unknown = np.setdiff1d(excluded, train.source_index)
    if unknown.size:
        raise UserError(f"{what}: {unknown.size} index(es) are not in the training set (e.g. {unknown[0]}); "
                        "the list belongs to another dataset or --train-size")
    keep = kept(train, excluded)
    if len(np.unique(noisy[keep])) < 2:
        raise UserError(f"{what}: it leaves {int(keep.sum())} samples of fewer than 2 classes; exclude fewer samples")
    return train.subset(np.flatnonzero(keep)), np.asarray(noisy)[keep]
