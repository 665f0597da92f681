"""Class names that are numbers (folders ``1``, ``2``, ``3``; an npz naming its classes '10', '20'): a label
written as text in a labels file or a review decision means one class, never a class index here and a class
name there. Where a number could be either (a class name at another index), a labels file is refused unless
its column says which (``class_index`` / ``class_name``); a review decision's number is a class index, as the
review page writes it; apply-review writes ``class_index`` where its indices could be read as names."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from noisylabels.data.keyed import to_class_indices
from tests.helpers import FAST, cli, image_folder, user_error
from tests.hostile.strategies import PROPERTY, refused

NUMBER_NAMES = st.sampled_from(["0", "1", "2", "3", "10", "07", "-1", "1.5", "2.0", "cat"])


@PROPERTY
@given(names=st.lists(NUMBER_NAMES, min_size=2, max_size=5, unique=True),
       values=st.lists(st.sampled_from(["0", "1", "2", "3", "4", "10", "07", "1.5", "2.0", "cat"]), min_size=1,
                       max_size=6),
       read_as=st.sampled_from(["auto", "index", "name"]))
def test_a_number_is_read_as_one_kind_or_refused(names, values, read_as):
    text = np.array(values)
    was_refused, got = refused(lambda: to_class_indices(text, names, "labels file 'x.csv'", read_as))
    if was_refused:
        return
    got = got.tolist()
    as_names = [names.index(v) if v in names else None for v in values]
    as_indices = [int(float(v)) if v.replace(".", "", 1).isdigit() else None for v in values]
    if read_as != "auto":
        assert got == (as_names if read_as == "name" else as_indices)
        return
    assert got in (as_indices, as_names)  # one reading for the whole file
    if got != as_names:  # read as indices: no value was also the name of another class
        assert all(n is None or n == g for n, g in zip(as_names, got)), (names, values, got)


def _number_folder(tmp_path: Path) -> tuple[str, list[tuple[str, str]]]:
    dataset = image_folder(tmp_path / "data", classes=("1", "2", "3"), per_class=8)
    root = Path(dataset.split(":", 1)[1])
    rows = [(p.relative_to(root).as_posix(), p.parent.name) for p in sorted(root.glob("*/*.png"))]
    return dataset, rows


def _labels_file(path: Path, header: list[str], rows: list[tuple[str, object]]) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def test_folder_names_in_a_labels_file_need_a_column_that_says_so(tmp_path):
    dataset, rows = _number_folder(tmp_path)
    common = ["train", "--dataset", dataset, *FAST, "--test-fraction", "0.25"]
    ambiguous = _labels_file(tmp_path / "l.csv", ["path", "label"], rows)
    user_error([*common, "--labels", ambiguous, "--out", tmp_path / "r0"], "could be class index")
    for header, value in (("class_name", lambda c: c), ("class_index", lambda c: int(c) - 1)):
        f = _labels_file(tmp_path / f"{header}.csv", ["path", header], [(p, value(c)) for p, c in rows])
        rc, _, err = cli(*common, "--labels", f, "--out", tmp_path / header)
        assert rc == 0, err
        with open(tmp_path / header / "label_issues.csv", newline="") as fh:
            for r in csv.DictReader(fh):  # every sample keeps its folder's class
                assert r["given_name"] == Path(r["path"]).parent.name


def test_review_decisions_read_numbers_as_indices_and_apply_review_writes_them_so(tmp_path):
    dataset, _ = _number_folder(tmp_path)
    common = ["--dataset", dataset, *FAST, "--test-fraction", "0.25"]
    assert cli("train", *common, "--out", tmp_path / "run")[0] == 0
    with open(tmp_path / "run" / "label_issues.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["given_name"] == "1")
    dec = _labels_file(tmp_path / "d.csv", ["index", "path", "given_label", "decision", "corrected_label"],
                       [(row["index"], row["path"], row["given_label"], "relabel", "3")])  # index 3 of 3 classes
    user_error(["apply-review", tmp_path / "run", dec, "--out", tmp_path / "fix0"], "not a number")
    _labels_file(dec, ["index", "path", "given_label", "decision", "corrected_label"],
                 [(row["index"], row["path"], row["given_label"], "relabel", "2")])  # index 2: the class named '3'
    rc, _, err = cli("apply-review", tmp_path / "run", dec, "--out", tmp_path / "fix")
    assert rc == 0, err
    with open(tmp_path / "fix" / "corrected_labels.csv", newline="") as fh:
        written = list(csv.DictReader(fh))
    assert "class_index" in written[0] and "label" not in written[0]
    rc, _, err = cli("train", *common, "--labels", tmp_path / "fix" / "corrected_labels.csv",
                     "--out", tmp_path / "again")
    assert rc == 0, err
    with open(tmp_path / "again" / "label_issues.csv", newline="") as fh:
        again = {r["index"]: r for r in csv.DictReader(fh)}
    assert again[row["index"]]["given_name"] == "3"
    assert all(r["given_name"] == Path(r["path"]).parent.name for i, r in again.items() if i != row["index"])
