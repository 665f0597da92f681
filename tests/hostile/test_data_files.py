"""Hostile data files, one named case each: noisy-label files, npz arrays, image folders and CSV lists.
Errors: one line, exit 2, no traceback, the earlier run byte-identical. Inputs a demanding user expects
to work ("ok-..." ids) are checked to load correctly instead."""

import csv
import os

import numpy as np
import pytest
import torch
from PIL import Image

from noisylabels.data.sources import load_splits
from tests.helpers import FAST, cli, snapshot, user_error, write_png

N = 1437  # digits' training set


@pytest.fixture(scope="module")
def truth():
    return load_splits("digits").train.labels


def _fails_keeping(earlier_run, argv, needle):
    folder, before = earlier_run
    user_error(["train", *FAST, "--overwrite", "--out", folder, *argv], needle)
    assert snapshot(folder) == before


# -- --noise file:PATH -----------------------------------------------------------------------------
def _write_labels(tmp, kind, truth):
    """The file of one hostile label-file case -> the --noise value."""
    p = tmp / "labels.npy"
    if kind in ("float", "negative", "out-of-range", "2-d", "empty", "wrong-length", "strings-unknown"):
        np.save(p, {"float": np.full(N, 1.5), "negative": np.full(N, -1), "out-of-range": np.full(N, 10),
                    "2-d": np.zeros((N, 2), dtype=np.int64), "empty": np.zeros(0, dtype=np.int64),
                    "wrong-length": np.zeros(100, dtype=np.int64), "strings-unknown": np.array(["cat"] * N)}[kind])
    elif kind == "npy-object":
        np.save(p, np.array([{"a": 1}] * N, dtype=object), allow_pickle=True)
    elif kind == "npy-with-key":
        np.save(p, truth)
        return f"file:{p}#worse_label"
    elif kind in ("csv-header-only", "csv-empty"):
        p = tmp / "labels.csv"
        p.write_text("noisy_label\n" if kind == "csv-header-only" else "")
    elif kind == "txt-suffix":
        p = tmp / "labels.txt"
        p.write_text("1\n" * N)
    else:  # .pt files
        p = tmp / "labels.pt"
        if kind == "pt-garbage":
            p.write_bytes(b"this is not a torch file")
        elif kind == "pt-not-cifar-n":  # a model's state dict
            torch.save({"fc.weight": torch.zeros(10, 64)}, p)
        else:
            torch.save({"worse_label": truth, "aggre_label": truth}, p)
            return f"file:{p}#nokey" if kind == "pt-missing-key" else f"file:{p}"
    return f"file:{p}"


LABEL_FILES = {"float": "non-integer", "negative": "must lie in", "out-of-range": "must lie in",
               "2-d": "one-dimensional", "empty": "has 0 labels", "wrong-length": "has 100 labels",
               "strings-unknown": "unknown class name", "npy-object": "cannot read labels file",
               "npy-with-key": "drop the '#key'", "csv-header-only": "has 0 labels", "csv-empty": "is empty",
               "txt-suffix": "must end in", "pt-garbage": "cannot read labels file",
               "pt-not-cifar-n": "one-dimensional", "pt-missing-key": "has no entry 'nokey'",
               "pt-several-entries": "holds several entries"}


@pytest.mark.parametrize("kind", list(LABEL_FILES))
def test_bad_label_file_is_refused_and_the_earlier_run_kept(earlier_run, tmp_path, truth, kind):
    _fails_keeping(earlier_run, ["--dataset", "digits", "--noise", _write_labels(tmp_path, kind, truth)], LABEL_FILES[kind])


@pytest.mark.parametrize("kind", ["float-integral", "column-vector", "csv-bom-crlf-no-header", "pt-cifar-n-key"])
def test_ok_label_files_that_mean_one_label_per_sample(tmp_path, truth, kind):
    """Whole-number floats, an (N, 1) column, Excel's BOM + CRLF and a CIFAR-N #key all name the labels
    unambiguously; the labels written must be exactly the file's."""
    noisy = (truth + 1) % 10
    if kind == "csv-bom-crlf-no-header":  # a BOM is no part of the first label
        src = tmp_path / "l.csv"
        src.write_bytes(("\ufeff" + "".join(f"{v}\r\n" for v in noisy)).encode())
    elif kind == "pt-cifar-n-key":
        src = tmp_path / "l.pt"
        torch.save({"worse_label": noisy, "aggre_label": truth}, src)
        src = f"{src}#worse_label"
    else:
        src = tmp_path / "l.npy"
        np.save(src, noisy.astype(np.float64) if kind == "float-integral" else noisy[:, None])
    rc, _, err = cli("noise", "--dataset", "digits", "--noise", f"file:{src}", "--out", tmp_path / "out.npy")
    assert rc == 0, err
    assert np.array_equal(np.load(tmp_path / "out.npy"), noisy)


# -- npz:PATH --------------------------------------------------------------------------------------
def _npz(path, kind):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (12, 8, 8), dtype=np.uint8)
    lab = np.arange(12) % 3
    arrays = {"missing-labels": {"images": img}, "mismatched-counts": {"images": img, "labels": lab[:10]},
              "zero-images": {"images": img[:0], "labels": lab[:0]}, "one-image": {"images": img[:1], "labels": lab[:1]},
              "5-d": {"images": img.reshape(12, 2, 4, 8, 1), "labels": lab},
              "uint16-over-255": {"images": img.astype(np.uint16) * 300, "labels": lab},
              "test-images-without-labels": {"images": img, "labels": lab, "test_images": img},  # was ignored
              "rgba-arrays": {"images": rng.integers(0, 256, (12, 8, 8, 4), dtype=np.uint8), "labels": lab},
              "float-labels": {"images": img, "labels": lab + 0.5}}
    if kind == "corrupt":
        path.write_bytes(b"PK\x03\x04 not a zip")
    else:
        np.savez(path, **arrays[kind])
    return f"npz:{path}"


NPZ_CASES = {"missing-labels": "lacks array(s) labels", "mismatched-counts": "holds 12 images but",
             "zero-images": "is empty", "one-image": "single class", "5-d": "must be N x H x W",
             "uint16-over-255": "must be uint8", "test-images-without-labels": "give both or neither",
             "rgba-arrays": "C = 1 or 3", "float-labels": "non-negative integers", "corrupt": "cannot read"}


@pytest.mark.parametrize("kind", list(NPZ_CASES))
def test_bad_npz_is_refused_and_the_earlier_run_kept(earlier_run, tmp_path, kind):
    _fails_keeping(earlier_run, ["--dataset", _npz(tmp_path / "d.npz", kind)], NPZ_CASES[kind])


def test_ok_uint16_images_within_0_255_are_converted(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (12, 8, 8)).astype(np.uint16)
    np.savez(tmp_path / "d.npz", images=img, labels=np.arange(12) % 3, test_images=img, test_labels=np.arange(12) % 3)
    s = load_splits(f"npz:{tmp_path / 'd.npz'}")
    assert s.train.images.dtype == np.uint8 and np.array_equal(s.train.images[..., 0], img)


# -- folder:PATH -----------------------------------------------------------------------------------
def _folder(root, kind):
    if kind == "no-class":
        root.mkdir()
    elif kind == "loose-images-only":
        write_png(root / "a.png")
    elif kind == "one-class":
        for i in range(4):
            write_png(root / "cat" / f"{i}.png")
    else:
        for c in ("a", "b"):
            for i in range(4):
                write_png(root / c / f"{i}.png", size=(8, 8))
        if kind == "class-without-images":
            (root / "c").mkdir()
            (root / "c" / "notes.txt").write_text("no images")
        elif kind == "non-image-named-png":
            (root / "a" / "fake.png").write_text("hello")
        elif kind == "truncated-jpeg":
            Image.new("RGB", (64, 64), (10, 200, 30)).save(root / "b" / "t.jpg", quality=95)
            data = (root / "b" / "t.jpg").read_bytes()
            (root / "b" / "t.jpg").write_bytes(data[:len(data) // 2])
    return f"folder:{root}"


FOLDER_CASES = {"no-class": "no class sub-folders", "loose-images-only": "no class sub-folders",
                "one-class": "single class", "class-without-images": "without images",
                "non-image-named-png": "cannot be read", "truncated-jpeg": "cannot be read"}


@pytest.mark.parametrize("kind", list(FOLDER_CASES))
def test_bad_folder_is_refused_and_the_earlier_run_kept(earlier_run, tmp_path, kind):
    _fails_keeping(earlier_run, ["--dataset", _folder(tmp_path / "data", kind)], FOLDER_CASES[kind])


def test_ok_nested_folders_symlink_loop_and_stray_files(tmp_path):
    """Images in sub-sub-folders belong to their top-level class; a symlink loop and non-image files
    (notes, .DS_Store) are passed over; every real image is read once."""
    root = tmp_path / "data"
    for c in ("a", "b"):
        write_png(root / c / "1.png")
        write_png(root / c / "deeper" / "still" / "2.png")
        (root / c / "notes.txt").write_text("x")
        (root / c / ".DS_Store").write_bytes(b"\0\0")
    os.symlink(root / "a", root / "a" / "loop")
    s = load_splits(f"folder:{root}", test_data=f"folder:{root}")
    assert s.train.class_names == ["a", "b"] and list(np.bincount(s.train.labels)) == [2, 2]
    assert len(set(s.train.paths)) == 4


def test_ok_tiny_extreme_aspect_and_mixed_modes_become_one_rgb_size(tmp_path):
    """1x1, 1x300 and 300x1 images, greyscale beside RGB and RGBA: all scaled and centre-cropped to
    --image-size, converted to RGB (a grey pixel keeps its value in every channel)."""
    root = tmp_path / "data"
    write_png(root / "a" / "one.png", size=(1, 1), color=77)
    write_png(root / "a" / "wide.png", size=(300, 1))
    write_png(root / "a" / "tall.png", size=(1, 300), mode="RGB")
    write_png(root / "b" / "rgba.png", mode="RGBA", color=200)
    write_png(root / "b" / "grey.png", mode="L", color=50)
    write_png(root / "b" / "rgb.png", mode="RGB")
    s = load_splits(f"folder:{root}", image_size=16, test_data=f"folder:{root}")
    assert s.train.images.shape == (6, 16, 16, 3)
    assert (s.train.images[s.train.paths.index(str(root / "a" / "one.png"))] == 77).all()
    assert (s.train.images[s.train.paths.index(str(root / "b" / "grey.png"))] == 50).all()


@pytest.mark.slow
def test_ok_names_with_spaces_unicode_and_newlines_train_end_to_end(tmp_path):
    """Class folders 'big cat' and '猫', a file name with a newline: they train, and label_issues.csv
    round-trips every path and class name through a CSV reader."""
    root = tmp_path / "da ta"
    names = {"big cat": ["a b.png", "ü.png", "line\nbreak.png", "4.png"], "猫": ["1.png", "2.png", "3.png", "4.png"]}
    for c, files in names.items():
        for i, f in enumerate(files):
            write_png(root / c / f, color=40 + 50 * i + (120 if c == "猫" else 0))
    out = tmp_path / "run"
    rc, _, err = cli("train", "--dataset", f"folder:{root}", "--test-data", f"folder:{root}", *FAST,
                     "--batch-size", "4", "--out", out)
    assert rc == 0, err
    with open(out / "label_issues.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["path"] for r in rows) == sorted(str(root / c / x) for c, fs in names.items() for x in fs)
    assert {r["given_name"] for r in rows} == {"big cat", "猫"}


# -- csv:PATH --------------------------------------------------------------------------------------
CSV_CASES = {"missing-label-column": ("path\na.png\n", "needs a header with columns path,label"),
             "header-only": ("path,label\n", "has no data rows"),
             "mixed-int-and-name-labels": ("path,label\na.png,0\nb.png,cat\n", "mix class indices"),  # was 2 names
             "missing-file": ("path,label\na.png,0\nnope.png,1\n", "not found"),
             "negative-label": ("path,label\na.png,0\nb.png,-1\n", "non-negative")}


@pytest.mark.parametrize("kind", list(CSV_CASES))
def test_bad_csv_is_refused_and_the_earlier_run_kept(earlier_run, tmp_path, kind):
    write_png(tmp_path / "a.png")
    write_png(tmp_path / "b.png")
    text, needle = CSV_CASES[kind]
    (tmp_path / "l.csv").write_text(text)
    _fails_keeping(earlier_run, ["--dataset", f"csv:{tmp_path / 'l.csv'}"], needle)


def test_ok_csv_with_bom_crlf_and_paths_outside_its_folder(tmp_path):
    """Excel's UTF-8 CSV (BOM, CRLF) is read as the CSV it is: the BOM is no part of the 'path' header.
    '../' paths resolve against the CSV's folder like any relative path (the user's own layout)."""
    write_png(tmp_path / "imgs" / "dark.png", color=10)
    write_png(tmp_path / "imgs" / "light, quoted.png", color=240)
    (tmp_path / "lists").mkdir()
    text = '\ufeffpath,label\r\n../imgs/dark.png,night\r\n"../imgs/light, quoted.png",day\r\n'
    (tmp_path / "lists" / "l.csv").write_bytes(text.encode())
    spec = f"csv:{tmp_path / 'lists' / 'l.csv'}"
    s = load_splits(spec, test_data=spec)
    assert s.train.class_names == ["day", "night"] and list(s.train.labels) == [1, 0]
    assert s.train.images[0].max() == 10 and s.train.images[1].min() == 240
