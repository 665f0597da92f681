"""CSV files as pandas and spreadsheets write them by default: a header of column numbers, an unnamed row-index
column, a column nobody named as a key. Every reader of labels and numbers either reads each row as the sample it
describes or refuses in one line; a header is never a sample and an ignored column never reorders labels."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import FAST, cli, user_error

N = 60


def _write(path: Path, header: list[str] | None, rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        if header is not None:
            w.writerow(header)
        w.writerows(rows)
    return path


def _arrays(classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, classes, N), rng.dirichlet(np.ones(classes), N)


@pytest.mark.parametrize("classes", [2, 3])
def test_pandas_default_headers_are_never_samples(tmp_path, classes):
    """pandas' Series.to_csv(index=False) writes '0' above the labels and DataFrame.to_csv(index=False) '0,1,...'
    above the probabilities: the probabilities' header is a header; the labels' '0' cannot be told from a label,
    so the counts differ by one and the refusal says why."""
    labels, probs = _arrays(classes)
    y = _write(tmp_path / "y.csv", ["0"], [[v] for v in labels])
    p = _write(tmp_path / "p.csv", [str(j) for j in range(classes)], probs.tolist())
    line = user_error(["detect", "--labels", y, "--pred-probs", p, "--out", tmp_path / "d"], "header")
    assert f"there are {N + 1} labels" in line and not (tmp_path / "d").exists()
    named = _write(tmp_path / "named.csv", ["label"], [[v] for v in labels])
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", labels)
    assert cli("detect", "--labels", named, "--pred-probs", p, "--out", tmp_path / "a")[0] == 0
    assert cli("detect", "--labels", tmp_path / "y.npy", "--pred-probs", tmp_path / "p.npy",
               "--out", tmp_path / "b")[0] == 0
    assert (tmp_path / "a" / "label_issues.csv").read_bytes() == (tmp_path / "b" / "label_issues.csv").read_bytes()


def test_whole_number_rows_under_a_column_number_header_stay_data(tmp_path):
    """A one-hot file written with integers: its first row '0,1' is a sample, not a header."""
    labels = np.array([1, 0] * (N // 2))
    onehot = np.eye(2, dtype=int)[labels]
    onehot[0] = [0, 1]
    p = _write(tmp_path / "p.csv", None, onehot.tolist())
    np.save(tmp_path / "y.npy", labels)
    rc, out, err = cli("detect", "--labels", tmp_path / "y.npy", "--pred-probs", p, "--out", tmp_path / "d")
    assert rc == 0, err
    assert f"of {N} labels" in out


@pytest.mark.parametrize("flag", ["--labels", "--pred-probs", "--features"])
def test_a_row_index_column_pandas_wrote_is_refused(tmp_path, flag):
    labels, probs = _arrays()
    np.save(tmp_path / "y.npy", labels)
    np.save(tmp_path / "p.npy", probs)
    values = {"--labels": [[v] for v in labels], "--pred-probs": probs.tolist(), "--features": probs.tolist()}[flag]
    width = len(values[0])
    indexed = _write(tmp_path / "x.csv", ["", *[str(j) for j in range(width)]], [[i, *r] for i, r in enumerate(values)])
    given = {"--labels": tmp_path / "y.npy", "--pred-probs": tmp_path / "p.npy", flag: indexed}
    argv = ["detect", *[a for k, v in given.items() for a in (k, v)], "--out", tmp_path / "d"]
    user_error(argv, "index=False")


@pytest.mark.parametrize("header", [["", "label"], ["file", "label"], ["label", "notes"], ["id", "noisy_label"],
                                    ["Unnamed: 0", "label"]])
def test_train_labels_with_a_column_that_is_no_key_are_refused(tmp_path, header):
    """A labels file sorted by label with pandas' unnamed index (or a column named anything but path or index)
    would be read in row order: refused, naming the column."""
    rows = sorted(([i, i % 10] for i in range(1797)), key=lambda r: r[1])
    if header[0] == "label":
        rows = [[r[1], "x"] for r in rows]
    f = _write(tmp_path / "l.csv", header, rows)
    line = user_error(["train", "--dataset", "digits", *FAST, "--labels", f, "--out", tmp_path / "r"],
                      "beside its labels")
    assert "index_label='index'" in line and not (tmp_path / "r").exists()


def test_keyed_label_errors_name_the_files_own_line(tmp_path):
    """Blank rows and quoted line breaks count: the line a refusal names is the line an editor shows."""
    f = tmp_path / "l.csv"
    f.write_text('index,label\n\n\n0,1\n\n"5",x\n"0\n",2\n')
    line = user_error(["train", "--dataset", "digits", *FAST, "--labels", f, "--out", tmp_path / "r"], "line 8")
    assert "appears twice" in line
