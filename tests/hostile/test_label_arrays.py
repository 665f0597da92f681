"""Every place a user hands labels over as an array (``detect --labels`` and ``--true-labels``, the Python
API's ``find_label_issues``, ``--noise file:``) reads it with one rule: any dtype and shape a user might
save, accepted exactly as meant (a column or a row is one label per sample; whole floats are class
indices; booleans are not) or refused in one line; never a traceback, never a rounded or reshaped label."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from noisylabels import find_label_issues
from noisylabels.data.keyed import MAX_CLASS_INDEX, label_vector
from noisylabels.errors import UserError
from tests.helpers import cli
from tests.hostile.strategies import PROPERTY, assert_one_line, refused

DTYPES = st.sampled_from(["int8", "int64", "uint8", "uint64", "float16", "float32", "float64", "bool", "complex64",
                          "<U3", "S3", "datetime64[s]"])
SHAPES = st.sampled_from([(5,), (5, 1), (1, 5), (5, 2), (), (1, 1), (0,), (2, 2, 1)])


@st.composite
def label_arrays(draw) -> np.ndarray:
    dtype, shape = np.dtype(draw(DTYPES)), draw(SHAPES)
    if dtype.kind in "US":
        cells = st.sampled_from(["0", "1", "2", " 3", "1.5", "cat", "", "٣", "nan"])
        texts = draw(st.lists(cells, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        if dtype.kind == "S":
            return np.array([t.encode("utf-8") for t in texts], dtype="S6").reshape(shape)
        return np.array(texts, dtype=dtype).reshape(shape)
    if dtype.kind == "M":
        return np.zeros(shape, dtype=dtype)
    return draw(hnp.arrays(dtype, shape))


def meant(values: np.ndarray) -> np.ndarray | None:
    """The labels an array means, or None where it means none: one label per sample, each a whole number."""
    if values.ndim == 2 and 1 in values.shape:
        values = values.reshape(-1)
    if values.dtype.kind == "S":  # bytes are UTF-8 text
        values = np.char.decode(values, "utf-8")
    if values.ndim != 1 or values.dtype.kind in "cM":
        return None
    if values.size == 0:  # no label (the callers refuse an empty set)
        return np.zeros(0, dtype=np.int64)
    if values.dtype.kind == "b":
        return None
    if values.dtype.kind == "U":
        texts = [v.strip() for v in values.tolist()]
        ok = all(t.lstrip("-").isascii() and t.lstrip("-").isdigit() or t == "٣" for t in texts)
        return meant(np.array([3 if t == "٣" else int(t) for t in texts], dtype=np.int64)) if ok else None
    if values.dtype.kind == "f":
        if not (np.all(np.isfinite(values)) and np.all(values == np.round(values))):
            return None
    if values.size and np.abs(values.astype(np.float64)).max() > MAX_CLASS_INDEX:
        return None  # a typo, no class index
    return values.astype(np.int64)


@PROPERTY
@given(label_arrays())
def test_a_label_array_is_read_as_meant_or_refused_in_one_line(values):
    rejected, got = refused(lambda: label_vector(values, "labels"))
    want = meant(values)
    if rejected:
        assert want is None, (values, got)
    else:
        assert want is not None and got.dtype == np.int64 and np.array_equal(got, want), (values, got, want)


def _files(tmp_path, labels: np.ndarray):
    probs = np.full((len(labels.reshape(-1)), 3), 0.1)
    probs[np.arange(len(probs)), np.arange(len(probs)) % 3] = 0.8
    np.save(tmp_path / "l.npy", labels)
    np.save(tmp_path / "p.npy", probs)
    return probs


@pytest.mark.parametrize("labels", [np.arange(6)[:, None] % 3, (np.arange(6)[None] % 3).astype(np.uint8),
                                    (np.arange(6) % 3).astype(np.float32)], ids=["column", "row", "whole-floats"])
def test_detect_flags_and_the_api_read_labels_alike(tmp_path, labels):
    """The same array as --labels, as --true-labels and through the Python API: one meaning."""
    probs = _files(tmp_path, labels)
    flat = labels.reshape(-1).astype(np.int64)
    rc, out, err = cli("detect", "--labels", tmp_path / "l.npy", "--pred-probs", tmp_path / "p.npy",
                       "--true-labels", tmp_path / "l.npy", "--out", tmp_path / "d")
    assert rc == 0, err
    rows = (tmp_path / "d" / "label_issues.csv").read_text().splitlines()[1:]
    given = {int(r.split(",")[0]): int(r.split(",")[1]) for r in rows}
    assert [given[i] for i in range(len(flat))] == flat.tolist()
    report = find_label_issues(labels, probs)
    assert len(report.is_label_issue) == len(flat)


@pytest.mark.parametrize("flag", ["--labels", "--true-labels"])
@pytest.mark.parametrize("bad, needle", [(np.array(["cat", "dog", "cat", "dog", "cat", "dog"]), "class names"),
                                         (np.arange(12).reshape(6, 2) % 3, "one label per sample"),
                                         (np.full(6, 1.5), "non-integer")])
def test_detect_refuses_what_names_no_label_in_one_line(tmp_path, flag, bad, needle):
    _files(tmp_path, np.arange(6) % 3)
    np.save(tmp_path / "bad.npy", bad)
    args = {"--labels": tmp_path / "l.npy", "--pred-probs": tmp_path / "p.npy", flag: tmp_path / "bad.npy"}
    rc, out, err = cli("detect", *[x for kv in args.items() for x in kv], "--out", tmp_path / "d")
    assert rc == 2 and needle in err and "Traceback" not in err, err
    assert_one_line(err.strip())


def test_the_api_refuses_what_names_no_label():
    with pytest.raises(UserError, match="class names"):
        find_label_issues(np.array(["a", "b"] * 3), np.full((6, 2), 0.5))
