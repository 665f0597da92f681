"""Label files keyed by sample identity (data/keyed.py): a reviewed label reaches its own image whatever the
seed, the held-out split, the row order or a file added to the folder, or the file is refused with one line.
The numbers read from such files are tests/hostile/test_numbers.py's."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from noisylabels.app.build import noisy_training_labels
from noisylabels.config import TRAIN_DEFAULTS, check_config
from noisylabels.data.keyed import held_out
from noisylabels.data.sources import load_run_splits
from noisylabels.errors import UserError
from tests.helpers import image_folder


def _cfg(dataset: str, **kw) -> dict:
    cfg = {**TRAIN_DEFAULTS, "dataset": dataset, **kw}
    check_config(cfg)
    return cfg


def _labels(cfg: dict) -> dict[str, int]:
    splits = load_run_splits(cfg)
    noisy, _ = noisy_training_labels(cfg, splits.train, held_out(splits))
    return dict(zip(splits.train.paths, noisy.tolist()))


def _write(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> tuple[str, Path, dict[str, int]]:
    """A 2-class folder of 24 images and a keyed labels file that flips every third image's class."""
    dataset = image_folder(tmp_path / "data", per_class=12)
    root = tmp_path / "data"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    truth = {f: int(f.startswith("dog")) for f in files}
    wanted = {f: (1 - y if k % 3 == 0 else y) for k, (f, y) in enumerate(truth.items())}
    return dataset, root, wanted


def test_keyed_labels_reach_their_images_whatever_the_seed_and_the_row_order(folder, tmp_path):
    dataset, root, wanted = folder
    rows = [[k, f, ("cat", "dog")[y]] for k, (f, y) in enumerate(wanted.items())]
    for name, order in (("sorted", rows), ("reversed", rows[::-1])):
        file = _write(tmp_path / f"{name}.csv", ["index", "path", "label"], order)
        for seed in (0, 1, 2):
            got = _labels(_cfg(dataset, labels=str(file), seed=seed))
            assert got == {str(root / f): wanted[f] for f in wanted if str(root / f) in got}, (name, seed)
            assert len(got) == 22  # 24 images, 2 held out: which ones depends on the seed


def test_an_index_keyed_file_for_arrays_and_a_positional_file_where_the_order_is_fixed(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (30, 8, 8), dtype=np.uint8)
    labels = np.arange(30) % 3
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    dataset = f"npz:{tmp_path / 'd.npz'}"
    wanted = (labels + 1) % 3
    file = _write(tmp_path / "l.csv", ["label", "index"], [[int(wanted[i]), i] for i in range(30)][::-1])
    splits = load_run_splits(_cfg(dataset, seed=4))
    noisy, _ = noisy_training_labels(_cfg(dataset, labels=str(file), seed=4), splits.train, held_out(splits))
    assert noisy.tolist() == wanted[splits.train.source_index].tolist()
    np.save(tmp_path / "pos.npy", wanted[:len(splits.train)])
    with pytest.raises(UserError, match="order depends on --seed") as e:
        noisy_training_labels(_cfg(dataset, noise=f"file:{tmp_path / 'pos.npy'}", seed=4), splits.train,
                              held_out(splits))
    assert "\n" not in str(e.value)
    np.savez(tmp_path / "t.npz", images=images, labels=labels, test_images=images[:5], test_labels=labels[:5])
    fixed = _cfg(f"npz:{tmp_path / 't.npz'}", noise=f"file:{tmp_path / 'all.npy'}")
    np.save(tmp_path / "all.npy", wanted)
    splits = load_run_splits(fixed)  # its own test split: the training order is the source's
    assert noisy_training_labels(fixed, splits.train, held_out(splits))[0].tolist() == wanted.tolist()


@pytest.mark.parametrize("edit, needle", [
    (lambda rows: rows[1:], "no row for 1 training sample"),  # an image without a label (a file added)
    (lambda rows: rows + [rows[0]], "appears twice"),
    (lambda rows: rows + [[999, "cat/new.png", "cat"]], "not a sample of this dataset"),
    (lambda rows: [[r[0], r[1], "sneaker"] for r in rows], "unknown class name"),
    (lambda rows: [[r[0], r[1], ""] for r in rows], "empty label"),
])
def test_unknown_missing_and_repeated_keys_are_one_line_refusals(folder, tmp_path, edit, needle):
    dataset, root, wanted = folder
    rows = [[k, f, ("cat", "dog")[y]] for k, (f, y) in enumerate(wanted.items())]
    file = _write(tmp_path / "l.csv", ["index", "path", "label"], edit(rows))
    with pytest.raises(UserError, match=needle) as e:
        _labels(_cfg(dataset, labels=str(file)))
    assert "\n" not in str(e.value)


def test_a_file_added_to_the_folder_is_refused_not_shifted(folder, tmp_path):
    dataset, root, wanted = folder
    file = _write(tmp_path / "l.csv", ["index", "path", "label"],
                  [[k, f, ("cat", "dog")[y]] for k, (f, y) in enumerate(wanted.items())])
    (root / "cat" / "00-added.png").write_bytes((root / "cat" / "0.png").read_bytes())  # sorts first
    with pytest.raises(UserError, match="no row for 1 training sample|not a sample") as e:
        for seed in range(4):  # the new image is held out under some seeds, trained on under others
            _labels(_cfg(dataset, labels=str(file), seed=seed))
    assert "cat/00-added.png" in str(e.value) or "no row" in str(e.value)


def test_own_labels_and_generated_noise_are_not_combined(tmp_path):
    with pytest.raises(UserError, match="--labels .* your own labels"):
        _cfg("digits", labels=str(tmp_path / "x.csv"), noise="symmetric", noise_rate=0.2)
