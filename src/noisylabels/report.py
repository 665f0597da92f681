"""Plots of a run: training curves and the clean-probability histogram (matplotlib, no display)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .runs import atomic_write_bytes


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def plot_curves(history: list[dict], path: Path, title: str) -> None:
    """Test accuracy, training loss and, where logged, estimated noise rate and detection AUROC per epoch."""
    plt = _figure()
    epochs = [r["epoch"] for r in history]
    panels = [("test_accuracy", "test accuracy"), ("loss", "training loss")]
    panels += [(k, label) for k, label in (("noise_rate_estimated", "estimated noise rate"),
                                           ("detection_auroc", "detection ROC-AUC"),
                                           ("knn_accuracy", "kNN accuracy")) if any(k in r for r in history)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.0), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        ax.plot(epochs, [np.nan if r.get(key) is None else r[key] for r in history], marker=".")
        ax.set_xlabel("epoch")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10, y=1.06)
    _save(fig, path)
    plt.close(fig)


def plot_quality_histogram(quality: np.ndarray, truly_noisy: np.ndarray | None, path: Path, title: str) -> None:
    """Histogram of label_quality (e.g. TCL's w), split into truly clean and truly noisy when known."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    bins = np.linspace(0, 1, 41)
    if truly_noisy is None:
        ax.hist(quality, bins=bins, color="tab:blue")
    else:
        ax.hist(quality[~truly_noisy], bins=bins, alpha=0.6, label=f"clean label ({int((~truly_noisy).sum())})")
        ax.hist(quality[truly_noisy], bins=bins, alpha=0.6, label=f"wrong label ({int(truly_noisy.sum())})")
        ax.legend(fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("label quality (probability the given label is clean)")
    ax.set_ylabel("samples")
    ax.set_title(title, fontsize=10)
    _save(fig, path)
    plt.close(fig)


def plot_class_noise(summary: dict, path: Path, actual_wrong: np.ndarray | None = None) -> None:
    """Two panels from :func:`labelquality.class_summary`: the estimated noise rate per given class
    (beside the actual rate when ``actual_wrong`` (C,) counts of truly wrong labels are known), and the
    most frequent (given -> suggested) pairs among the flagged labels."""
    plt = _figure()
    classes, pairs = summary["per_class"], summary["confused_pairs"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 0.3 * max(len(classes), len(pairs), 6) + 1.2))
    names = [str(c["name"])[:18] for c in classes]
    y = np.arange(len(classes))
    ax.barh(y - 0.2, [c["noise_rate_estimated"] for c in classes], height=0.4, label="estimated (flagged)")
    if actual_wrong is not None:
        sizes = np.array([max(1, c["samples"]) for c in classes])
        ax.barh(y + 0.2, np.asarray(actual_wrong)[:len(classes)] / sizes, height=0.4, label="actual")
        ax.legend(fontsize=8)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share of the class's labels")
    ax.set_title("noise per given class", fontsize=10)
    labels = [f"{str(p['given_name'])[:14]} -> {str(p['suggested_name'])[:14]}" for p in pairs]
    bx.barh(np.arange(len(pairs)), [p["count"] for p in pairs], color="tab:red")
    bx.set_yticks(np.arange(len(pairs)), labels, fontsize=8)
    bx.invert_yaxis()
    bx.set_xlabel("flagged labels")
    bx.set_title("most confused pairs (given -> suggested)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_suspects(
    images: np.ndarray, given: np.ndarray, suggested: np.ndarray, quality: np.ndarray, path: Path,
    *, class_names: list[str] | None = None, top: int = 32, source_index: np.ndarray | None = None,
) -> None:
    """A grid of the ``top`` most suspect images (lowest quality), titled given -> suggested label.

    images: uint8 (N, H, W, C) in the order of the labels; each title starts with the image's
    ``source_index`` (its position in the user's source, as label_issues.csv's ``index``; default 0..N-1).
    """
    plt = _figure()
    order = np.argsort(quality, kind="stable")[:top]
    cols = 8
    rows = max(1, int(np.ceil(len(order) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.9 * rows), squeeze=False)
    name = (lambda c: class_names[c][:10]) if class_names else str
    for ax in axes.ravel():
        ax.axis("off")
    ids = np.arange(len(given)) if source_index is None else source_index
    for ax, i in zip(axes.ravel(), order):
        img = images[i]
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None)
        ax.set_title(f"#{int(ids[i])} {name(int(given[i]))}\n-> {name(int(suggested[i]))} ({quality[i]:.2f})", fontsize=7)
    fig.suptitle("most suspect labels: given -> suggested (label quality)", fontsize=9)
    _save(fig, path)
    plt.close(fig)


def plot_accuracy_vs_noise(rows: list[dict], path: Path, protocol: str) -> None:
    """Test accuracy against the actual noise rate, one line per method and noise type (seed means)."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    series: dict[str, dict[float, list[float]]] = {}
    sizes = {r.get("num_train") for r in rows}
    for r in rows:
        kind = "" if r["noise"] in ("none", "symmetric") else f" ({r['noise']})"
        kind += f" n={r.get('num_train')}" if len(sizes) > 1 else ""
        series.setdefault(f"{r['method']}{kind}", {}).setdefault(round(float(r["noise_rate_actual"]), 3), []).append(
            100 * float(r["test_accuracy"]))
    for name, pts in sorted(series.items()):
        xs = sorted(pts)
        ax.plot(xs, [np.mean(pts[x]) for x in xs], marker="o", label=name)
    ax.set_xlabel("actual noise rate")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{protocol}: accuracy vs label noise", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)
    plt.close(fig)


def plot_detection_rocs(rows: list[dict], path: Path, protocol: str) -> None:
    """ROC curves of label-issue detection (from each run's label_issues.csv), one panel per noisy case."""
    import csv

    from sklearn.metrics import roc_curve

    plt = _figure()
    cases = sorted({r["case"] for r in rows if r["noise"] != "none"})
    fig, axes = plt.subplots(1, max(1, len(cases)), figsize=(3.6 * max(1, len(cases)), 3.4), squeeze=False)
    for ax, case in zip(axes[0], cases):
        seen = set()
        for r in rows:
            table = Path(r["path"]) / "label_issues.csv"
            if r["case"] != case or r["method"] in seen or not table.exists():
                continue
            with open(table) as f:
                recs = list(csv.DictReader(f))
            if not recs or "true_label" not in recs[0]:
                continue
            noisy = np.array([x["given_label"] != x["true_label"] for x in recs])
            if noisy.all() or not noisy.any():
                continue
            fpr, tpr, _ = roc_curve(noisy, -np.array([float(x["label_quality"]) for x in recs]))
            ax.plot(fpr, tpr, label=f"{r['method']} (s{r['seed']})")
            seen.add(r["method"])
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.set_title(case, fontsize=10)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(fontsize=7)
    fig.suptitle(f"{protocol}: wrong-label detection ROC", fontsize=10, y=1.03)
    _save(fig, path)
    plt.close(fig)
