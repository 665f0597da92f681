"""Label-noise generators (pure numpy, seeded) and readers for the user's own noisy-label files.

The definitions are those of the README ("Label noise"). Every generator maps the true
labels ``(N,)`` to noisy labels ``(N,)`` int64 and draws only from ``numpy.random.default_rng(seed)``,
never from the global RNG. With rate 0 every generator returns the input unchanged.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..safeload import UnsafePickle, torch_load
from ._text import is_number, shown
from .files import file_identity, is_file
from .keyed import LABEL_COLUMNS, READ_AS, SampleKeys, read_keyed_csv, to_class_indices

NOISE_NAMES: tuple[str, ...] = ("none", "symmetric", "symmetric-exclusive", "asymmetric", "pairflip", "instance",
                                 "lookalike")

# Asymmetric class maps, source -> target (Patrini et al., CVPR 2017; Co-teaching; ELR; TCL).
ASYMMETRIC_MAPS: dict[str, dict[int, int]] = {
    "cifar10": {9: 1, 2: 0, 4: 7, 3: 5, 5: 3},  # truck->automobile, bird->airplane, deer->horse, cat<->dog
    "fashion-mnist": {0: 6, 6: 0, 2: 4, 5: 7, 9: 7},  # T-shirt<->Shirt, Pullover->Coat, Sandal/Ankle boot->Sneaker
}

# CIFAR-100's own taxonomy: superclass (coarse label, alphabetical) -> its 5 fine labels, indexed
# alphabetically as in the dataset's ``meta`` file (0 apple, 1 aquarium_fish, ..., 99 worm).
CIFAR100_SUPERCLASSES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("aquatic_mammals", (4, 30, 55, 72, 95)),  # beaver dolphin otter seal whale
    ("fish", (1, 32, 67, 73, 91)),  # aquarium_fish flatfish ray shark trout
    ("flowers", (54, 62, 70, 82, 92)),  # orchid poppy rose sunflower tulip
    ("food_containers", (9, 10, 16, 28, 61)),  # bottle bowl can cup plate
    ("fruit_and_vegetables", (0, 51, 53, 57, 83)),  # apple mushroom orange pear sweet_pepper
    ("household_electrical_devices", (22, 39, 40, 86, 87)),  # clock keyboard lamp telephone television
    ("household_furniture", (5, 20, 25, 84, 94)),  # bed chair couch table wardrobe
    ("insects", (6, 7, 14, 18, 24)),  # bee beetle butterfly caterpillar cockroach
    ("large_carnivores", (3, 42, 43, 88, 97)),  # bear leopard lion tiger wolf
    ("large_man-made_outdoor_things", (12, 17, 37, 68, 76)),  # bridge castle house road skyscraper
    ("large_natural_outdoor_scenes", (23, 33, 49, 60, 71)),  # cloud forest mountain plain sea
    ("large_omnivores_and_herbivores", (15, 19, 21, 31, 38)),  # camel cattle chimpanzee elephant kangaroo
    ("medium_mammals", (34, 63, 64, 66, 75)),  # fox porcupine possum raccoon skunk
    ("non-insect_invertebrates", (26, 45, 77, 79, 99)),  # crab lobster snail spider worm
    ("people", (2, 11, 35, 46, 98)),  # baby boy girl man woman
    ("reptiles", (27, 29, 44, 78, 93)),  # crocodile dinosaur lizard snake turtle
    ("small_mammals", (36, 50, 65, 74, 80)),  # hamster mouse rabbit shrew squirrel
    ("trees", (47, 52, 56, 59, 96)),  # maple oak palm pine willow
    ("vehicles_1", (8, 13, 48, 58, 90)),  # bicycle bus motorcycle pickup_truck train
    ("vehicles_2", (41, 69, 81, 85, 89)),  # lawn_mower rocket streetcar tank tractor
)
CIFAR100_COARSE: np.ndarray = np.empty(100, dtype=np.int64)  # (100,) fine label -> coarse label
for _coarse, (_, _members) in enumerate(CIFAR100_SUPERCLASSES):
    CIFAR100_COARSE[list(_members)] = _coarse

# Look-alike confusion: three source classes, each moved to the class it is most often mistaken for.
LOOKALIKE_MAPS: dict[str, dict[int, int]] = {
    "cifar10": {3: 5, 9: 1, 4: 7},  # cat->dog, truck->automobile, deer->horse
    "fashion-mnist": {6: 0, 2: 4, 9: 7},  # Shirt->T-shirt/top, Pullover->Coat, Ankle boot->Sneaker
}

_DATASET_ALIASES = {"cifar10": "cifar10", "cifar100": "cifar100", "fashionmnist": "fashion-mnist",
                    "fmnist": "fashion-mnist"}
_DATASET_CLASSES = {"cifar10": 10, "cifar100": 100, "fashion-mnist": 10}


def cifar100_superclass_map() -> dict[int, int]:
    """Each CIFAR-100 fine class -> the next member of its true superclass (members by fine index, cyclic).

    Many public codes (Co-teaching, ELR, TCL, DivideMix) instead map class c to the next index inside
    consecutive blocks of 5 (0-4, 5-9, ...), which are NOT the superclasses since fine labels are
    alphabetical; we follow the dataset's own taxonomy, as the README's label-noise table defines it.
    """
    mapping: dict[int, int] = {}
    for _, members in CIFAR100_SUPERCLASSES:
        ordered = sorted(members)
        for i, fine in enumerate(ordered):
            mapping[fine] = ordered[(i + 1) % len(ordered)]
    return mapping


def resolve_rate(noise: str, rate: float | None) -> float:
    """The noise rate to use: required for generated noise, ignored (0) for ``none`` and ``file:``."""
    if rate is None:
        if noise != "none" and not noise.startswith("file:"):
            raise UserError(f"--noise {noise} needs --noise-rate R (a fraction in [0, 1])")
        return 0.0
    if not 0.0 <= float(rate) <= 1.0:
        raise UserError(f"--noise-rate must be in [0, 1], got {rate}")
    return float(rate)


def _check_labels(labels: np.ndarray, num_classes: int, what: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"{what} must be a 1-D integer array, got dtype {labels.dtype} with shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise UserError(f"{what} must lie in [0, {num_classes}), found values {labels.min()}..{labels.max()}; "
                        "check num_classes or remap the labels to 0..C-1")
    return labels.astype(np.int64)


def _pick(rng: np.random.Generator, idx: np.ndarray, rate: float) -> np.ndarray:
    """Exactly round(rate * len(idx)) entries of ``idx`` (M,), drawn without replacement."""
    return rng.choice(idx, size=int(round(rate * len(idx))), replace=False)


def symmetric_noise(labels: np.ndarray, *, rate: float, num_classes: int, rng: np.random.Generator,
                    exclusive: bool) -> np.ndarray:
    """(N,) -> (N,): round(rate N) random samples get a uniform label from all C classes (DivideMix/TCL
    convention, actual rate ~ r (C-1)/C), or from the C-1 other classes if ``exclusive`` (Co-teaching)."""
    noisy = labels.copy()
    chosen = _pick(rng, np.arange(len(labels)), rate)
    if exclusive:  # y + U{1..C-1} mod C is uniform over the other classes
        noisy[chosen] = (labels[chosen] + rng.integers(1, num_classes, len(chosen))) % num_classes
    else:
        noisy[chosen] = rng.integers(0, num_classes, len(chosen))
    return noisy


def class_map_noise(labels: np.ndarray, *, rate: float, mapping: dict[int, int],
                    rng: np.random.Generator) -> np.ndarray:
    """(N,) -> (N,): for each source class c of ``mapping``, exactly round(rate n_c) of its samples move
    to mapping[c]. Chosen on the ORIGINAL labels, so a sample moved 3 -> 5 is never moved again."""
    noisy = labels.copy()
    for src, dst in sorted(mapping.items()):
        noisy[_pick(rng, np.flatnonzero(labels == src), rate)] = dst
    return noisy


def instance_noise(labels: np.ndarray, *, rate: float, num_classes: int, images: np.ndarray,
                   rng: np.random.Generator, std: float = 0.1) -> np.ndarray:
    """Instance-dependent noise of Xia et al., "Part-dependent label noise", NeurIPS 2020 (their generator).

    labels (N,); images (N, H, W, C) uint8 (scaled to [0, 1]) or float already in [0, 1], flattened to
    x_i of size D. Per-sample flip rate q_i ~ Normal(rate, std) truncated to [0, 1] (by rejection);
    W ~ N(0, 1) of shape (C, D, C). For label y: s = x_i W[y], s[y] = -inf, p = q_i softmax(s), p[y] =
    1 - q_i; the noisy label is drawn from p. Loops over classes: memory O(N_c D + D C), never N x D x C.
    """
    n = len(labels)
    q = rng.normal(rate, std, size=n)
    bad = (q < 0) | (q > 1)
    while bad.any():
        q[bad] = rng.normal(rate, std, size=int(bad.sum()))
        bad = (q < 0) | (q > 1)
    flat = images.reshape(n, -1)
    scale = 1.0 / 255.0 if flat.dtype == np.uint8 else 1.0
    u = rng.random(n)
    noisy = labels.copy()
    for c in range(num_classes):
        w = rng.standard_normal((flat.shape[1], num_classes)).astype(np.float32)  # W[c], (D, C)
        idx = np.flatnonzero(labels == c)
        if idx.size == 0:
            continue
        scores = (flat[idx].astype(np.float32) * np.float32(scale)) @ w  # (N_c, C)
        scores[:, c] = -np.inf
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p *= (q[idx] / p.sum(axis=1))[:, None]
        p[:, c] = 1.0 - q[idx]
        drawn = (np.cumsum(p, axis=1) < u[idx, None]).sum(axis=1)
        noisy[idx] = np.minimum(drawn, num_classes - 1)
    return noisy


def nearest_mean_map(labels: np.ndarray, images: np.ndarray, num_classes: int, pairs: int = 3) -> dict[int, int]:
    """Look-alike pairs of a dataset without a hand-made map: the ``pairs`` source classes whose mean
    image lies closest to another class's mean (Euclidean, pixels in [0, 1]), each -> that class.

    labels: (N,) true labels; images: uint8 (N, H, W[, C]). A class is a source or a target, never both.
    """
    present = [c for c in range(num_classes) if np.any(labels == c)]
    means = np.stack([images[labels == c].reshape(int(np.sum(labels == c)), -1).mean(0) / 255.0 for c in present])
    dist = np.linalg.norm(means[:, None] - means[None], axis=-1)
    np.fill_diagonal(dist, np.inf)
    mapping: dict[int, int] = {}
    for flat in np.argsort(dist, axis=None, kind="stable"):
        i, j = (present[k] for k in np.unravel_index(flat, dist.shape))
        if len(mapping) == pairs or not np.isfinite(dist[present.index(i), present.index(j)]):
            break
        if i not in mapping and i not in mapping.values() and j not in mapping:
            mapping[i] = j
    return mapping


def _lookalike_map(dataset: str | None, num_classes: int, labels: np.ndarray, images: np.ndarray | None) -> dict[int, int]:
    """LOOKALIKE_MAPS for CIFAR-10 and Fashion-MNIST; :func:`nearest_mean_map` for any other dataset."""
    key = _DATASET_ALIASES.get((dataset or "").lower().replace("-", "").replace("_", ""))
    if key in LOOKALIKE_MAPS and num_classes == _DATASET_CLASSES[key]:
        return LOOKALIKE_MAPS[key]
    if num_classes < 2:
        raise UserError("lookalike noise needs at least 2 classes; use --noise none")
    if images is None or len(images) != len(labels):
        raise UserError(f"lookalike noise on {dataset!r} picks its class pairs from the training images, one per "
                        f"label ({len(labels)}); pass images= (uint8 N x H x W x C)")
    return nearest_mean_map(labels, np.asarray(images), num_classes)


def _asymmetric_map(dataset: str | None, num_classes: int) -> dict[int, int]:
    key = _DATASET_ALIASES.get((dataset or "").lower().replace("-", "").replace("_", ""))
    if key is None:
        raise UserError(f"asymmetric noise has class maps only for cifar10, cifar100 and fashion-mnist, not "
                        f"{dataset!r}; use --noise pairflip or your own labels with --noise file:PATH")
    if num_classes != _DATASET_CLASSES[key]:
        raise UserError(f"asymmetric noise for {key} needs {_DATASET_CLASSES[key]} classes, got {num_classes}; "
                        "use --noise pairflip for a subset of classes")
    return cifar100_superclass_map() if key == "cifar100" else ASYMMETRIC_MAPS[key]


def make_noisy_labels(labels: np.ndarray, *, noise: str, rate: float, num_classes: int, seed: int,
                      dataset: str | None = None, images: np.ndarray | None = None,
                      class_names: list[str] | None = None, keys: SampleKeys | None = None) -> np.ndarray:
    """True labels int (N,) -> noisy labels int64 (N,).

    ``noise`` is a NOISE_NAMES entry or ``file:PATH[#key]`` (read by :func:`load_label_file`; rate and seed
    unused). ``dataset`` selects the asymmetric map; ``images`` (N, H, W, C) are needed by ``instance``;
    ``class_names`` (C,) match class names found in a labels file, ``keys`` its rows to the samples. Bad input
    raises UserError.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise UserError(f"num_classes must be a positive integer, got {num_classes!r}")
    labels = _check_labels(labels, num_classes)
    if not is_number(rate):
        raise UserError(f"--noise-rate must be a number in [0, 1], got {rate!r}")
    if not 0.0 <= (rate := float(rate)) <= 1.0:
        raise UserError(f"--noise-rate must be in [0, 1], got {rate}")
    if not isinstance(noise, str):
        raise UserError(f"noise must be a string, one of {', '.join(NOISE_NAMES)} or file:PATH; got {noise!r}")
    if noise.startswith("file:"):
        return load_label_file(noise[len("file:"):], n=len(labels), num_classes=num_classes, class_names=class_names,
                               keys=keys)
    if noise not in NOISE_NAMES:
        raise UserError(f"unknown noise {noise!r}; choose one of {', '.join(NOISE_NAMES)} or file:PATH")
    if noise == "asymmetric":
        mapping = _asymmetric_map(dataset, num_classes)
    if noise == "instance" and (images is None or len(images) != len(labels)):
        got = "none" if images is None else f"{len(images)} images"
        raise UserError(f"instance noise needs the training images, one per label ({len(labels)}), got {got}; "
                        "pass images= (uint8 N x H x W x C)")
    if noise == "symmetric-exclusive" and num_classes < 2 and rate > 0:
        raise UserError("symmetric-exclusive noise needs at least 2 classes; use --noise none")
    if noise == "none" or rate == 0.0:
        return labels.copy()
    rng = np.random.default_rng(seed)
    if noise in ("symmetric", "symmetric-exclusive"):
        return symmetric_noise(labels, rate=rate, num_classes=num_classes, rng=rng,
                               exclusive=noise == "symmetric-exclusive")
    if noise == "pairflip":
        pairs = {c: (c + 1) % num_classes for c in range(num_classes)}
        return class_map_noise(labels, rate=rate, mapping=pairs, rng=rng)
    if noise == "asymmetric":
        return class_map_noise(labels, rate=rate, mapping=mapping, rng=rng)
    if noise == "lookalike":
        return class_map_noise(labels, rate=rate, rng=rng,
                               mapping=_lookalike_map(dataset, num_classes, labels, images))
    return instance_noise(labels, rate=rate, num_classes=num_classes, images=np.asarray(images), rng=rng)


def _read_csv(file: Path, class_names: list[str] | None) -> tuple[np.ndarray, str]:
    """(the labels as text, how to read them: "auto", or "index" / "name" under a class_index / class_name
    column) of a labels CSV without keys: one column (a header allowed), or a label column and key columns."""
    with open(file, newline="", encoding="utf-8-sig") as f:  # a BOM is not part of the first label
        rows = [[cell.strip() for cell in r] for r in csv.reader(f) if r and any(cell.strip() for cell in r)]
    if not rows:
        raise UserError(f"labels file {shown(file)} is empty; write one label per line or a 'label' column")
    header = [h.lower() for h in rows[0]]
    if len(header) > 1:
        name = next((c for c in ("noisy_label", "label", *READ_AS) if c in header), None)
        if name is None:
            raise UserError(f"labels file {shown(file)} has columns {rows[0]}; name the labels column 'noisy_label' "
                            "or 'label', or write a single column")
        col = header.index(name)
        others = [rows[0][j] for j, h in enumerate(header) if h not in (*LABEL_COLUMNS, "path", "index")]
        if others:
            raise UserError(f"labels file {shown(file)} has column(s) {others} beside its labels, which would be "
                            "ignored: name each sample by a 'path' or 'index' column (pandas writes its row index as "
                            "an unnamed first column: save with index_label='index', or index=False in sample "
                            "order), or keep the label column alone")
        return np.array([r[col] if col < len(r) else "" for r in rows[1:]]), READ_AS.get(name, "auto")
    first = rows[0][0]
    is_header = first.lower() in LABEL_COLUMNS or (not is_number(first) and not (class_names and first in class_names))
    return np.array([r[0] for r in (rows[1:] if is_header else rows)]), READ_AS.get(first.lower(), "auto")


def _read_entries(file: Path) -> dict[str, np.ndarray]:
    """Every label array in the file by name ('' for a file holding a single array)."""
    suffix = file.suffix.lower()
    if suffix == ".npy":
        return {"": np.load(file, allow_pickle=False)}
    if suffix == ".npz":
        with np.load(file, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if suffix in (".pt", ".pth"):  # CIFAR-N: a dict of numpy arrays saved with torch.save
        try:
            obj = torch_load(file)
        except UnsafePickle as e:
            raise UserError(f"labels file {shown(file)} holds pickled objects other than arrays ({e}), which could run "
                            "code; save the labels as .npy or .csv") from None
        except Exception as e:  # noqa: BLE001 - not a torch file, truncated, ...
            raise UserError(f"cannot read labels file {shown(file)} ({type(e).__name__}); save the labels as .npy or "
                            ".csv") from None
        items = obj.items() if isinstance(obj, dict) else [("", obj)]
        return {str(k): np.asarray(v.numpy() if hasattr(v, "numpy") else v) for k, v in items}
    raise UserError(f"labels file {shown(file)} must end in .npy, .npz, .csv, .pt or .pth")


def load_label_file(path: str, *, n: int, num_classes: int, class_names: list[str] | None = None,
                    keys: SampleKeys | None = None) -> np.ndarray:
    """The user's own noisy labels, int64 (n,), in the order of the training samples.

    A CSV with a ``path`` or ``index`` column is matched to the samples by those keys (``keyed``; ``keys``
    names the samples); any other file is read in training order, which ``keys.positional`` allows only
    where that order does not depend on the seed.

    Formats: ``.npy`` (int array, or str array of class names), ``.npz`` (one array, or ``#key``),
    ``.csv`` (one column, or a column ``noisy_label`` / ``label``; class indices or names), and CIFAR-N's
    ``.pt`` dicts (Wei et al., ICLR 2022: ``aggre_label``, ``worse_label``, ``random_label1..3``,
    ``noisy_label``, ...; arrays only: a file holding other pickled objects is refused). ``PATH#key`` picks an
    entry. Everything wrong with the file raises UserError.
    """
    if not str(path).strip():
        raise UserError("no labels file named: give its path (file:PATH, --labels PATH)")
    file_part, key = path, ""
    if not is_file(Path(path)) and "#" in path:
        file_part, _, key = path.rpartition("#")
    file = Path(file_part)
    if not is_file(file):
        raise UserError(f"labels file {shown(file)} not found ({file_identity(file)[1]}); check the path given as "
                        "file:PATH")
    try:
        keyed = read_keyed_csv(file, keys, class_names) if keys is not None and file.suffix.lower() == ".csv" else None
        if keyed is not None:
            return _in_range(keyed, num_classes, file)
        if keys is not None and not keys.positional:
            raise UserError(f"labels file {shown(file)} names no sample, and this training set's order depends on "
                            "--seed (its "
                            "held-out split): write a CSV with a path (file sources) or index column and a label column")
        read_as = "auto"
        if file.suffix.lower() == ".csv":
            text, read_as = _read_csv(file, class_names)
            entries = {"": text}
        else:
            entries = _read_entries(file)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - any reader failure is a problem with the user's file
        detail = str(e).splitlines()[0] if str(e) else ""
        raise UserError(f"cannot read labels file {shown(file)} ({type(e).__name__}: {detail}); "
                        "save an integer array with numpy.save or a one-column CSV") from None
    keys = [k for k in entries if k]
    if key:
        if key not in entries:
            hint = f"entries: {', '.join(keys)}" if keys else "it holds a single array, drop the '#key'"
            raise UserError(f"labels file {shown(file)} has no entry {key!r}; {hint}")
        values = entries[key]
    elif len(entries) == 1:
        values = next(iter(entries.values()))
    else:
        pick = next((k for k in ("worse_label", "noisy_label", "aggre_label") if k in entries), keys[0])
        raise UserError(f"labels file {shown(file)} holds several entries ({', '.join(keys)}); pick one, "
                        f"e.g. --noise file:{shown(file)}#{pick}")
    values = np.asarray(values)
    if values.ndim == 2 and 1 in values.shape:
        values = values.reshape(-1)
    if values.ndim != 1:
        raise UserError(f"labels in {shown(file)} must be one-dimensional, got shape {values.shape}")
    if len(values) != n:
        header = (f" (is its first row, {shown(values[0])}, a column name? pandas writes 0 above a Series: name the "
                  "column 'label' or save with header=False)" if len(values) == n + 1 and is_number(values[0]) else "")
        raise UserError(f"labels file {shown(file)} has {len(values)} labels but the training set has {n} samples"
                        f"{header}; give exactly one label per training sample, in the order of the training set")
    return _in_range(to_class_indices(values, class_names, f"labels file {shown(file)}", read_as), num_classes, file)


def _in_range(labels: np.ndarray, num_classes: int, file: Path) -> np.ndarray:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise UserError(f"labels in {shown(file)} must lie in [0, {num_classes}), found {labels.min()}..{labels.max()}; "
                        "use class indices of this dataset")
    return labels


def describe_noise(noise: str, rate: float, actual: float | None, labels: str | None = None) -> str:
    """'symmetric 0.8 (actual 0.719)'; a labels file has no nominal rate: 'file:PATH (actual 0.394)'; the
    user's own labels (``labels``, whose truth is unknown, ``actual`` None): 'labels PATH'."""
    if labels or actual is None:
        return f"labels {labels}" if labels else noise
    nominal = "" if noise.startswith("file:") or noise == "none" else f" {rate:g}"
    return f"{noise}{nominal} (actual {actual:.3f})"


def noise_report(true_labels: np.ndarray, noisy_labels: np.ndarray, num_classes: int) -> dict:
    """Actual noise rate mean(noisy != true) and the empirical transition matrix.

    true_labels, noisy_labels: int (N,). Returns ``noise_rate_actual`` (float), ``counts`` (C x C ints,
    row = true class, column = noisy class) and ``transition_matrix`` (C x C, rows normalised to 1;
    rows of classes absent from ``true_labels`` are all 0).
    """
    true_labels = _check_labels(true_labels, num_classes, "true labels")
    noisy_labels = _check_labels(noisy_labels, num_classes, "noisy labels")
    if true_labels.shape != noisy_labels.shape:
        raise UserError(f"true and noisy labels differ in length ({len(true_labels)} vs {len(noisy_labels)})")
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (true_labels, noisy_labels), 1)
    rows = counts.sum(axis=1, keepdims=True)
    matrix = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=np.float64), where=rows > 0)
    return {
        "noise_rate_actual": float(np.mean(true_labels != noisy_labels)) if true_labels.size else 0.0,
        "transition_matrix": matrix.tolist(),
        "counts": counts.tolist(),
    }
