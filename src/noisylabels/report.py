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
        ax.plot(epochs, [r.get(key, np.nan) for r in history], marker=".")
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
