import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from noisylabels.data.sources import FASHION_MNIST_DIR, load_splits
from noisylabels.errors import UserError
from tests.helpers import write_png


def _write_idx(path: Path, arr: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(">" + "i" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_digits_split_is_fixed_and_stratified():
    a = load_splits("digits")
    b = load_splits("digits", seed=5)
    assert a.train.images.shape == (1437, 8, 8, 1) and a.test.images.shape == (360, 8, 8, 1)
    assert a.train.images.dtype == np.uint8 and a.train.images.max() == 255
    assert np.array_equal(a.train.source_index, b.train.source_index) and a.test_kind == "builtin"
    assert np.all(np.abs(np.bincount(a.test.labels) - 36) <= 1)
    assert not set(a.train.source_index) & set(a.test.source_index)


def test_fashion_mnist_idx_round_trip_and_train_size_rule(tmp_path):
    rng = np.random.default_rng(0)
    tr, te = rng.integers(0, 256, (50, 28, 28)), rng.integers(0, 256, (20, 28, 28))
    ytr, yte = rng.integers(0, 10, 50), rng.integers(0, 10, 20)
    ytr[np.random.default_rng(0).permutation(50)[:30]] = np.arange(30) % 10  # every class in the subset
    for name, arr in (("train-images-idx3-ubyte", tr), ("train-labels-idx1-ubyte", ytr),
                      ("t10k-images-idx3-ubyte", te), ("t10k-labels-idx1-ubyte", yte)):
        _write_idx(tmp_path / f"{name}.gz", arr)
    s = load_splits("fashion-mnist", data_dir=str(tmp_path), train_size=30)
    keep = np.random.default_rng(0).permutation(50)[:30]
    assert np.array_equal(s.train.images[..., 0], tr[keep]) and np.array_equal(s.train.labels, ytr[keep])
    assert np.array_equal(s.train.source_index, keep)
    assert np.array_equal(s.test.labels, yte) and s.train.class_names[0] == "T-shirt/top"


def test_a_training_set_without_some_class_names_them(tmp_path):
    """--train-size below the number of classes, or a held-out split that takes a class's only image: the
    first names the classes the model never sees (the run prints them and keeps them in its summary), the
    second keeps that image in training."""
    rng = np.random.default_rng(0)
    tr, te = rng.integers(0, 256, (50, 28, 28)), rng.integers(0, 256, (20, 28, 28))
    for name, arr in (("train-images-idx3-ubyte", tr), ("train-labels-idx1-ubyte", np.arange(50) % 10),
                      ("t10k-images-idx3-ubyte", te), ("t10k-labels-idx1-ubyte", np.arange(20) % 10)):
        _write_idx(tmp_path / f"{name}.gz", arr)
    assert len(load_splits("fashion-mnist", data_dir=str(tmp_path), train_size=5).unseen_classes) == 5
    labels = np.array([0] * 20 + [1] * 20 + [2])  # class 2: one image
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 256, (41, 8, 8), dtype=np.uint8), labels=labels)
    for seed in range(5):
        s = load_splits(f"npz:{tmp_path / 'd.npz'}", seed=seed)
        assert 2 in s.train.labels and 2 not in s.test.labels


def test_fashion_mnist_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist"):
        load_splits("fashion-mnist", data_dir=str(tmp_path))


@pytest.mark.skipif(not Path(FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz").exists(), reason="apt package absent")
def test_installed_fashion_mnist():
    s = load_splits("fashion-mnist", train_size=10000)
    assert s.train.images.shape == (10000, 28, 28, 1) and s.test.images.shape == (10000, 28, 28, 1)


def test_cifar10_and_cifar100_pickles(tmp_path):
    rng = np.random.default_rng(0)
    c10 = tmp_path / "cifar-10-batches-py"
    c10.mkdir()
    rows = rng.integers(0, 256, (6, 4, 3072), dtype=np.uint8)
    for i in range(1, 6):
        pickle.dump({b"data": rows[i - 1], b"labels": [i % 10] * 4}, open(c10 / f"data_batch_{i}", "wb"))
    pickle.dump({b"data": rows[5], b"labels": [3] * 4}, open(c10 / "test_batch", "wb"))
    pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, open(c10 / "batches.meta", "wb"))
    s = load_splits("cifar10", data_dir=str(tmp_path))
    assert s.train.images.shape == (20, 32, 32, 3) and s.train.class_names[3] == "c3"
    assert np.array_equal(s.train.images[0, :, :, 0].ravel(), rows[0, 0, :1024])  # red plane first
    c100 = tmp_path / "cifar-100-python"
    c100.mkdir()
    pickle.dump({b"data": rows[0], b"fine_labels": [99, 0, 5, 7]}, open(c100 / "train", "wb"))
    pickle.dump({b"data": rows[1], b"fine_labels": [1, 2, 3, 4]}, open(c100 / "test", "wb"))
    pickle.dump({b"fine_label_names": [f"f{i}".encode() for i in range(100)]}, open(c100 / "meta", "wb"))
    s = load_splits("cifar100", data_dir=str(c100))
    assert s.train.num_classes == 100 and list(s.train.labels) == [99, 0, 5, 7]
    with pytest.raises(UserError, match="--data-dir"):
        load_splits("cifar10")


def test_folder_grayscale_mixed_modes_and_resize(tmp_path):
    for cls in ("cat", "dog"):
        for i in range(10):
            write_png(tmp_path / "g" / cls / f"{i}.png", (12, 12), "L", 10 * i)
    s = load_splits(f"folder:{tmp_path / 'g'}", test_fraction=0.2)
    assert s.train.images.shape[1:] == (32, 32, 1) and s.test_kind == "holdout"  # the default, not the files' size
    assert load_splits(f"folder:{tmp_path / 'g'}", image_size=12).train.images.shape[1:] == (12, 12, 1)
    assert len(s.train) == 16 and np.bincount(s.test.labels).tolist() == [2, 2]
    assert s.train.paths and all(p.endswith(".png") for p in s.train.paths)
    assert not set(s.train.source_index) & set(s.test.source_index)
    write_png(tmp_path / "m" / "a" / "0.png", (10, 10), "L", 5)
    write_png(tmp_path / "m" / "a" / "1.png", (16, 20), "RGB", (5, 0, 0))
    write_png(tmp_path / "m" / "b" / "0.png", (16, 16), "RGB", (5, 0, 0))
    write_png(tmp_path / "m" / "b" / "1.png", (16, 16), "RGB", (5, 0, 0))
    s = load_splits(f"folder:{tmp_path / 'm'}", test_fraction=0.5)
    assert s.train.images.shape[1:] == (32, 32, 3)  # mixed modes -> RGB


def test_csv_names_ints_relative_paths_and_test_data(tmp_path):
    for i in range(6):
        write_png(tmp_path / "img" / f"{i}.png", (8, 8), "L", 40 * i)
    (tmp_path / "train.csv").write_text("path,label\n" + "".join(f"img/{i}.png,{'ab'[i % 2]}\n" for i in range(6)))
    (tmp_path / "test.csv").write_text("path,label\nimg/0.png,a\nimg/1.png,b\n")
    s = load_splits(f"csv:{tmp_path / 'train.csv'}", test_data=f"csv:{tmp_path / 'test.csv'}")
    assert s.train.class_names == ["a", "b"] and list(s.train.labels) == [0, 1, 0, 1, 0, 1]
    assert s.test_kind == "given" and list(s.test.labels) == [0, 1]
    assert list(s.train.source_index) == list(range(6))
    (tmp_path / "ints.csv").write_text("path,label\n" + "".join(f"img/{i}.png,{i % 3}\n" for i in range(6)))
    s = load_splits(f"csv:{tmp_path / 'ints.csv'}", test_fraction=0.5)
    assert s.train.class_names == ["0", "1", "2"]


def test_npz_with_and_without_test_arrays(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", images=rng.random((20, 10, 10)), labels=np.arange(20) % 2,
             test_images=rng.integers(0, 256, (4, 10, 10), dtype=np.uint8), test_labels=np.array([0, 1, 0, 1]))
    s = load_splits(f"npz:{tmp_path / 'a.npz'}")
    assert s.train.images.dtype == np.uint8 and s.train.images.shape == (20, 10, 10, 1) and s.test_kind == "builtin"
    np.savez(tmp_path / "b.npz", images=rng.integers(0, 256, (20, 10, 10, 3), dtype=np.uint8), labels=np.arange(20) % 2)
    assert load_splits(f"npz:{tmp_path / 'b.npz'}").test_kind == "holdout"
    np.savez(tmp_path / "c.npz", pixels=np.zeros((2, 2)))
    with pytest.raises(UserError, match="found: pixels"):
        load_splits(f"npz:{tmp_path / 'c.npz'}")


def test_errors_are_single_lines(tmp_path):
    (tmp_path / "empty").mkdir()
    write_png(tmp_path / "bad" / "a" / "ok.png", (8, 8), "L", 1)
    (tmp_path / "bad" / "a" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "nocols.csv").write_text("file,y\nx.png,1\n")
    cases = [("nosuch", "unknown dataset"), (f"folder:{tmp_path / 'empty'}", "no class sub-folders"),
             (f"folder:{tmp_path / 'bad'}", "broken.png"), (f"csv:{tmp_path / 'nocols.csv'}", "path,label"),
             (f"csv:{tmp_path / 'none.csv'}", "not found")]
    for spec, needle in cases:
        with pytest.raises(UserError) as e:
            load_splits(spec)
        assert needle in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UserError, match="--train-size"):
        load_splits("digits", train_size=99999)
    write_png(tmp_path / "good.png", (8, 8), "L", 1)
    write_png(tmp_path / "good2.png", (8, 8), "L", 2)
    (tmp_path / "good.csv").write_text("path,label\ngood.png,0\ngood2.png,1\n")
    with pytest.raises(UserError, match="--test-fraction"):
        load_splits(f"csv:{tmp_path / 'good.csv'}", test_fraction=1.5)


def test_npz_counts_must_match_and_one_class_is_refused(tmp_path):
    images = np.zeros((10, 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "short.npz", images=images, labels=np.zeros(5, dtype=np.int64))
    with pytest.raises(UserError, match="holds 10 images but 'labels' 5 labels"):
        load_splits(f"npz:{tmp_path / 'short.npz'}")
    np.savez(tmp_path / "one.npz", images=images, labels=np.zeros(10, dtype=np.int64))
    with pytest.raises(UserError, match="single class .* at least 2 classes"):
        load_splits(f"npz:{tmp_path / 'one.npz'}")
    for i in range(4):
        write_png(tmp_path / "only" / "cat" / f"{i}.png", (6, 6), "L", 40 * i)
    with pytest.raises(UserError, match="single class \\('cat'\\)"):
        load_splits(f"folder:{tmp_path / 'only'}", test_fraction=0.25)


def test_the_streaming_threshold_follows_the_devices_free_memory(monkeypatch):
    """4 GiB on the CPU; on a CUDA machine half the smaller of the device's and the host's free memory
    (mini-WebVision at 299 px, 17.7 GB, stays in memory on an 80 GB card with the host to match)."""
    import torch

    from noisylabels.data import streaming

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert streaming.memory_budget() == 4 * 2**30
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (78 * 2**30, 80 * 2**30))
    monkeypatch.setattr(streaming.os, "sysconf", lambda name: {"SC_AVPHYS_PAGES": 100 * 2**18, "SC_PAGE_SIZE": 4096}[name])
    assert streaming.memory_budget() == 39 * 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (2 * 2**30, 80 * 2**30))
    assert streaming.memory_budget() == 4 * 2**30  # never below the CPU's budget
