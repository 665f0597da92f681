"""Hardened inputs (each bad input: one line, exit 2, earlier outputs untouched), streaming and list files."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from noisylabels.cli import main
from noisylabels.data.files import list_clothing1m, list_webvision
from noisylabels.data.sources import load_splits
from noisylabels.data.streaming import StreamingImages
from noisylabels.errors import UserError
from tests.helpers import clothing1m_tree, one_line_error, webvision_tree

FAST = ["--epochs", "1", "--width", "8", "--batch-size", "32", "--quiet"]  # batch 32: the folders are small


def _digits_folder(root: Path, per_class: int = 12, classes: int = 4) -> list[Path]:
    """A folder source of real digit images (16 x 16 PNGs), ``per_class`` per class."""
    from sklearn.datasets import load_digits

    d = load_digits()
    paths = []
    for c in range(classes):
        for k, i in enumerate(np.flatnonzero(d.target == c)[:per_class]):
            p = root / f"class{c}" / f"{k:03d}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((d.images[i] * 15.9).astype(np.uint8)).resize((16, 16)).save(p)
            paths.append(p)
    return paths


@pytest.mark.slow
def test_corrupt_images_stop_with_their_list_or_are_skipped_and_recorded(tmp_path):
    paths = _digits_folder(tmp_path / "data")
    paths[3].write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    paths[20].write_bytes(b"")
    out = tmp_path / "run"
    msg = one_line_error("train", "--dataset", f"folder:{tmp_path / 'data'}", *FAST, "--out", str(out))
    assert "2 image file(s) cannot be read" in msg and paths[3].name in msg and "--skip-bad-images" in msg
    assert not out.exists()
    assert main(["train", "--dataset", f"folder:{tmp_path / 'data'}", "--skip-bad-images", "--test-fraction", "0.25",
                 *FAST, "--out", str(out)]) == 0
    skipped = (out / "skipped_images.txt").read_text().splitlines()
    assert sorted(skipped) == sorted([str(paths[3]), str(paths[20])])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_images"] == 2 and summary["num_train"] + summary["num_test"] == 46
    rows = (out / "label_issues.csv").read_text().splitlines()[1:]
    indices = {int(r.split(",")[0]) for r in rows}
    assert not indices & {3, 20}  # positions in the user's source, the skipped files absent


@pytest.mark.parametrize("csv_text, needle", [
    ("path,label\na.png,0\nb.png,2\n", "have no samples"),                  # class 1 never occurs
    ("path,label\na.png,0\na.png,1\n", "more than once"),                   # duplicate path
    ("path,label\na.png,0\n,1\n", "lack a path or a label"),                 # blank cell
    ("path,label\na.png,0\nmissing.png,1\n", "not found"),                  # missing file
    ("path,label\na.png,0\nb.png,99999999999\n", "have no samples"),      # one typo: refused before 10^11 names
    ("path,label,label\na.png,0,1\nb.png,1,0\n", "twice"),                 # which label column?
    ("path,label\na.png," + "x" * 140_000 + "\nb.png,y\n", "not a readable CSV"),  # a field over csv's limit
])
def test_bad_csv_sources(tmp_path, csv_text, needle):
    for name in ("a.png", "b.png"):
        Image.new("L", (8, 8), 7).save(tmp_path / name)
    (tmp_path / "list.csv").write_text(csv_text)
    assert needle in one_line_error("train", "--dataset", f"csv:{tmp_path / 'list.csv'}", *FAST,
                                    "--out", str(tmp_path / "r"))
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("names, counts, refused", [
    (["Sneaker", "sneaker "], (10, 10), True),        # case and spacing
    (["Sneaker", "Snekaer"], (40, 2), True),          # a typo: one swap, a rare spelling
    (["T-shirt", "tshirt"], (10, 1), True),
    (["Shirt", "Skirt"], (30, 25), False),            # one edit apart, two real classes of similar size
    (["cat", "car"], (30, 1), False),                 # too short to call a typo
])
def test_class_names_written_twice_are_refused_with_both_names(tmp_path, names, counts, refused):
    rows = []
    for name, k in zip(names, counts):
        for i in range(k):
            Image.new("L", (8, 8), (7 * i) % 255).save(tmp_path / f"{len(rows)}.png")
            rows.append(f"{len(rows)}.png,{name}")
    (tmp_path / "list.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    from noisylabels.data.files import list_csv

    if refused:
        with pytest.raises(UserError, match="one class written twice") as e:
            list_csv(str(tmp_path / "list.csv"))
        assert repr(names[0].strip()) in str(e.value) or repr(names[0]) in str(e.value)
    else:
        assert list_csv(str(tmp_path / "list.csv")).class_names == sorted(names)


def test_labels_in_digits_that_str_isdigit_takes_are_class_names(tmp_path):
    for name in ("a.png", "b.png"):
        Image.new("L", (8, 8), 7).save(tmp_path / name)
    (tmp_path / "list.csv").write_text("path,label\na.png,\u00b9\nb.png,\u00b2\n")
    from noisylabels.data.files import list_csv

    listed = list_csv(str(tmp_path / "list.csv"))
    assert listed.class_names == ["\u00b2", "\u00b9"] and listed.labels.tolist() == [1, 0]


def test_a_class_folder_linked_twice_is_refused(tmp_path):
    _digits_folder(tmp_path / "d", per_class=4, classes=2)
    (tmp_path / "d" / "zzz").symlink_to(tmp_path / "d" / "class0", target_is_directory=True)
    from noisylabels.data.files import list_folder

    with pytest.raises(UserError, match="same file as one under 'class0'"):
        list_folder(str(tmp_path / "d"))


def test_csv_labels_given_as_names_train(tmp_path):
    paths = _digits_folder(tmp_path / "d", per_class=10, classes=2)
    names = {"class0": "zero", "class1": "one"}
    rows = [f"{p.relative_to(tmp_path)},{names[p.parent.name]}" for p in paths]
    (tmp_path / "list.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    splits = load_splits(f"csv:{tmp_path / 'list.csv'}")
    assert splits.train.class_names == ["one", "zero"]


@pytest.mark.parametrize("labels, needle", [
    (np.full(10, 1.5), "non-integer"),
    (np.zeros(3, dtype=np.int64), "has 3 labels"),
    (np.array(["a"] * 10), "unknown class name"),
])
def test_noisy_label_files_of_wrong_length_or_dtype(tmp_path, labels, needle):
    paths = _digits_folder(tmp_path / "d", per_class=5, classes=2)
    (tmp_path / "list.csv").write_text("path,label\n" + "".join(f"{p},{p.parent.name[-1]}\n" for p in paths))
    np.save(tmp_path / "noisy.npy", labels)
    msg = one_line_error("train", "--dataset", f"csv:{tmp_path / 'list.csv'}", "--test-data",
                         f"csv:{tmp_path / 'list.csv'}", "--noise", f"file:{tmp_path / 'noisy.npy'}", *FAST,
                         "--out", str(tmp_path / "r"))
    assert needle in msg


@pytest.mark.slow
def test_divergence_stops_with_one_line(tmp_path):
    msg = one_line_error("train", "--dataset", "digits", "--lr", "1e20", *FAST, "--out", str(tmp_path / "r"))
    assert "diverged at epoch 1" in msg and "--lr" in msg


def test_streaming_matches_in_memory_decoding_and_trains(tmp_path):
    _digits_folder(tmp_path / "data", per_class=10, classes=3)
    mem = load_splits(f"folder:{tmp_path / 'data'}", stream="off", test_fraction=0.2)
    st = load_splits(f"folder:{tmp_path / 'data'}", stream="on", test_fraction=0.2)
    assert isinstance(st.train.images, StreamingImages) and st.train.images.shape == mem.train.images.shape
    assert np.array_equal(st.train.images[np.arange(len(st.train))], mem.train.images)
    on_cpu = st.train.images.to("cpu")
    batches = [torch.tensor([5, 1, 0]), torch.tensor([2, 3])]
    on_cpu.prefetch(batches)
    for b in batches:  # the prefetched batches, in order, equal direct indexing
        assert torch.equal(on_cpu[b], torch.from_numpy(mem.train.images[b.numpy()]))
    assert torch.equal(on_cpu[2:4], torch.from_numpy(mem.train.images[2:4]))
    with pytest.raises(UserError, match="--stream"):
        load_splits(f"folder:{tmp_path / 'data'}", stream="sometimes")


@pytest.mark.slow
def test_streamed_run_equals_in_memory_run(tmp_path):
    _digits_folder(tmp_path / "data", per_class=12, classes=3)
    accs = []
    for mode in ("off", "on"):
        out = tmp_path / mode
        assert main(["train", "--dataset", f"folder:{tmp_path / 'data'}", "--stream", mode, "--epochs", "2",
                     "--width", "8", "--batch-size", "8", "--quiet", "--out", str(out)]) == 0
        s = json.loads((out / "summary.json").read_text())
        assert s["streamed"] == (mode == "on")
        accs.append([json.loads(x)["loss"] for x in (out / "metrics.jsonl").read_text().splitlines()])
    assert np.allclose(accs[0], accs[1], atol=1e-5)  # same pixels, same seeds: the same training


def test_mini_webvision_lists_keep_the_first_50_classes(tmp_path):
    root = webvision_tree(tmp_path / "webvision", labels=[*range(50), 50, 700], per_class=1)
    train = list_webvision(str(root), "train")
    assert len(train) == 50 and train.labels.max() == 49 and train.paths[0] == root / "google/q0000/0.jpg"
    assert list_webvision(str(root), "test").paths[3] == root / "val_images_256" / "val3_0.jpg"
    splits = load_splits(f"webvision:{root}", image_size=16, stream="auto")
    assert splits.train.images.shape == (50, 16, 16, 3) and len(splits.test) == 50
    (root / "info" / "val_filelist.txt").write_text("val1_0.jpg one\n")
    with pytest.raises(UserError, match="expected 'path label'"):
        list_webvision(str(root), "test")


def test_clothing1m_lists(tmp_path):
    root = clothing1m_tree(tmp_path / "clothing", per_class=2, test_per_class=1)
    (root / "clean_label_kv.txt").write_text("".join(f"images/2/{c}_2.jpg {(c + 1) % 14}\n" for c in range(14)))
    train = list_clothing1m(str(root), "train")
    test = list_clothing1m(str(root), "test")
    assert len(train) == 28 and train.labels[15] == 7 and test.labels[0] == 1 and len(test) == 14
    splits = load_splits(f"clothing1m:{root}", image_size=16, stream="on")
    assert splits.train.images.shape == (28, 16, 16, 3) and splits.test_kind == "builtin"
    with open(root / "noisy_train_key_list.txt", "a") as f:
        f.write("images/9/nolabel.jpg\n")
    with pytest.raises(UserError, match="no label"):
        list_clothing1m(str(root), "train")


def test_npz_and_skipped_images_that_leave_a_class_empty_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 256, (12, 8, 8), dtype=np.uint8),
             labels=np.array([0, 2] * 6), class_names=np.array(["a", "b", "c"]))
    msg = one_line_error("train", "--dataset", f"npz:{tmp_path / 'd.npz'}", *FAST, "--out", str(tmp_path / "r1"))
    assert "class(es) b have no samples" in msg
    paths = _digits_folder(tmp_path / "f", per_class=4, classes=3)
    for p in paths[4:8]:  # every image of class1 is broken
        p.write_bytes(b"")
    msg = one_line_error("train", "--dataset", f"folder:{tmp_path / 'f'}", "--skip-bad-images", *FAST,
                         "--out", str(tmp_path / "r2"))
    assert "class(es) class1 have no samples" in msg and not (tmp_path / "r2").exists()


@pytest.mark.parametrize("image_size", [None, 20])
def test_streaming_decodes_odd_non_square_images_as_in_memory(tmp_path, image_size):
    """Odd, non-square sizes (stretching and scale-and-crop differ on them), grey with RGB, RGBA and
    16-bit grey: the streamed pixels equal the in-memory ones exactly."""
    rng = np.random.default_rng(0)
    sizes = [(37, 23), (23, 37), (9, 41), (31, 31), (64, 17), (15, 16)]
    for c in range(3):
        for k, (w, h) in enumerate(sizes):
            p = tmp_path / "data" / f"c{c}" / f"{k}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            kind = (c + k) % 4
            if kind == 0:
                Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
            elif kind == 1:
                Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(p)
            elif kind == 2:
                Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), "RGBA").save(p)
            else:
                Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16)).save(p)
    spec = f"folder:{tmp_path / 'data'}"
    mem = load_splits(spec, stream="off", test_fraction=0.2, image_size=image_size)
    st = load_splits(spec, stream="on", test_fraction=0.2, image_size=image_size)
    side = image_size or 32  # without --image-size: the documented 32 x 32
    assert mem.train.images.shape[1:] == (side, side, 3)
    assert np.array_equal(st.train.images[np.arange(len(st.train))], mem.train.images)
    assert np.array_equal(st.test.images[np.arange(len(st.test))], mem.test.images)


def test_one_size_and_channel_rule_streamed_or_not(tmp_path):
    """40 grey files first, then colour ones, all 24 px: both paths decode RGB at the documented 32 px
    (not the files' own size, not the first files' mode), and the run's normalisation statistics agree."""
    from noisylabels.app.build import view_config
    from noisylabels.data.files import FILE_IMAGE_SIZE

    rng = np.random.default_rng(0)
    for k in range(48):
        p = tmp_path / "data" / f"c{k % 2}" / f"{k:03d}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        arr = rng.integers(0, 256, (24, 24) if k < 40 else (24, 24, 3), dtype=np.uint8)
        Image.fromarray(arr).save(p)
    spec = f"folder:{tmp_path / 'data'}"
    mem = load_splits(spec, stream="off", test_fraction=0.25).train
    st = load_splits(spec, stream="on", test_fraction=0.25).train
    assert mem.images.shape[1:] == st.images.shape[1:] == (FILE_IMAGE_SIZE, FILE_IMAGE_SIZE, 3)
    a, b = view_config(mem.images, spec, "auto", None), view_config(st.images, spec, "auto", None)
    assert a.mean == b.mean and a.std == b.std


def test_jpegs_are_decoded_reduced_and_still_match_a_full_decode(tmp_path, monkeypatch):
    """A 1600 x 1200 photo is read at a power-of-two reduction that covers the size (Pillow's draft),
    and its pixels stay within a few levels of a full decode scaled the same way."""
    from PIL import JpegImagePlugin

    from noisylabels.data._images import _resize_crop, decode_file

    yy, xx = np.mgrid[0:1200, 0:1600]
    arr = np.stack([xx * 255 // 1600, yy * 255 // 1200, (xx + yy) * 255 // 2800], -1).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "big.jpg", quality=95)
    sizes = []
    real = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        out = real(self, mode, size)
        sizes.append(self.size)
        return out

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    got = decode_file(tmp_path / "big.jpg", 64, 3)
    assert got.shape == (64, 64, 3) and sizes and max(sizes[-1]) <= 1600 // 8  # read at 1/8, not 1600 px
    full = np.asarray(_resize_crop(Image.open(tmp_path / "big.jpg").convert("RGB"), (64, 64)))
    assert np.abs(got.astype(int) - full.astype(int)).mean() < 3


@pytest.mark.parametrize("mode, values, expected", [
    ("F", [0.0, 0.5, 1.0], [0, 128, 255]),          # float in [0, 1]: not black
    ("F", [-2.0, 0.0, 2.0], [0, 128, 255]),         # float beyond [0, 1]: by its range
    ("I;16", [0, 32768, 65535], [0, 128, 255]),     # 16-bit: by 1/256
    ("I", [0, 100, 255], [0, 100, 255]),            # 32-bit integers within 8 bits: as they are
])
def test_wide_grey_images_are_scaled_by_what_their_values_mean(mode, values, expected):
    from noisylabels.data._images import image_to_array

    arr = np.array([values] * 3, dtype={"F": np.float32, "I;16": np.uint16, "I": np.int32}[mode])
    im = Image.fromarray(arr, mode=mode) if mode != "I;16" else Image.fromarray(arr)
    got = image_to_array(im, 1, None)[0, :, 0].tolist()
    assert np.allclose(got, expected, atol=1), got


def test_exif_orientation_is_applied(tmp_path):
    from noisylabels.data._images import image_to_array

    im = Image.new("L", (4, 2), 0)
    im.putpixel((0, 0), 255)  # top left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display rotated 90 degrees clockwise
    im.save(tmp_path / "a.jpg", exif=exif.tobytes(), quality=100)
    arr = image_to_array(Image.open(tmp_path / "a.jpg"), 1, None)[..., 0]
    assert arr.shape == (4, 2) and arr[0, -1] > 128  # upright: the bright corner is now at the top right


@pytest.mark.parametrize("extra, needle", [
    ({"class_names": np.array("cat,dog")}, "1-D array of 2 or more names"),       # one string, not a list
    ({"class_names": np.array(["cat", "Cat"])}, "one class written twice"),
    ({"labels": np.array([0, 1, 0, 99999999999])}, "some classes have no samples"),  # before 10^11 names
])
def test_bad_npz_class_lists_are_one_line_refusals(tmp_path, extra, needle):
    from noisylabels.data.sources import load_npz

    np.savez(tmp_path / "d.npz", **{"images": np.zeros((4, 4, 4), np.uint8), "labels": np.array([0, 1, 0, 1]), **extra})
    with pytest.raises(UserError, match=needle) as e:
        load_npz(str(tmp_path / "d.npz"))
    assert "\n" not in str(e.value)
