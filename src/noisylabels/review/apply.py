"""``noisylabels apply-review RUN review_decisions.csv --out DIR``: the decisions of a review, applied.

Writes, in DIR:

* ``corrected_labels.csv``: ``index,label`` (and ``path`` for folder and csv sources; ``class_index`` in place of
  ``label``, the indices, where class names are numbers), one row per sample
  of the source that the run trained on or held out, keyed by identity (``data.keyed``), which is what
  ``train --labels FILE`` reads whatever the seed, split or row order; relabelled samples carry their new
  label, all others the label the run trained on (held-out samples: the dataset's);
* ``excluded.txt``: ``index`` (and ``path``) of the samples decided ``exclude`` (plus those the run already
  excluded), for ``train --exclude FILE``.

``keep`` and ``unsure`` change nothing. Everything is checked before anything is written.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from ..config import TRAIN_DEFAULTS
from ..data._text import as_index, is_number, shown
from ..errors import UserError
from ..data.dataset import ArrayDataset
from ..data.files import file_identity, is_file
from ..runs import CONFIG, DETECT_CONFIG, LABEL_ISSUES, NOISY_LABELS, SUMMARY, RunFolder, atomic_write_bytes
from .exclude import kept, run_excluded

DECISIONS = ("keep", "relabel", "exclude", "unsure")
CORRECTED_CSV = "corrected_labels.csv"
EXCLUDED = "excluded.txt"


@dataclass
class LabelSpace:
    """The training samples a review's decisions refer to, in training order.

    labels: int64 (N,) the labels the run trained on, for every sample of its training set (also those it
    excluded); source_index: (N,) each sample's position in the user's source; excluded: source indices the
    run already left out; paths: each sample's key path (relative to the source's root; folder/csv
    sources) or None; config: the run's config.yaml (None for a detect folder of the user's own
    predictions); held_index, held_labels, held_paths: the samples held out of the same source for
    evaluation (written unchanged beside the training samples, so that another seed finds its own)."""

    labels: np.ndarray
    source_index: np.ndarray
    excluded: np.ndarray
    class_names: list[str]
    paths: list[str] | None
    config: dict[str, Any] | None
    held_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    held_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    held_paths: list[str] = field(default_factory=list)


def run_folder_of(folder: Path) -> Path | None:
    """The training run behind a review folder: the folder itself, or the run a ``detect --run`` output
    folder sits in (RUN/detect); None for a detect folder of the user's own predictions or of a
    ``detect --dataset`` (its detect.yaml names its samples, even inside a run's folder)."""
    if (folder / DETECT_CONFIG).is_file():
        return None
    for cand in (folder, folder.parent):
        if (cand / CONFIG).is_file() and (cand / NOISY_LABELS).is_file():
            return cand
    return None


def samples_of(folder: Path) -> tuple[ArrayDataset, dict[str, Any], ArrayDataset | None] | None:
    """The samples a review folder's label_issues.csv describes, the options that rebuild them and the
    samples held out of the same source for evaluation (or None): a training run's training set (every
    sample, also those its --exclude left out), or the samples a ``detect --dataset`` examined (its
    detect.yaml); None for a detect folder of the user's own predictions. UserError or OSError when the
    data cannot be read now."""
    from ..data.keyed import held_out
    from ..data.sources import load_examined_set, load_run_splits

    run = run_folder_of(folder)
    if run is not None:
        cfg = RunFolder(run).read_yaml(CONFIG)
        splits = load_run_splits(cfg)
        return splits.train, cfg, held_out(splits)
    if (folder / DETECT_CONFIG).is_file():
        cfg = RunFolder(folder).read_yaml(DETECT_CONFIG)
        return load_examined_set(cfg), cfg, None
    return None


def label_space(folder: str | Path) -> LabelSpace:
    """The training set of the run (or detect folder) in ``folder``; UserError when it cannot be rebuilt."""
    folder = Path(folder)
    if not (folder / LABEL_ISSUES).is_file():
        raise UserError(f"{shown(folder)}: no {LABEL_ISSUES} there; give a finished training run or a detect output "
                        "folder")
    found = samples_of(folder)
    if found is None:
        return _detect_space(folder)
    from ..app.build import noisy_training_labels
    from ..data.keyed import sample_keys

    train, cfg, held = found
    labels, _ = noisy_training_labels(cfg, train, held)  # every sample, before a run's own --exclude
    keys = sample_keys(cfg, train, held)
    run = run_folder_of(folder)
    if run is not None:
        excluded = run_excluded(cfg, keys)
        if not np.array_equal(labels[kept(train, excluded)], RunFolder(run).read_npy(NOISY_LABELS)):
            raise UserError(f"{run}: the labels this run trained on cannot be rebuilt from its config.yaml (its data "
                            "or labels file changed since); review a run of the data as it is now")
    else:  # detect --dataset: the given labels of label_issues.csv, by source index
        excluded = np.zeros(0, dtype=np.int64)
        given = {int(r["index"]): int(r["given_label"]) for r in read_issue_rows(folder / LABEL_ISSUES)}
        if len(given) != len(train) or any(given.get(int(i)) != int(y) for i, y in zip(train.source_index, labels)):
            raise UserError(f"{shown(folder)}: the labels it examined cannot be rebuilt from its {DETECT_CONFIG} (the "
                            "data or labels file changed since); run 'noisylabels detect' again")
    return LabelSpace(labels, np.asarray(train.source_index), excluded, list(train.class_names), keys.paths, cfg,
                      keys.held_index, np.zeros(0, dtype=np.int64) if held is None else np.asarray(held.labels),
                      keys.held_paths or [])


def _detect_space(folder: Path) -> LabelSpace:
    """A detect folder of the user's own --labels: the labels are the given_label column by index 0..N-1."""
    rows = read_issue_rows(folder / LABEL_ISSUES)
    index = np.array([int(r["index"]) for r in rows], dtype=np.int64)
    if len(index) == 0 or not np.array_equal(np.sort(index), np.arange(len(index))):
        raise UserError(f"{shown(folder / LABEL_ISSUES)}: its index column is not 0..N-1, so the labels' order is "
                        "unknown; review the training run itself")
    labels = np.empty(len(index), dtype=np.int64)
    labels[index] = [int(r["given_label"]) for r in rows]
    names = class_names_of(folder, rows, int(labels.max()) + 1)
    return LabelSpace(labels, np.arange(len(index)), np.zeros(0, dtype=np.int64), names, None, None)


def read_issue_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a label_issues.csv (UserError when it lacks the columns a review needs)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"cannot read {shown(path)} ({type(e).__name__}); run 'noisylabels detect' again") from None
    need = ("index", "given_label", "label_quality", "is_label_issue", "suggested_label", "suggested_probability")
    missing = [c for c in need if rows and c not in rows[0]]
    if not rows or missing:
        raise UserError(f"{shown(path)} has {'no rows' if not rows else 'no column ' + ', '.join(missing)}; "
                        "it must be a label_issues.csv written by 'noisylabels train' or 'detect'")
    try:
        for r in rows:
            int(r["index"]), int(r["given_label"]), int(r["suggested_label"])
            float(r["label_quality"]), float(r["suggested_probability"])
    except (ValueError, TypeError):
        raise UserError(f"{shown(path)}: the row of index {r.get('index')!r} holds a non-number or misses a value; "
                        "write it again with 'noisylabels detect'") from None
    return rows


def class_names_of(folder: Path, rows: list[dict[str, str]], at_least: int) -> list[str]:
    """Class names from summary.json's class_summary, else the *_name columns, else '0'..'C-1'."""
    import json

    try:
        per_class = json.loads((folder / SUMMARY).read_text()).get("class_summary", {}).get("per_class", [])
        names = [str(p["name"]) for p in sorted(per_class, key=lambda p: int(p["class"]))]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        names = []
    c = max(at_least, len(names), 1 + max(int(r.get("suggested_label") or 0) for r in rows))
    found = {int(r["given_label"]): r["given_name"] for r in rows if r.get("given_name")}
    found.update({int(r["suggested_label"]): r["suggested_name"] for r in rows if r.get("suggested_name")})
    if len(names) == c:
        return names
    return [found.get(i, str(i)) for i in range(c)]


def read_decisions(path: str | Path, space: LabelSpace) -> dict[int, tuple[str, int | None]]:
    """review_decisions.csv -> {source index: (decision, corrected label or None)}; UserError when a row
    does not fit the run (an unknown index, another given label, an unknown class, a repeated index)."""
    file = Path(path)
    if not is_file(file):
        raise UserError(f"decisions file {shown(file)} not found ({file_identity(file)[1]}); export it from the review "
                        "page (Export decisions)")
    try:
        with open(file, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = [(h or "").strip().lower() for h in reader.fieldnames or []]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"cannot read decisions file {shown(file)} ({type(e).__name__}); "
                        "export it again from the review page") from None
    if not {"index", "decision"} <= set(header):
        raise UserError(f"decisions file {shown(file)} needs the columns index, decision (and corrected_label for "
                        "relabel); export it from the review page")
    position = {int(s): i for i, s in enumerate(space.source_index)}
    names = {n: i for i, n in enumerate(space.class_names)}
    out: dict[int, tuple[str, int | None]] = {}
    for n, raw in enumerate(rows, start=2):
        r = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        where = f"decisions file {shown(file)} line {n}"
        idx = as_index(r["index"])
        if idx is None:
            raise UserError(f"{where}: index {r['index']!r} is not a sample index")
        if idx not in position:
            raise UserError(f"{where}: index {idx} is not a training sample of this run; export the decisions of "
                            "this run's review page")
        if idx in out:
            raise UserError(f"{where}: index {idx} appears twice; keep one decision per sample")
        if r.get("path") and space.paths is not None and not _same_file(r["path"], space.paths[position[idx]]):
            raise UserError(f"{where}: path {shown(r['path'])} but index {idx} is {shown(space.paths[position[idx]])} "
                            "in this run's data; the decisions belong to other data (or the rows were edited): export "
                            "them again from this run's review page")
        decision = r["decision"].lower()
        if decision not in DECISIONS:
            raise UserError(f"{where}: decision {r['decision']!r} is not one of {', '.join(DECISIONS)}")
        given = int(space.labels[position[idx]])
        if r.get("given_label") and _label(r["given_label"], names, len(space.class_names)) != given:
            raise UserError(f"{where}: given_label {shown(r['given_label'])} but this run's label of sample {idx} is "
                            f"{given}; the decisions belong to another run")
        label = None
        if decision == "relabel":
            label = _label(r.get("corrected_label", ""), names, len(space.class_names))
            if label is None:
                raise UserError(f"{where}: relabel needs a corrected_label, a class index "
                                f"0..{len(space.class_names) - 1} "
                                f"or a class name that is not a number, got {r.get('corrected_label', '')!r}")
        out[idx] = (decision, label)
    return out


def _same_file(written: str, key: str) -> bool:
    """Whether a path as a review file writes it (relative to where the run was started, or absolute) names the
    sample whose key (its path relative to the source's root) is ``key``: the key's parts end the path."""
    parts, want = PurePath(written.replace("\\", "/")).parts, PurePath(key).parts
    return len(parts) >= len(want) and parts[len(parts) - len(want):] == want


def _label(text: str, names: dict[str, int], num_classes: int) -> int | None:
    """A decision's label: a number is a class index (as the review page writes it, whatever the class names),
    other text a class name; None where it is neither."""
    if is_number(text):
        index = as_index(text)
        return index if index is not None and index < num_classes else None
    return names.get(text)


def apply_review(folder: str | Path, decisions_file: str | Path, out: str | Path) -> dict[str, Any]:
    """Apply ``decisions_file`` to the run in ``folder`` and write the corrected labels and the exclusion
    list into ``out`` (see the module docstring). Returns the counts and the paths written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the corrected labels")
    space = label_space(folder)
    decisions = read_decisions(decisions_file, space)
    position = {int(s): i for i, s in enumerate(space.source_index)}
    corrected = space.labels.copy()
    excluded = set(int(i) for i in space.excluded)
    counts = {d: 0 for d in DECISIONS}
    for idx, (decision, label) in decisions.items():
        counts[decision] += 1
        if decision == "relabel":
            corrected[position[idx]] = label
        elif decision == "exclude":
            excluded.add(idx)
    numeric = any(is_number(n) for n in space.class_names)  # a name '3' is no label a reader can tell from index 3
    index = np.concatenate([space.source_index, space.held_index]).tolist()
    label = [y if numeric else space.class_names[y] for y in np.concatenate([corrected, space.held_labels]).tolist()]
    if space.paths is None:  # keyed by index alone
        key_header, keys = ["index"], {i: [i] for i in index}
    else:
        key_header, keys = ["index", "path"], {i: [i, p] for i, p in zip(index, space.paths + space.held_paths)}
    labels_path = out / CORRECTED_CSV
    column = "class_index" if any(is_number(n) and n != str(i) for i, n in enumerate(space.class_names)) else "label"
    atomic_write_bytes(labels_path, _csv([*key_header, column], sorted([*keys[i], y] for i, y in zip(index, label))))
    atomic_write_bytes(out / EXCLUDED, _csv(key_header, (keys[i] for i in sorted(excluded))))
    return {"counts": counts, "labels_file": labels_path, "exclude_file": out / EXCLUDED,
            "num_excluded": len(excluded), "num_changed": int(np.sum(corrected != space.labels)),
            "config": space.config}


def _csv(header: list[str], rows: Any) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


def retrain_command(result: dict[str, Any]) -> str:
    """The ``noisylabels train`` command that trains again on the corrected labels, with the data options
    of the reviewed run (they fix the training set's order that the labels file follows)."""
    cfg = result["config"] or {}
    parts = ["noisylabels train"]
    if cfg:
        for key in ("dataset", "data_dir", "train_size", "test_data", "test_fraction", "image_size", "seed"):
            if cfg.get(key) is not None and (key in ("dataset", "seed") or cfg[key] != TRAIN_DEFAULTS.get(key)):
                parts.append(f"--{key.replace('_', '-')} {cfg[key]}")
        if cfg.get("skip_bad_images"):
            parts.append("--skip-bad-images")
        if "test_fraction" not in cfg and str(cfg.get("dataset", "")).split(":", 1)[0] in ("folder", "csv"):
            parts.append("--test-data YOUR_TEST_IMAGES")  # detect --dataset labelled every sample: none held out
    else:
        parts.append("--dataset ...")
    parts.append(f"--labels {result['labels_file']}")
    if result["num_excluded"]:
        parts.append(f"--exclude {result['exclude_file']}")
    parts.append("--out NEW_RUN")
    return " ".join(parts)
