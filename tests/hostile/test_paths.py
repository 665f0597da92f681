"""Paths the user writes, property-based: the path cells of a ``csv:`` list, ``train --out`` and the
label and exclude files given to ``train`` (``--noise file:``, ``--labels``, ``--exclude``). Each is
written in the ways people write paths: relative, absolute, with './' or 'dir/../', doubled slashes,
surrounding whitespace, a line break inside a quoted cell, very long, empty, naming a folder or nothing.

The property: refused with one line (a UserError; exit 2 and one line from the command), leaving the
files as they were; or each listed path is the intended file, read once (one file written two ways is
listed twice, and refused), and ``--out`` is the folder meant."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from noisylabels.data.files import list_csv
from noisylabels.data.sources import load_splits
from tests.helpers import FAST, snapshot
from tests.hostile.strategies import FEW, PROPERTY, count, fresh, refused

LONG = "x" * 240 + ".png"  # a long name that a file system holds (255 bytes at most)
IMAGES = {"a": "a.png", "sub": "sub/b.png", "lead": " lead.png", "newline": "line\nbreak.png", "accent": "é.png",
          "hash": "#1.png", "long": LONG, "link": "link.png"}  # link.png is a link to a.png: the same file
BROKEN = ["", "   ", "missing.png", "sub", "dir.png", "y" * 300, "A.PNG", "~/a.png", "a.png\x00", "z" * 300 + "/a.png",
          "/", "sub/b.png/..", "file:a.png"]
FORMS = {
    "as-is": lambda rel, base: rel,
    "dot": lambda rel, base: "./" + rel,
    "absolute": lambda rel, base: str(base / rel),
    "up-and-back": lambda rel, base: "sub/../" + rel,
    "double-slash": lambda rel, base: rel.replace("/", "//") if "/" in rel else ".//" + rel,
    "padded": lambda rel, base: "  " + rel + " \t",
    "line-break-after": lambda rel, base: rel + "\n",
}


def _image_tree(base: Path) -> None:
    """The files of IMAGES (and a folder named like an image) under ``base``."""
    for rel in IMAGES.values():
        if rel != "link.png":
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            (base / rel).write_bytes(rel.encode())
    (base / "link.png").symlink_to(base / "a.png")
    (base / "dir.png").mkdir()


ROWS = st.lists(st.one_of(st.tuples(st.sampled_from(sorted(IMAGES)), st.sampled_from(sorted(FORMS))),
                          st.tuples(st.sampled_from(BROKEN), st.none())), min_size=1, max_size=5)


def check_csv_paths(base: Path, rows: list[tuple[str, str | None]]) -> None:
    """A csv: list of ``rows`` (an IMAGES key written in a FORMS way, or a BROKEN cell): refused, or row
    k is its image's file, and no file is listed twice."""
    _image_tree(base)
    cells = [FORMS[form](IMAGES[key], base) if form else key for key, form in rows]
    with open(base / "list.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["path", "label"], *[[c, ("cat", "dog")[k % 2]] for k, c in enumerate(cells)]])
    no, got = refused(lambda: list_csv(str(base / "list.csv")))
    if no:
        return
    assert all(form is not None for _, form in rows), cells
    meant = [os.path.realpath(base / IMAGES[key]) for key, _ in rows]
    assert [os.path.realpath(p) for p in got.paths] == meant, cells
    assert len(set(meant)) == len(meant), cells  # each file read once: one image, one label


@PROPERTY
@given(rows=ROWS)
def test_every_path_cell_of_a_csv_list_is_its_image_or_refused(tmp_path, rows):
    check_csv_paths(fresh(tmp_path), rows)


@pytest.mark.parametrize("key", sorted(IMAGES))
def test_every_image_in_every_form_and_every_broken_cell(tmp_path, key):
    """The sweep the property draws from: each image written each way beside another image, and each
    broken cell beside a good one."""
    for form in FORMS:
        check_csv_paths(fresh(tmp_path), [(key, form), ("sub" if key == "a" else "a", "as-is")])
    for cell in BROKEN:
        check_csv_paths(fresh(tmp_path), [(key, "as-is"), (cell, None)])


# -- train --out ------------------------------------------------------------------------------------
PARTS = ["new", "file", "old", "empty", ".", "..", "", "line\nbreak", "x" * 300, "sp ace", "ü", "~nobody", " lead",
         "tab\t", "y" * 200]
OUTS = ["new", "a/b/c", "ABS", "file", "file/sub", "file/../new3", "old", "empty", "", ".", "x" * 300,
        "y" * 200 + "/" + "z" * 200, "old/../new2", "./dot", "new/", "//"]


def _out_tree(base: Path) -> None:
    (base / "file").write_text("x")
    (base / "old").mkdir()
    (base / "old" / "config.yaml").write_text("epochs: 1\n")
    (base / "old" / "metrics.jsonl").write_text("{}\n")
    (base / "empty").mkdir()


def check_out(attempt_train, base: Path, out: str) -> None:
    """``train --out OUT`` run from ``base``: refused naming --out, the tree untouched; or the run's
    config.yaml lands in the folder meant (OUT against the current folder), which is no file, under no
    file, holds no earlier run and has a name; nothing that was there before changes."""
    _out_tree(base)
    out = str(base / "abs") if out == "ABS" else out
    before = snapshot(base)
    got = attempt_train("train", "--dataset", "digits", *FAST, "--out", out)
    after = snapshot(base)
    count("refused" if isinstance(got, str) else "accepted")
    if isinstance(got, str):
        assert "--out" in got and after == before, (out, got)
        return
    meant = Path(os.path.abspath(base / out))
    assert out.strip() and meant != base / "old" and base / "file" not in (meant, *meant.parents), out
    assert all(len(part.encode()) <= 255 for part in meant.parts), out
    assert (meant / "config.yaml").is_file(), out
    assert {k: after.get(k) for k in before} == before, out  # nothing there before changed
    assert all((base / k).resolve().is_relative_to(meant.resolve()) for k in set(after) - set(before)), out


@FEW
@given(parts=st.lists(st.sampled_from(PARTS), min_size=1, max_size=3), absolute=st.booleans())
def test_every_out_folder_is_the_one_meant_or_refused(attempt_train, monkeypatch, tmp_path, parts, absolute):
    base = fresh(tmp_path)
    monkeypatch.chdir(base)
    out = "/".join(parts)
    check_out(attempt_train, base, str(base) + "/" + out if absolute else out)


@pytest.mark.parametrize("out", OUTS, ids=range(len(OUTS)))
def test_known_out_folders(attempt_train, monkeypatch, tmp_path, out):
    monkeypatch.chdir(tmp_path)
    check_out(attempt_train, tmp_path, out)


# -- label and exclude files -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_train():
    return load_splits("digits").train


FILE_NAMES = ["noisy.npy", "sub/noisy.npy", " lead.npy", "line\nbreak.npy", "a#b.npy", "é.npy", "x" * 240 + ".npy"]
FILE_FORMS = {**{k: v for k, v in FORMS.items() if k != "padded"}, "missing": lambda rel, base: rel + ".gone",
              "folder": lambda rel, base: "dir.npy", "empty": lambda rel, base: "",
              "too-long": lambda rel, base: "q" * 300}


def _given_files(base: Path, digits_train, rel: str) -> dict[str, Path]:
    """The three inputs at ``rel`` (suffix changed per kind): noisy labels .npy, an index-keyed labels
    .csv and an exclude list .csv, beside a folder named like a file."""
    labels = (digits_train.labels + 1) % 10
    files = {"noise": base / rel, "labels": base / (rel[:-4] + ".csv"), "exclude": base / (rel[:-4] + ".x.csv")}
    files["noise"].parent.mkdir(parents=True, exist_ok=True)
    np.save(files["noise"], labels)
    rows = [["index", "label"]] + [[int(i), int(y)] for i, y in zip(digits_train.source_index, labels)]
    with open(files["labels"], "w", newline="") as f:
        csv.writer(f).writerows(rows)
    files["exclude"].write_text("index\n" + "".join(f"{int(i)}\n" for i in digits_train.source_index[:2]))
    (base / "dir.npy").mkdir(exist_ok=True)
    return files


def check_given_file(attempt_train, base: Path, digits_train, kind: str, name: str, form: str) -> None:
    """``train --noise file:P`` / ``--labels P`` / ``--exclude P`` with P the file ``name`` written the
    ``form`` way: refused with one line, or the file's labels (or exclusions) are the ones trained on."""
    files = _given_files(base, digits_train, name)
    rel = files[kind].relative_to(base).as_posix()
    given_path = FILE_FORMS[form](rel, base)
    flag = {"noise": ["--noise", f"file:{given_path}"], "labels": ["--labels", given_path],
            "exclude": ["--exclude", given_path]}[kind]
    got = attempt_train("train", "--dataset", "digits", *FAST, *flag, "--out", base / "run")
    count("refused" if isinstance(got, str) else "accepted")
    if isinstance(got, str):  # the line names the input it refuses (not a bare 'File name too long (...)')
        assert any(word in got for word in ("labels file", "--labels", "--noise", "--exclude")), got
        return
    assert form in FORMS, (kind, name, form)
    data = got[1]
    if kind == "exclude":
        assert len(data.labels) == len(digits_train) - 2
    else:
        assert data.labels.tolist() == ((digits_train.labels + 1) % 10).tolist()


@FEW
@given(kind=st.sampled_from(["noise", "labels", "exclude"]), name=st.sampled_from(FILE_NAMES),
       form=st.sampled_from(sorted(FILE_FORMS)))
def test_every_label_or_exclude_file_path_is_the_file_meant_or_refused(attempt_train, monkeypatch, tmp_path,
                                                                        digits_train, kind, name, form):
    base = fresh(tmp_path)
    monkeypatch.chdir(base)
    check_given_file(attempt_train, base, digits_train, kind, name, form)


@pytest.mark.parametrize("kind", ["noise", "labels", "exclude"])
def test_every_given_file_in_every_form(attempt_train, monkeypatch, tmp_path, digits_train, kind):
    """The sweep the property draws from: each form of one name, and each name as written."""
    for form in FILE_FORMS:
        base = fresh(tmp_path)
        monkeypatch.chdir(base)
        check_given_file(attempt_train, base, digits_train, kind, "sub/noisy.npy", form)
    for name in FILE_NAMES:
        base = fresh(tmp_path)
        monkeypatch.chdir(base)
        check_given_file(attempt_train, base, digits_train, kind, name, "as-is")


@pytest.mark.parametrize("argv", [
    ["--dataset", "folder:"], ["--dataset", "csv: "], ["--dataset", "npz:"], ["--dataset", "webvision:"],
    ["--dataset", "clothing1m:\t"], ["--dataset", "digits", "--test-data", "folder:"],
    ["--dataset", "digits", "--noise", "file:"], ["--dataset", "digits", "--noise", "file: "],
])
def test_a_source_or_labels_file_without_its_path_is_refused_not_read_from_the_current_folder(tmp_path, argv,
                                                                                             monkeypatch):
    from tests.helpers import one_line_error

    monkeypatch.chdir(tmp_path)  # a run from a folder that holds images must not read them unasked
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    line = one_line_error("train", *argv, *FAST, "--out", tmp_path / "run")
    assert "names no path" in line or "no labels file named" in line or "non-empty" in line
    assert not (tmp_path / "run").exists()


def test_a_key_that_differs_only_in_unicode_form_names_the_sample(tmp_path):
    """A labels file written on another system spells 'café' decomposed (NFD) where the folder holds it composed
    (NFC): refused, naming the sample it differs from only in form."""
    import unicodedata

    from tests.helpers import image_folder, user_error

    dataset = image_folder(tmp_path / "data", classes=("café", "tea"), per_class=6)
    root = Path(dataset.split(":", 1)[1])
    rows = [(unicodedata.normalize("NFD", p.relative_to(root).as_posix()), p.parent.name)
            for p in sorted(root.glob("*/*.png"))]
    with open(tmp_path / "l.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "label"), *rows])
    user_error(["train", "--dataset", dataset, *FAST, "--test-fraction", "0.25", "--labels", tmp_path / "l.csv",
                "--out", tmp_path / "r"], "NFC/NFD")
