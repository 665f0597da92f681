"""Label issues from predictions the user brings, or from a finished run (``noisylabels detect``).

:func:`detect_issues` runs the detector every training run uses (confident learning on class-normalised
probabilities, ``labelquality``); with embeddings, it ranks as a training run does (``detect.context_issues``:
the geometric mean of the classifier's quality and TCL's context assignment, Sec. 3.2), and a run's
folder with ``--run`` exactly as that run ranked.
:func:`export_label_issues` writes label_issues.csv, its plots and summary entries for ``detect`` and
for every training run (``app.summary.write_issues``) alike.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .data._text import is_number, shown, whole_number
from .data.files import file_identity, is_file
from .data.keyed import label_vector
from .data.sources import load_run_splits, true_labels_known
from .detect import ContextRanking, context_issues, export_issues
from .errors import UserError
from .held_out import judged_on_held_out
from .labelquality import LabelIssues, find_issues
from .runs import CONFIG, COUNT_PROBS, DETECT_CONFIG, FEATURES, NOISY_LABELS, PRED_PROBS, SUMMARY, RunFolder, staged
from .safeload import load_npy

SUSPECTS = "suspects.png"


def detect_issues(
    labels: np.ndarray, pred_probs: np.ndarray, *, features: np.ndarray | None = None,
    ranking: ContextRanking = ContextRanking(), provenance: str = "out-of-sample",
    count_probs: np.ndarray | None = None,
) -> LabelIssues:
    """Label quality, flags and suggestions for N labels from (N, C) probabilities.

    Args:
        labels: (N,) int given labels in [0, C); pred_probs: (N, C) predicted probabilities;
        features: optional (N, D) embeddings (L2-normalised here); ranking: how the context of the
            features enters the ranking (``detect.ContextRanking``; a run's method's own with ``--run``);
        provenance: "out-of-sample" (K-fold or held-out predictions, as cleanlab asks for) or "in-sample" (a
            model's predictions of its own training images): how the flags are counted
            (``labelquality.find_issues``);
        count_probs: in-sample only, (N, C) probabilities whose anchors count the flags in place of
            ``pred_probs`` (a TCL run's count_probs.npy).
    """
    labels, pred_probs = validate_predictions(labels, pred_probs)
    z = None if features is None else torch.from_numpy(checked_features(features, len(labels)))  # checked once
    if count_probs is not None:  # its shape: detect_from_run names the files; find_issues checks callers
        try:
            _, count_probs = validate_predictions(labels, count_probs)
        except UserError as e:
            raise UserError(f"count_probs (the probabilities that count the flags): {e}") from None
    if z is None:
        return find_issues(labels, pred_probs, provenance=provenance, count_probs=count_probs)
    return context_issues(z, torch.from_numpy(pred_probs), torch.from_numpy(labels), ranking, provenance=provenance,
                          count_probs=count_probs)


def run_provenance(cfg: dict[str, Any]) -> str:
    """Where a run's pred_probs.npy come from: out-of-sample (K-fold) for cleanlab-retrain, else in-sample."""
    return "out-of-sample" if str(cfg.get("method")) == "cleanlab-retrain" else "in-sample"


def run_context_ranking(cfg: dict[str, Any]) -> ContextRanking:
    """The context ranking the run with config.yaml ``cfg`` used (its method's ``context_ranking``)."""
    from .config import resolve_method_options
    from .methods import get_method

    cls = get_method(str(cfg.get("method", "ce")))
    return cls.context_ranking(cls.Options(**resolve_method_options(cls, dict(cfg.get("method_options") or {}))))


def validate_predictions(
    labels: np.ndarray, pred_probs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes, dtypes and ranges (UserError with the fix); returns int64 labels and float64
    probabilities whose rows sum to 1."""
    labels = label_vector(labels, "labels")
    pred_probs = np.asarray(pred_probs)
    if pred_probs.ndim != 2 or not np.issubdtype(pred_probs.dtype, np.floating):
        raise UserError(f"pred_probs must be a 2-D float array (N, C), got shape {pred_probs.shape} "
                        f"dtype {pred_probs.dtype}")
    if len(pred_probs) != len(labels):
        hint = ("; a header row read as a sample? the first row of a one-column CSV is data where it is a number "
                "(pandas writes the name 0 above a Series): name the column, e.g. 'label', or save with header=False"
                if abs(len(pred_probs) - len(labels)) == 1 else "")
        raise UserError(f"pred_probs has {len(pred_probs)} rows but there are {len(labels)} labels; "
                        f"they must describe the same samples in the same order{hint}")
    if len(labels) == 0:
        raise UserError("labels and pred_probs hold no samples; give one row per sample")
    if pred_probs.shape[1] < 2:
        raise UserError(f"pred_probs has {pred_probs.shape[1]} column(s); label issues need at least 2 classes "
                        "(one probability column per class)")
    if labels.min(initial=0) < 0 or labels.max(initial=0) >= pred_probs.shape[1]:
        raise UserError(f"labels must lie in [0, {pred_probs.shape[1]}) (the columns of pred_probs), "
                        f"got {labels.min()}..{labels.max()}")
    if not np.all(np.isfinite(pred_probs)) or pred_probs.min() < 0:
        raise UserError("pred_probs must be finite and non-negative (pass softmax probabilities, not logits)")
    sums = pred_probs.astype(np.float64).sum(1, keepdims=True)  # as a run normalises its own (float64)
    if np.any(np.abs(sums - 1) > 1e-2):
        raise UserError("pred_probs rows must sum to 1 (pass softmax probabilities, not logits)")
    return labels.astype(np.int64), pred_probs.astype(np.float64) / sums


FEATURE_NORMS = (1e-6, 1e15)  # rows whose norm lies here are normalised in float32 as they are (squares fit,
#                                  and torch's normalize, which divides by max(norm, 1e-12), divides by the norm)


def checked_features(features: np.ndarray, n: int) -> np.ndarray:
    """The user's embeddings (N, D) in float32 as every use of them takes them (each use L2-normalises the rows):
    a row whose norm lies outside ``FEATURE_NORMS`` is normalised here first, in float64 after dividing it by its
    largest magnitude, so that values beyond float32's range (1e39) or below its squares' (1e-20) keep their
    direction instead of turning into inf, NaN or zero; other rows are cast as they are (a run's own features rank
    exactly as in the run). UserError unless they are 2-D real numbers, one row per label, at least one column,
    all finite."""
    f = np.asarray(features)
    if f.ndim != 2 or len(f) != n or f.shape[1] == 0 or f.dtype.kind not in "iuf" or not np.all(np.isfinite(f)):
        raise UserError(f"features must be a finite 2-D array of real numbers with one row per label, got "
                        f"{f.dtype} of shape {f.shape}")
    u = f.astype(np.float64)
    top = np.abs(u).max(1, keepdims=True)
    unit = u / np.where(top > 0, top, 1.0)
    unit /= np.where((norm := np.linalg.norm(unit, axis=1, keepdims=True)) > 0, norm, 1.0)
    lo, hi = FEATURE_NORMS
    extreme = (top > 0) & ((top * norm < lo) | (top * norm > hi))  # top * norm: the row's norm, without overflow
    return np.where(extreme, unit, u).astype(np.float32)


def feature_vote_probs(labels: np.ndarray, features: np.ndarray | None, *, k: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Out-of-sample probabilities (N, C) from the user's embeddings alone: leave-one-out votes of the k
    most similar other samples' given labels (``probe.knn_probs``; SimiFeat's vote, Zhu et al., ICML 2022),
    C = the largest label + 1; and the summary entries that say so."""
    from .probe import knn_probs

    labels = np.asarray(labels)
    if features is None or labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or len(labels) == 0 \
            or labels.min() < 0:
        raise UserError("features without pred_probs need labels as 1-D non-negative integer class indices")
    f = checked_features(features, len(labels))
    if not 1 <= k < len(labels):  # each sample's neighbours are the others: k of them must exist
        raise UserError(f"k (neighbours) must be at least 1 and below the {len(labels)} samples, got {k}")
    c = max(2, int(labels.max()) + 1)
    if c > len(labels):  # the votes are (N, C): a typo'd index would allocate for classes no sample has
        raise UserError(f"labels hold class index {c - 1} for {len(labels)} samples: more classes than samples; "
                        "write class indices 0..C-1 of the classes you have")
    probs = knn_probs(torch.from_numpy(f), torch.from_numpy(labels.astype(np.int64)), c, k=k)
    return probs.double().numpy(), {"probe": "knn", "k": int(k)}


def load_array(path: str, what: str) -> np.ndarray:
    """A .npy file (one array, no pickled objects), or a one-column / N-column .csv of numbers (a header
    row allowed; Excel's BOM and quoted cells read as any CSV reader reads them) -> numpy array."""
    p = Path(path)
    if not is_file(p):
        raise UserError(f"--{what}: file {shown(path)} not found ({file_identity(p)[1]})")
    if p.suffix not in (".npy", ".csv"):
        raise UserError(f"--{what}: {shown(path)} must be a .npy or .csv file")
    try:
        return load_npy(p) if p.suffix == ".npy" else _read_csv_numbers(p)
    except (ValueError, OSError, EOFError, csv.Error) as e:
        detail = (str(e).splitlines() or [type(e).__name__])[0]
        raise UserError(f"--{what}: cannot read {shown(path)} ({shown(detail)})") from None


def _read_csv_numbers(path: Path) -> np.ndarray:
    """Rows of numbers (float64), (N,) for one column, (N, C) for several. The first row is a header where it
    does not start with a number, or where it is pandas' default column names 0, 1, ..., C-1 (two columns or
    more) above rows that are not all whole numbers; a header with an unnamed column (pandas' row index) is
    refused, as its numbers would be read as data."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        rows = [(reader.line_num, r) for r in reader if any(cell.strip() for cell in r)]
    if rows and (not is_number(rows[0][1][0]) or _default_column_names(rows)):
        header = rows[0][1]
        unnamed = next((j for j, cell in enumerate(header) if not cell.strip()), None)
        if unnamed is not None and len(header) > 1:
            raise ValueError(f"column {unnamed + 1} of its header has no name (pandas writes its row index so): save "
                             "the file without the index (to_csv(..., index=False))")
        rows = rows[1:]
    if not rows:
        return np.zeros(0)
    width = len(rows[0][1])
    out = np.empty((len(rows), width))
    for i, (line, row) in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"line {line} has {len(row)} cells where the first row has {width}: write one "
                             "comma-separated number per column on every row")
        for j, cell in enumerate(row):
            try:
                out[i, j] = float(cell)
            except ValueError:
                hint = ("its cells are separated by semicolons: save the file with commas" if ";" in cell
                        else "write comma-separated numbers, a point for the decimals")
                text = shown(cell if len(cell) <= 40 else cell[:40] + "...")
                raise ValueError(f"line {line}, column {j + 1}: {text} is not a number ({hint})") from None
    return out.squeeze(-1) if width == 1 else out


def _default_column_names(rows: list[tuple[int, list[str]]]) -> bool:
    """Whether the first of ``rows`` (line, cells) is pandas' default header of unnamed columns: the cells are
    exactly '0', '1', ..., 'C-1' (C >= 2) and a later cell is not a whole number (:func:`whole_number`)."""
    first = [cell.strip() for cell in rows[0][1]]
    if len(first) < 2 or first != [str(j) for j in range(len(first))]:
        return False
    return any(whole_number(cell) is None for _, r in rows[1:] for cell in r)


def export_label_issues(
    folder: RunFolder, issues: LabelIssues, labels: np.ndarray, pred_probs: np.ndarray, *, title: str,
    true_labels: np.ndarray | None = None, source_index: np.ndarray | None = None, paths: list[str] | None = None,
    class_names: list[str] | None = None, held_out_accuracy: float | None = None,
) -> dict[str, Any]:
    """The one label-issue exporter of ``train`` and ``detect``: label_issues.csv, plots/label_quality.png
    and plots/class_noise.png in ``folder`` (``detect.export_issues``); returns the summary's entries.

    Args:
        issues: the detector's output for the N ``labels`` (int (N,), the given labels).
        pred_probs: (N, C) probabilities whose argmax is the ``predicted_label`` column.
        title: of the label-quality plot.
        true_labels: (N,) when known: adds the detection metrics, ``noise_rate_actual`` (given != true)
            and ``train_accuracy_vs_truth`` (predicted == true).
        source_index: each sample's position in the user's source (default 0..N-1); paths, class_names:
            the optional ``path`` and ``*_name`` columns.
        held_out_accuracy: the model's accuracy on held-out images where known (a training run's test
            accuracy): the in-sample flags then cover the disagreements its held-out error cannot explain,
            and the evidence says when the model is too weak on new images (``held_out.judged_on_held_out``).
    """
    labels = np.asarray(labels, dtype=np.int64)
    issues = judged_on_held_out(labels, pred_probs, issues, held_out_accuracy)
    predicted = np.asarray(pred_probs).argmax(1)
    source_index = np.arange(len(labels)) if source_index is None else np.asarray(source_index)
    out = export_issues(folder, issues, labels, predicted, source_index=source_index, true_labels=true_labels,
                        paths=paths, class_names=class_names, title=title)
    if true_labels is not None:
        true = np.asarray(true_labels)
        out["noise_rate_actual"] = float(np.mean(labels != true))
        out["train_accuracy_vs_truth"] = float(np.mean(predicted == true))
    return out


def detect_to_folder(
    out: str | Path, labels: np.ndarray, pred_probs: np.ndarray, *, features: np.ndarray | None = None,
    true_labels: np.ndarray | None = None, images: np.ndarray | None = None, source_index: np.ndarray | None = None,
    paths: list[str] | None = None, class_names: list[str] | None = None, top: int = 32,
    ranking: ContextRanking = ContextRanking(), extra: dict[str, Any] | None = None,
    provenance: str = "out-of-sample", count_probs: np.ndarray | None = None,
    write_more: Callable[[RunFolder], None] | None = None, held_out_accuracy: float | None = None,
) -> dict[str, Any]:
    """Find label issues and write label_issues.csv, plots, summary.json and (with images) suspects.png;
    ``extra``: more summary entries (how the probabilities were made); ``provenance`` and ``count_probs`` as
    :func:`detect_issues` takes them; ``write_more``: writes the caller's own files beside them;
    ``held_out_accuracy`` as :func:`export_label_issues` takes it. Nothing in ``out`` changes until every file
    is written (:func:`~noisylabels.runs.staged`)."""
    if (Path(out) / CONFIG).exists():  # its pred_probs.npy and features.npy are the run's, not a detection's
        raise UserError(f"--out {shown(out)} holds a training run; choose another folder for the detection")
    if true_labels is not None and len(true_labels) != len(labels):  # before anything is written
        raise UserError(f"--true-labels has {len(true_labels)} entries but there are {len(labels)} labels")
    if true_labels is not None:
        t = label_vector(true_labels, "--true-labels")
        if t.min(initial=0) < 0 or t.max(initial=0) >= np.asarray(pred_probs).shape[-1]:
            raise UserError("--true-labels must be class indices in [0, "
                            f"{np.asarray(pred_probs).shape[-1]}) like --labels, got {t.min()}..{t.max()}")
        true_labels = t
    issues = detect_issues(labels, pred_probs, features=features, ranking=ranking, provenance=provenance,
                           count_probs=count_probs)
    labels = np.asarray(labels, dtype=np.int64)
    source_index = np.arange(len(labels)) if source_index is None else np.asarray(source_index)
    # written in full before any earlier detection's file is replaced; that detection's files this one has no
    # counterpart of go (its detect.yaml, arrays and suspects would name other samples)
    with staged(out, replaces=(DETECT_CONFIG, PRED_PROBS, FEATURES, SUSPECTS)) as folder:
        summary: dict[str, Any] = {"num_samples": int(len(labels))}
        summary.update(export_label_issues(folder, issues, labels, pred_probs, true_labels=true_labels,
                                           source_index=source_index, paths=paths, class_names=class_names,
                                           title=f"detect: label quality of {len(labels)} samples",
                                           held_out_accuracy=held_out_accuracy))
        if held_out_accuracy is not None:
            summary["held_out_accuracy"] = float(held_out_accuracy)
        summary.update(extra or {})
        if images is not None:
            from .report import plot_suspects

            plot_suspects(images, labels, issues.suggested, issues.quality, folder.path / SUSPECTS,
                          class_names=class_names, top=top, source_index=source_index)
        folder.write_json("summary.json", summary)
        if write_more is not None:
            write_more(folder)
    return summary


def detect_from_run(run_dir: str | Path, out: str | Path, *, use_features: bool = True) -> dict[str, Any]:
    """:func:`detect_to_folder` on a finished run's pred_probs.npy (and features.npy; count_probs.npy, the
    probabilities that count a TCL run's flags), with its images,
    source indices, paths, class names and, when noise was added, the true labels."""
    run = RunFolder(run_dir)
    for name in (CONFIG, NOISY_LABELS, PRED_PROBS):
        if not (run.path / name).exists():
            raise UserError(f"--run {shown(run_dir)}: no {name} there; give the folder of a finished training run")
    cfg = run.read_yaml(CONFIG)
    labels = run.read_npy(NOISY_LABELS)
    probs = run.read_npy(PRED_PROBS)
    features = run.read_npy(FEATURES) if use_features and (run.path / FEATURES).exists() else None
    in_sample = run_provenance(cfg) == "in-sample"
    count_probs = run.read_npy(COUNT_PROBS) if in_sample and (run.path / COUNT_PROBS).exists() else None
    if count_probs is not None and count_probs.shape != probs.shape:
        raise UserError(f"--run {shown(run_dir)}: {COUNT_PROBS} {count_probs.shape} does not match {PRED_PROBS} "
                        f"{probs.shape}; train the run again (or delete {COUNT_PROBS} to count on {PRED_PROBS})")
    from .review.exclude import as_trained

    from .data.keyed import held_out, sample_keys

    splits = load_run_splits(cfg)
    train = as_trained(cfg, splits.train, sample_keys(cfg, splits.train, held_out(splits)))
    if len(train) != len(labels):
        raise UserError(f"--run {shown(run_dir)}: its data now has {len(train)} training samples, the run had "
                        f"{len(labels)}")
    true = train.labels if true_labels_known(cfg) else None
    return detect_to_folder(out, labels, probs, features=features, true_labels=true, images=train.images,
                            source_index=train.source_index, paths=train.paths, class_names=train.class_names,
                            ranking=run_context_ranking(cfg), provenance=run_provenance(cfg), count_probs=count_probs,
                            held_out_accuracy=run_test_accuracy(run))


def run_test_accuracy(run: RunFolder) -> float | None:
    """The finished run's final test accuracy from its summary.json, or None where the file, the entry or a
    finite value in [0, 1] is missing (a run without a test set writes NaN; a hand-edited file may hold
    anything): the held-out accuracy ``detect --run`` judges the count with, as the run did."""
    try:
        value = run.read_json(SUMMARY).get("test_accuracy")
    except (OSError, UserError):  # missing, unreadable or damaged
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        return None  # NaN fails the range test too
    return float(value)
