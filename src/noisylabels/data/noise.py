"""Label-noise generators (pure numpy, seeded) and the user's own noisy-label files.

Definitions follow shared/PROTOCOL.md; every generator takes the true labels (N,) and returns noisy
labels (N,) int64, from ``numpy.random.default_rng(seed)`` only (no global state).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import UserError

NOISE_NAMES: tuple[str, ...] = ("none", "symmetric", "symmetric-exclusive", "asymmetric", "pairflip", "instance")

# Asymmetric maps (source class -> target class).
ASYMMETRIC_MAPS: dict[str, dict[int, int]] = {
    "cifar10": {9: 1, 2: 0, 4: 7, 3: 5, 5: 3},  # truck->automobile, bird->airplane, deer->horse, cat<->dog
    "fashion-mnist": {0: 6, 6: 0, 2: 4, 5: 7, 9: 7},  # T-shirt<->Shirt, Pullover->Coat, Sandal/Ankle boot->Sneaker
}
# CIFAR-100 fine label (alphabetical, as in the dataset's meta file) -> its superclass (coarse label).
CIFAR100_COARSE = np.array([
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13, 15, 3, 15,
    0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13, 16, 19, 2, 4, 6, 19, 5, 5, 8, 19,
    18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
])


def cifar100_superclass_map() -> dict[int, int]:
    """Each fine class -> the next fine class (by index) inside its true superclass, cyclically.

    Many public codes (Co-teaching, ELR, TCL) use consecutive blocks of 5 class indices instead,
    which are not the superclasses; we follow PROTOCOL.md's definition.
    """
    mapping = {}
    for coarse in range(20):
        members = np.flatnonzero(CIFAR100_COARSE == coarse)
        for i, fine in enumerate(members):
            mapping[int(fine)] = int(members[(i + 1) % len(members)])
    return mapping


def _check_labels(labels: np.ndarray, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise UserError(f"labels must lie in [0, {num_classes}), found {labels.min()}..{labels.max()}")
    return labels.astype(np.int64)


def _pick(rng: np.random.Generator, idx: np.ndarray, rate: float) -> np.ndarray:
    """Exactly round(rate * len(idx)) of ``idx``, drawn without replacement."""
    return rng.choice(idx, size=int(round(rate * len(idx))), replace=False)


def symmetric(labels: np.ndarray, *, rate: float, num_classes: int, rng: np.random.Generator,
              exclusive: bool) -> np.ndarray:
    """round(rate N) samples get a uniform label from all C classes, or from the C-1 others if exclusive."""
    noisy = labels.copy()
    chosen = _pick(rng, np.arange(len(labels)), rate)
    if exclusive:
        noisy[chosen] = (labels[chosen] + rng.integers(1, num_classes, len(chosen))) % num_classes
    else:
        noisy[chosen] = rng.integers(0, num_classes, len(chosen))
    return noisy


def class_map_noise(labels: np.ndarray, *, rate: float, mapping: dict[int, int],
                    rng: np.random.Generator) -> np.ndarray:
    """For each source class c in ``mapping``, exactly round(rate n_c) of its samples move to mapping[c].

    Decided on the original labels, so a sample moved 3 -> 5 never moves again.
    """
    noisy = labels.copy()
    for src, dst in sorted(mapping.items()):
        chosen = _pick(rng, np.flatnonzero(labels == src), rate)
        noisy[chosen] = dst
    return noisy


def instance_noise(labels: np.ndarray, *, rate: float, num_classes: int, images: np.ndarray,
                   rng: np.random.Generator, std: float = 0.1) -> np.ndarray:
    """Instance-dependent noise (Xia et al., NeurIPS 2020, "Part-dependent label noise").

    Per-sample flip rate q_i ~ N(rate, std) truncated to [0, 1]; a random projection W of shape
    (C, D, C); for sample i with label y: scores = x_i W[y], scores[y] = -inf, then probabilities
    q_i softmax(scores) on the other classes and 1 - q_i on y. images: uint8 (N, ...), D = its size.
    """
    n = len(labels)
    q = rng.normal(rate, std, size=n)
    bad = (q < 0) | (q > 1)
    while bad.any():  # truncation by redrawing
        q[bad] = rng.normal(rate, std, size=int(bad.sum()))
        bad = (q < 0) | (q > 1)
    x = images.reshape(n, -1).astype(np.float32) / 255.0
    d = x.shape[1]
    noisy = labels.copy()
    u = rng.random(n)
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        w = rng.standard_normal((d, num_classes)).astype(np.float32)
        if idx.size == 0:
            continue
        scores = x[idx] @ w
        scores[:, c] = -np.inf
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=1, keepdims=True)
        p *= q[idx, None]
        p[:, c] = 1.0 - q[idx]
        cdf = np.cumsum(p, axis=1)
        noisy[idx] = np.minimum((cdf < u[idx, None]).sum(axis=1), num_classes - 1)
    return noisy


def make_noisy_labels(labels: np.ndarray, *, noise: str, rate: float, num_classes: int, seed: int,
                      dataset: str | None = None, images: np.ndarray | None = None,
                      class_names: list[str] | None = None) -> np.ndarray:
    """True labels (N,) -> noisy labels (N,) int64 for a NOISE_NAMES entry or ``file:PATH[#key]``."""
    labels = _check_labels(labels, num_classes)
    if noise.startswith("file:"):
        return load_label_file(noise[len("file:"):], n=len(labels), num_classes=num_classes, class_names=class_names)
    if noise not in NOISE_NAMES:
        raise UserError(f"unknown noise {noise!r}; choose one of {', '.join(NOISE_NAMES)} or file:PATH")
    if not 0.0 <= float(rate) <= 1.0:
        raise UserError(f"--noise-rate must be in [0, 1], got {rate}")
    rng = np.random.default_rng(seed)
    if noise == "none" or rate == 0:
        return labels.copy()
    if noise in ("symmetric", "symmetric-exclusive"):
        return symmetric(labels, rate=rate, num_classes=num_classes, rng=rng, exclusive=noise.endswith("exclusive"))
    if noise == "pairflip":
        return class_map_noise(labels, rate=rate, mapping={c: (c + 1) % num_classes for c in range(num_classes)},
                               rng=rng)
    if noise == "asymmetric":
        if dataset == "cifar100":
            mapping = cifar100_superclass_map()
        elif dataset in ASYMMETRIC_MAPS:
            mapping = ASYMMETRIC_MAPS[dataset]
        else:
            raise UserError(f"asymmetric noise has class maps only for cifar10, cifar100 and fashion-mnist, "
                            f"not {dataset}; use pairflip or file:PATH")
        return class_map_noise(labels, rate=rate, mapping=mapping, rng=rng)
    if images is None or len(images) != len(labels):
        raise UserError("instance noise needs the training images; pass images= with one image per label")
    return instance_noise(labels, rate=rate, num_classes=num_classes, images=images, rng=rng)


def _from_names(values: np.ndarray, class_names: list[str] | None, path: str) -> np.ndarray:
    strings = [str(v).strip() for v in values]
    if all(s.lstrip("-").isdigit() for s in strings):
        return np.array([int(s) for s in strings], dtype=np.int64)
    if class_names is None:
        raise UserError(f"{path} holds class names but the dataset has no class names to match them")
    index = {n: i for i, n in enumerate(class_names)}
    unknown = sorted({s for s in strings if s not in index})
    if unknown:
        raise UserError(f"{path}: unknown class name(s) {', '.join(unknown[:5])}; known: {', '.join(class_names[:10])}")
    return np.array([index[s] for s in strings], dtype=np.int64)


def _read_entries(file: Path, key: str | None) -> dict[str, np.ndarray]:
    suffix = file.suffix.lower()
    if suffix == ".npy":
        return {"": np.load(file, allow_pickle=False)}
    if suffix == ".npz":
        with np.load(file, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if suffix in (".pt", ".pth"):
        import torch

        obj = torch.load(file, map_location="cpu", weights_only=False)
        if not isinstance(obj, dict):
            return {"": np.asarray(obj)}
        return {str(k): np.asarray(v) for k, v in obj.items()}
    if suffix == ".csv":
        with open(file, newline="") as f:
            rows = list(csv.reader(f))
        if rows and len(rows[0]) > 1 or (rows and not rows[0][0].strip().lstrip("-").isdigit()):
            header = [h.strip() for h in rows[0]]
            col = next((h for h in ("noisy_label", "label") if h in header), header[0] if len(header) == 1 else None)
            if col is None:
                raise UserError(f"{file}: name the labels column 'label' or 'noisy_label'; found {header}")
            i = header.index(col)
            return {"": np.array([r[i] for r in rows[1:] if r])}
        return {"": np.array([r[0] for r in rows if r])}
    raise UserError(f"labels file {file} must be .npy, .npz, .csv or .pt (CIFAR-N)")


def load_label_file(path: str, *, n: int, num_classes: int, class_names: list[str] | None = None) -> np.ndarray:
    """The user's noisy labels (N,) from .npy / .npz / .csv / CIFAR-N .pt; ``PATH#key`` picks an entry."""
    file_part, _, key = path.partition("#")
    file = Path(file_part)
    if not file.is_file():
        raise UserError(f"labels file {file} not found")
    try:
        entries = _read_entries(file, key or None)
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"cannot read labels file {file} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if key:
        if key not in entries:
            raise UserError(f"{file} has no entry {key!r}; entries: {', '.join(sorted(entries))}")
        values = entries[key]
    elif len(entries) == 1:
        values = next(iter(entries.values()))
    else:
        keys = sorted(entries)
        raise UserError(f"{file} holds several entries ({', '.join(keys)}); pick one as file:{file}#{keys[-1]}")
    values = np.asarray(values).reshape(-1) if np.asarray(values).ndim > 1 and 1 in np.asarray(values).shape else np.asarray(values)
    if values.ndim != 1:
        raise UserError(f"labels in {file} must be one-dimensional, got shape {values.shape}")
    if len(values) != n:
        raise UserError(f"labels file {file} has {len(values)} labels but the training set has {n} samples; "
                        "give one label per training sample in source order")
    if np.issubdtype(values.dtype, np.floating):
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise UserError(f"labels in {file} must be integers, found non-integer values")
        values = values.astype(np.int64)
    labels = values.astype(np.int64) if np.issubdtype(values.dtype, np.integer) else _from_names(values, class_names, str(file))
    if labels.min() < 0 or labels.max() >= num_classes:
        raise UserError(f"labels in {file} must lie in [0, {num_classes}), found {labels.min()}..{labels.max()}")
    return labels


def noise_report(true_labels: np.ndarray, noisy_labels: np.ndarray, num_classes: int) -> dict:
    """Actual noise rate and the empirical transition matrix T[i, j] = P(noisy = j | true = i)."""
    true_labels, noisy_labels = np.asarray(true_labels), np.asarray(noisy_labels)
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (true_labels, noisy_labels), 1)
    rows = counts.sum(axis=1, keepdims=True)
    matrix = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=np.float64), where=rows > 0)
    return {
        "noise_rate_actual": float(np.mean(true_labels != noisy_labels)) if len(true_labels) else 0.0,
        "transition_matrix": matrix.round(6).tolist(),
        "counts": counts.tolist(),
    }
