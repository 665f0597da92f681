"""Every entry of an image folder is accounted for: a property over random class folders of images, images
in formats Pillow cannot read, broken links, files that are not images by name and hidden entries, at any
depth and in any letter case. Each regular file is exactly one of: a sample under its top-level class, an
unreadable image (refused, or left out and listed with --skip-bad-images), or a file passed over and
reported; hidden entries (and what lies under them) are neither."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from noisylabels.data.files import list_folder
from tests.helpers import FAST, cli
from tests.hostile.strategies import FEW, refused

EXTENSIONS = [".png", ".PNG", ".jpg", ".Jpeg", ".jfif", ".jpe", ".webp", ".bmp", ".tif",  # read by Pillow
              ".heic", ".HEIF", ".svg", ".dng", ".cr2",  # formats Pillow does not read (junk content stands in)
              ".txt", ".json", ".jpg_large", ".png~", ""]  # not images by name
IMAGE_NAMED = {".png", ".jpg", ".jpeg", ".jfif", ".jpe", ".webp", ".bmp", ".tif", ".heic", ".heif", ".svg", ".dng",
               ".cr2"}

entry = st.tuples(
    st.sampled_from(EXTENSIONS),
    st.sampled_from(["image", "junk", "broken-link"]),
    st.lists(st.sampled_from(["sub", "deeper dir", ".hidden", "ß"]), max_size=2),  # folders under the class
    st.booleans(),  # a hidden name ('.x.png', macOS's '._x.png')
)


def _write(path: Path, content: str, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if content == "broken-link":
        os.symlink(path.parent / "no such target", path)
    elif content == "image":
        Image.new("RGB", (6, 5), (30, 90, 150)).save(path, format=fmt)
    else:
        path.write_bytes(b"not an image \x00\x01")


def _build(root: Path, classes: list[list[tuple]], outputs: list[bool]) -> dict[str, set[Path]]:
    """The folder, and what each entry must become: 'sample:<class>', 'unreadable', 'passed', 'hidden'.
    ``outputs[c]``: class c also holds a folder this tool wrote (config.yaml, summary.json, plots/*.png)."""
    want: dict[str, set[Path]] = {}
    for c, entries in enumerate(classes):
        _write(root / f"class{c}" / "anchor.png", "image", "PNG")  # every class has one image
        want.setdefault(f"sample:{c}", set()).add(root / f"class{c}" / "anchor.png")
        if outputs[c % len(outputs)]:
            run = root / f"class{c}" / "run"
            _write(run / "plots" / "curves.png", "image", "PNG")
            (run / "config.yaml").write_text("method: ce\n")
            (run / "summary.json").write_text("{}")
            want.setdefault("passed", set()).add(run)
        for i, (ext, content, dirs, hidden) in enumerate(entries):
            name = f"{'._' if hidden else ''}f{i}{ext}"
            path = root / f"class{c}" / Path(*dirs) / name
            _write(path, content, "PNG")
            if hidden or any(d.startswith(".") for d in dirs):
                kind = "hidden"
            elif ext.lower() not in IMAGE_NAMED:
                kind = "passed" if content != "broken-link" else "hidden"  # a broken link is no file
            elif content == "image":  # Pillow reads the content, whatever the extension says
                kind = f"sample:{c}"
            else:
                kind = "unreadable"
            want.setdefault(kind, set()).add(path)
    return want


@FEW
@given(st.lists(st.lists(entry, max_size=6), min_size=2, max_size=3), st.lists(st.booleans(), min_size=1, max_size=3),
       st.integers(0, 2))
def test_every_folder_entry_is_a_sample_an_unreadable_image_or_passed_over(classes, outputs, loose):
    """``loose``: images beside the class folders, which belong to no class: passed over and listed."""
    root = Path(tempfile.mkdtemp())
    try:
        want = _build(root / "data", classes, outputs)
        for i in range(loose):
            _write(root / "data" / f"loose{i}.jpg", "image", "PNG")
            want.setdefault("passed", set()).add(root / "data" / f"loose{i}.jpg")
        listing = list_folder(str(root / "data"))
        assert set(listing.passed_over) == want.get("passed", set())
        rejected, message = refused(lambda: listing.load(8, skip_bad=False, stream="off"))
        assert rejected == bool(want.get("unreadable")), message
        ds = listing.load(8, skip_bad=True, stream="off")
        assert set(map(Path, ds.skipped_paths)) == want.get("unreadable", set())
        for c in range(len(classes)):
            got = {Path(p) for p, y in zip(ds.paths, ds.labels) if y == c}
            assert got == want[f"sample:{c}"]
        assert set(map(Path, ds.passed_over)) == want.get("passed", set())
    finally:
        shutil.rmtree(root)


@pytest.mark.slow
def test_files_passed_over_are_listed_by_the_run(tmp_path):
    """A run on a folder with notes and an extension-less image names them in passed_over.txt, its log
    and summary.json, and trains on the images."""
    root = tmp_path / "data"
    for c in ("a", "b"):
        for i in range(6):
            _write(root / c / f"{i}.png", "image", "PNG")
    (root / "a" / "notes.txt").write_text("kept apart")
    _write(root / "b" / "IMG_0001", "image", "PNG")
    rc, out, err = cli("train", "--dataset", f"folder:{root}", *FAST, "--out", tmp_path / "run")
    assert rc == 0, err
    listed = (tmp_path / "run" / "passed_over.txt").read_text().splitlines()
    assert listed == [str(root / "a" / "notes.txt"), str(root / "b" / "IMG_0001")]
    assert "passed over 2 entries" in out
    import json
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["passed_over_files"] == 2 and summary["num_train"] + summary["num_test"] == 12


@pytest.mark.slow
def test_a_run_inside_the_data_folder_is_no_class_and_the_data_folder_is_no_run(tmp_path):
    """--out inside the data root: the next run passes the first one over (no class 'run1', its plots no
    images); --out the data root itself is refused before anything is written; a data root that a run was
    written into is refused with the fix."""
    root = tmp_path / "data"
    for c in ("a", "b"):
        for i in range(6):
            _write(root / c / f"{i}.png", "image", "PNG")
    for out in ("run1", "run2"):
        rc, out_text, err = cli("train", "--dataset", f"folder:{root}", *FAST, "--out", root / out)
        assert rc == 0, err
    import json
    summary = json.loads((root / "run2" / "summary.json").read_text())
    assert summary["num_train"] + summary["num_test"] == 12 and summary["passed_over_files"] == 1
    assert "run1" not in (root / "run2" / "label_issues.csv").read_text()
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    rc, _, err = cli("train", "--dataset", f"folder:{root}", *FAST, "--out", root)
    assert rc == 2 and "is the image folder the data comes from" in err
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    (root / "config.yaml").write_text("method: ce\n")
    (root / "summary.json").write_text("{}")
    rc, _, err = cli("train", "--dataset", f"folder:{root}", *FAST, "--out", tmp_path / "elsewhere")
    assert rc == 2 and "a run was written into the data folder" in err


@pytest.mark.parametrize("kind, reason", [("empty", "an empty file"), ("heic", "convert them to JPEG or PNG"),
                                          ("broken-link", "a link to a file that does not exist"),
                                          ("junk", "not an image Pillow can identify")])
def test_an_unreadable_image_is_refused_with_why(tmp_path, kind, reason):
    """The one-line refusal says why the first unreadable file failed, in words a user can act on."""
    root = tmp_path / "data"
    for c in ("a", "b"):
        _write(root / c / "0.png", "image", "PNG")
    bad = root / "a" / ("x.heic" if kind == "heic" else "x.jpg")
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "broken-link":
        _write(bad, "broken-link", "PNG")
    else:
        _write(bad, "junk", "PNG")
    rejected, message = refused(lambda: list_folder(str(root)).load(8, skip_bad=False, stream="off"))
    assert rejected and "cannot be read" in message and reason in message, message


@pytest.mark.parametrize("splits, subs, refused_", [
    (("train", "val"), ("cat", "dog"), True),
    (("Train", "Test", "valid"), ("a", "b", "c"), True),
    (("cat", "dog"), ("day", "night"), False),  # classes with sub-folders of their own: a class layout
    (("train", "val"), ("cat", "dog", "x"), False),  # the splits' classes differ: train on them as given
])
def test_split_folders_holding_the_classes_are_refused_with_the_command(tmp_path, splits, subs, refused_):
    root = tmp_path / "data"
    for k, sp in enumerate(splits):
        for c in (subs if k == 0 or subs[-1] != "x" else subs[:-1]):
            _write(root / sp / c / "0.png", "image", "PNG")
    was_refused, message = refused(lambda: list_folder(str(root)))
    assert was_refused == refused_, message
    if refused_:
        train = next((sp for sp in splits if sp.lower().startswith("train")), splits[0])
        assert f"--dataset folder:{root / train} --test-data folder:" in message
