"""Every number read from a user's file or flag, property-based: sample and class indices of keyed label
files, exclude files and review decisions, label files (.npy of any dtype and shape, .csv cells), the
labels and probabilities given to ``detect``, numeric values of a ``--config`` YAML and the numeric flags
of ``train``. One strategy of number texts (``strategies.NUMBER_TEXTS``) feeds every reader.

The property: the input is refused with one line (a UserError), or accepted as exactly the value it
means (a finite whole number in range lands unchanged; probabilities are the ones given, rows scaled to
sum to 1)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import noisylabels.app.encoder_detect  # noqa: F401 - bound to the real detect_to_folder before a test patches it
import noisylabels.issues as issues_module
from noisylabels.app.build import noisy_training_labels
from noisylabels.config import TRAIN_DEFAULTS, RunConfig, check_config
from noisylabels.data.keyed import held_out
from noisylabels.data.noise import load_label_file
from noisylabels.data.sources import load_run_splits
from noisylabels.errors import UserError
from noisylabels.issues import checked_features, load_array, validate_predictions
from noisylabels.review.apply import LabelSpace, read_decisions
from noisylabels.review.exclude import read_exclude_file
from noisylabels.runs import load_yaml_file
from tests.helpers import FAST, Reached, cli
from tests.hostile.strategies import (FEW, NUMBER_TEXTS, ODD_NUMBERS, PROPERTY, assert_one_line, count,
                                      meant_index, meant_literal, meant_number, refused)

CLASSES = ["cat", "dog", "emu"]


def _write(path: Path, header: list[str] | None, rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if header:
            w.writerow(header)
        w.writerows(rows)
    return path


def _label_meant(text: str, names: list[str], numbers: bool) -> int | None:
    """The class a label cell means: a whole number (every cell of the file a number), else a class name."""
    return meant_index(text) if numbers else (names.index(text.strip()) if text.strip() in names else None)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- keyed label files and exclude files ---------------------------------------------------------------
def _keyed_npz_labels(tmp_path: Path, rows: list[list]) -> tuple[bool, object]:
    """``train --labels`` on ``rows`` (index, label) for a 6-image npz with its own test split: (refused,
    the labels or the error line)."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 255, (6, 4, 4), dtype=np.uint8), labels=np.arange(6) % 2,
             test_images=rng.integers(0, 255, (2, 4, 4), dtype=np.uint8), test_labels=np.arange(2))
    cfg = {**TRAIN_DEFAULTS, "dataset": f"npz:{tmp_path / 'd.npz'}",
           "labels": str(_write(tmp_path / "l.csv", ["index", "label"], rows))}
    check_config(cfg)
    splits = load_run_splits(cfg)
    return refused(lambda: noisy_training_labels(cfg, splits.train, held_out(splits))[0])


def check_keyed_index(tmp_path: Path, cell: str) -> None:
    """The index cell of sample 0 in a keyed labels file: refused, or sample 0 gets its label."""
    no, noisy = _keyed_npz_labels(tmp_path, [[cell, 1]] + [[i, 0] for i in range(1, 6)])
    assert no or (meant_index(cell) == 0 and noisy.tolist() == [1, 0, 0, 0, 0, 0]), cell


def check_keyed_label(tmp_path: Path, label: str) -> None:
    """The label cell of sample 0 in a keyed labels file: refused, or exactly the class index it means."""
    no, noisy = _keyed_npz_labels(tmp_path, [[0, label]] + [[i, i % 2] for i in range(1, 6)])
    assert no or (meant_index(label) in (0, 1) and noisy.tolist() == [meant_index(label), 1, 0, 1, 0, 1]), label


def check_exclude_file(tmp_path: Path, cells: list[str], header: bool) -> None:
    """An exclude file of ``cells`` (one a line, under an 'index' header or none): refused, or exactly the
    indices written (blank lines are no entries; a first line that is no number is a header)."""
    _write(tmp_path / "x.csv", ["index"] if header else None, [[c] for c in cells])
    no, got = refused(lambda: read_exclude_file(tmp_path / "x.csv"))
    if no:
        return
    listed = [c for c in cells if c.strip()]
    if not header and listed and not _is_number(listed[0]):
        listed = listed[1:]
    assert got[0].tolist() == sorted({meant_index(c) for c in listed}), cells


@PROPERTY
@given(cell=NUMBER_TEXTS)
def test_every_index_read_from_a_keyed_file_is_checked(tmp_path, cell):
    check_keyed_index(tmp_path, cell)


@PROPERTY
@given(label=NUMBER_TEXTS)
def test_every_label_read_from_a_keyed_file_is_checked(tmp_path, label):
    check_keyed_label(tmp_path, label)


@PROPERTY
@given(cells=st.lists(NUMBER_TEXTS, min_size=1, max_size=4), header=st.booleans())
def test_every_index_of_an_exclude_file_is_checked(tmp_path, cells, header):
    check_exclude_file(tmp_path, cells, header)


# -- review decisions ------------------------------------------------------------------------------------
SPACE = LabelSpace(labels=np.array([0, 1, 2, 0, 1, 2]), source_index=np.array([3, 4, 5, 6, 7, 8]),
                   excluded=np.zeros(0, dtype=np.int64), class_names=CLASSES, paths=None, config=None)


def check_decision(tmp_path: Path, index: str, given_label: str, corrected: str, decision: str) -> None:
    """One row of review_decisions.csv beside a good one: refused, or its sample, its decision and its
    corrected label exactly as written (a class index first, else a class name: the review page writes
    indices), and a given_label that is the run's."""
    file = _write(tmp_path / "review_decisions.csv", ["index", "path", "given_label", "decision", "corrected_label"],
                  [[4, "", 1, "keep", 1], [index, "", given_label, decision, corrected]])
    no, got = refused(lambda: read_decisions(file, SPACE))
    if no:
        return
    idx = meant_index(index)
    assert idx is not None and idx in SPACE.source_index.tolist() and idx != 4 and set(got) == {4, idx}, index
    given_meant = meant_index(given_label) if _is_number(given_label) else \
        (CLASSES.index(given_label.strip()) if given_label.strip() in CLASSES else None)
    assert not given_label.strip() or given_meant == SPACE.labels[SPACE.source_index.tolist().index(idx)], given_label
    kind, label = got[idx]
    assert kind == decision.strip().lower()
    if kind == "relabel":
        text, number = corrected.strip(), meant_index(corrected)
        meant = number if number is not None and number < 3 else CLASSES.index(text) if text in CLASSES else None
        assert label == meant, corrected


@PROPERTY
@given(index=NUMBER_TEXTS | st.sampled_from(["3", "8", "5.0", "٤"]), given_label=NUMBER_TEXTS | st.just(""),
       corrected=NUMBER_TEXTS | st.sampled_from(CLASSES + [" dog ", "Dog", "2", "2.0", "٢"]),
       decision=st.sampled_from(["relabel", "exclude", "Relabel", " keep ", "delete"]))
def test_every_number_of_a_review_decisions_file_is_checked(tmp_path, index, given_label, corrected, decision):
    check_decision(tmp_path, index, given_label, corrected, decision)


# -- label files -------------------------------------------------------------------------------------------
ANY_DTYPE = st.one_of(hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(), hnp.floating_dtypes(),
                      hnp.boolean_dtypes(), hnp.complex_number_dtypes(), hnp.datetime64_dtypes(),
                      hnp.timedelta64_dtypes(), hnp.byte_string_dtypes(max_len=4))
NUMERIC_ARRAYS = hnp.arrays(ANY_DTYPE, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
SMALL_LABELS = hnp.arrays(st.one_of(hnp.integer_dtypes(), hnp.floating_dtypes()), hnp.array_shapes(max_dims=2),
                          elements=st.integers(-1, 4))
TEXT_ARRAYS = st.lists(NUMBER_TEXTS | st.sampled_from(CLASSES + [" emu", "Cat"]), min_size=1, max_size=6).map(np.array)


def _meant_labels(values: np.ndarray) -> list[int | None]:
    """What each entry of a label array means as a class index of CLASSES (None: no class)."""
    flat = values.reshape(-1)
    if flat.dtype.kind in "US":
        texts = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat.tolist()]
        numbers = all(_is_number(t) for t in texts)
        return [_label_meant(t, CLASSES, numbers) for t in texts]
    if flat.dtype.kind not in "iuf":
        return [None] * flat.size  # booleans, complex numbers, dates: no class index
    exact = [Decimal(v) if np.isfinite(v) else None for v in flat.tolist()]
    return [int(d) if d is not None and d == d.to_integral_value() and 0 <= d < 3 else None for d in exact]


def check_npy_labels(tmp_path: Path, values: np.ndarray) -> None:
    """A .npy label file holding ``values``: refused, or one class index per entry, each the one meant."""
    np.save(tmp_path / "l.npy", values)
    one_column = values.ndim == 1 or (values.ndim == 2 and 1 in values.shape)
    n = values.size if one_column and values.size else 3
    no, got = refused(lambda: load_label_file(str(tmp_path / "l.npy"), n=n, num_classes=3, class_names=CLASSES))
    if not no:
        assert got.dtype == np.int64 and got.tolist() == _meant_labels(values), values


def check_csv_labels(tmp_path: Path, cells: list[str], header: bool) -> None:
    """A one-column .csv label file: refused, or one class index per cell, each the one meant."""
    _write(tmp_path / "l.csv", ["label"] if header else None, [[c] for c in cells])
    no, got = refused(lambda: load_label_file(str(tmp_path / "l.csv"), n=len(cells), num_classes=3,
                                              class_names=CLASSES))
    if not no:
        numbers = all(_is_number(c) for c in cells)
        assert got.tolist() == [_label_meant(c, CLASSES, numbers) for c in cells], cells


@PROPERTY
@given(values=st.one_of(NUMERIC_ARRAYS, SMALL_LABELS, TEXT_ARRAYS))
def test_every_label_of_a_npy_file_is_checked(tmp_path, values):
    check_npy_labels(tmp_path, values)


@PROPERTY
@given(cells=st.lists(NUMBER_TEXTS | st.sampled_from(CLASSES + [" dog", "Emu"]), min_size=1, max_size=6),
       header=st.booleans())
def test_every_label_of_a_csv_file_is_checked(tmp_path, cells, header):
    check_csv_labels(tmp_path, cells, header)


# -- detect: given labels and predicted probabilities -------------------------------------------------
@st.composite
def predictions(draw) -> tuple[np.ndarray, np.ndarray]:
    """(labels, pred_probs): often well-formed (N, C) softmax rows and labels in range, else anything."""
    n, c = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    label_dtype = draw(st.one_of(hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(), hnp.floating_dtypes(),
                                 hnp.boolean_dtypes()))
    in_range = st.booleans() if label_dtype.kind == "b" else st.integers(0, c - 1)
    labels = draw(st.one_of(hnp.arrays(label_dtype, n, elements=in_range),
                            hnp.arrays(label_dtype, draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=6)))))
    weights = draw(hnp.arrays(np.float64, (n, c), elements=st.floats(0.01, 10)))
    scaled = weights / weights.sum(1, keepdims=True) * draw(st.sampled_from([1.0, 1.005, 0.98, 2.0, -1.0]))
    prob_dtype = draw(hnp.floating_dtypes())
    probs = draw(st.one_of(st.just(scaled.astype(prob_dtype)),
                           hnp.arrays(prob_dtype, (n, c)),
                           hnp.arrays(prob_dtype, draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=5)))))
    return labels, probs


def _accepted_as_given(labels: np.ndarray, probs: np.ndarray, got: tuple[np.ndarray, np.ndarray]) -> None:
    """The labels exactly as given and in range; probabilities finite, non-negative, rows summing to 1
    within 1e-2 and returned scaled to sum to 1, nothing else changed."""
    out_labels, out_probs = got
    wide = np.asarray(probs, dtype=np.float64)
    given = np.asarray(labels)
    given = given.reshape(-1) if given.ndim == 2 and 1 in given.shape else given  # a single column or row: one label each
    assert out_labels.dtype == np.int64 and [Decimal(v) for v in given.tolist()] == out_labels.tolist()
    assert out_probs.shape == wide.shape and out_probs.shape[1] >= 2 and 0 <= out_labels.min()
    assert out_labels.max() < wide.shape[1]
    assert np.all(np.isfinite(wide)) and wide.min() >= 0 and np.all(np.abs(wide.sum(1) - 1) <= 1e-2)
    np.testing.assert_array_equal(out_probs, wide / wide.sum(1, keepdims=True))


@PROPERTY
@given(pair=predictions())
def test_every_prediction_given_to_detect_is_checked(pair):
    labels, probs = pair
    no, got = refused(lambda: validate_predictions(labels, probs))
    if not no:
        _accepted_as_given(labels, probs, got)


EMBEDDING_DTYPES = st.sampled_from(["<U3", "S2", "complex64", "bool", "float16", "float32", "int8", "uint64",
                                    "datetime64[s]"]).map(np.dtype)


@PROPERTY
@given(features=st.one_of(hnp.arrays(EMBEDDING_DTYPES, st.tuples(st.sampled_from([6, 6, 5]), st.integers(1, 3))),
                          hnp.arrays(EMBEDDING_DTYPES, hnp.array_shapes(max_dims=3, max_side=6))))
def test_every_embedding_given_to_detect_is_checked(features):
    """Embeddings of any dtype and shape beside 6 good labels and probabilities: refused with one line, or
    real, finite numbers, one row per label."""
    no, got = refused(lambda: checked_features(features, 6))
    if not no:
        assert features.dtype.kind in "iuf" and features.shape[0] == 6 and features.ndim == 2
        assert np.all(np.isfinite(features))


def _save(path: Path, values: np.ndarray, form: str) -> Path:
    """``values`` as .npy, or as a CSV (repr of every number; with Excel's BOM, or every cell quoted)."""
    if form == "npy":
        np.save(path.with_suffix(".npy"), values)
        return path.with_suffix(".npy")
    rows = values.reshape(len(values), -1).tolist() if values.ndim else [[values.item()]]
    text = "".join(",".join(f'"{v!r}"' if form == "quoted" else repr(v) for v in row) + "\n" for row in rows)
    path.with_suffix(".csv").write_text(("\ufeff" if form == "bom" else "") + text, encoding="utf-8")
    return path.with_suffix(".csv")


@FEW
@given(pair=predictions(), form=st.sampled_from(["npy", "csv", "bom", "quoted"]))
def test_every_file_given_to_detect_is_read_as_written(tmp_path, monkeypatch, pair, form):
    """``detect --labels --pred-probs`` end to end up to the detector: files as numpy or a spreadsheet
    writes them, read back value for value (a CSV's labels are whole numbers written as floats)."""
    labels, probs = pair
    if form != "npy" and (labels.ndim != 1 or probs.ndim != 2 or labels.dtype.kind == "b" or not len(labels)):
        return  # a CSV holds rows of numbers: other shapes and words are the npy cases' and the CSV cells'

    def stop(out, labels, probs, **kwargs):
        raise Reached(validate_predictions(labels, probs))

    monkeypatch.setattr(issues_module, "detect_to_folder", stop)
    argv = ["detect", "--labels", _save(tmp_path / "l", labels, form), "--pred-probs",
            _save(tmp_path / "p", probs, form), "--out", tmp_path / "d"]
    try:
        rc, _, err = cli(*argv)
        count("refused")
    except Reached as e:
        count("accepted")
        wide_labels = labels if form == "npy" else labels.astype(np.float64).astype(np.int64)
        assert form == "npy" or np.array_equal(labels.astype(np.float64), wide_labels)
        _accepted_as_given(wide_labels, probs.astype(np.float64) if form != "npy" else probs, e.args[0])
        return
    assert rc == 2 and err.startswith("noisylabels: error:"), err
    assert_one_line(err.strip())


def check_detect_cell(tmp_path: Path, text: str) -> None:
    """A cell of a CSV given to detect: refused, or read as the number float() reads (finite or not: the
    checks of the predictions follow)."""
    (tmp_path / "a.csv").write_text(f"0.25,0.75\n{text},0.5\n", encoding="utf-8")
    no, got = refused(lambda: load_array(str(tmp_path / "a.csv"), "pred-probs"))
    if not no:
        assert got.shape == (2, 2) and got[0].tolist() == [0.25, 0.75], text
        assert np.isnan(got[1, 0]) and np.isnan(float(text)) or got[1, 0] == float(text), text


@PROPERTY
@given(text=NUMBER_TEXTS)
def test_every_cell_of_a_csv_given_to_detect_is_a_number_or_refused(tmp_path, text):
    check_detect_cell(tmp_path, text)


@pytest.mark.parametrize("text, where", [
    ("0.25,0.75\n0.5,abc\n", "line 2, column 2: abc is not a number"),
    ("0.25,0.75\n\n0.5\n", "line 3 has 1 cells where the first row has 2"),
    ("0.25,0.75\n0,5;0,5\n", "line 2 has 3 cells"),
    ("p0;p1\n0.25;0.75\n", "separated by semicolons"),
])
def test_a_csv_that_is_not_a_table_of_numbers_is_refused_with_its_line(tmp_path, text, where):
    """A non-number cell or a row of another width: one line naming the line (and column) and the fix."""
    (tmp_path / "a.csv").write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as e:
        load_array(str(tmp_path / "a.csv"), "pred-probs")
    assert where in str(e.value) and "\n" not in str(e.value), str(e.value)


# -- --config YAML and flags ---------------------------------------------------------------------------
INT_KEYS = {"epochs": (1, None), "batch_size": (2, None), "seed": (0, 2**32 - 1), "width": (1, 1024),
            "train_size": (1, None), "image_size": (8, 4096), "crop_pad": (0, None), "epoch_samples": (2, None)}
FLOAT_KEYS = {"lr": (0, None), "momentum": (0, 1), "weight_decay": (0, None), "lr_warmup_epochs": (0, None),
              "final_lr_ratio": (0, 1), "test_fraction": (0, 1), "noise_rate": (0, 1)}
NULLS = ("", "~", "null", "Null", "NULL")
NULLABLE = ("width", "train_size", "image_size", "crop_pad", "epoch_samples")  # unset: the default
def _plain(text: str) -> bool:
    """Whether ``text`` is one plain YAML scalar as written (no quotes, comments, flow or block syntax)."""
    return bool(text) and all(ch.isalnum() or ch in "+-._:" for ch in text)


PLAIN = NUMBER_TEXTS.map(str.strip).filter(_plain)


def _in_range(value: float, span: tuple[float, float | None]) -> bool:
    low, high = span
    return value >= low and (high is None or value <= high)


def _accepted_as_meant(key: str, text: str, value: object, *, plain: bool = False) -> None:
    """A configuration value accepted from ``text``: the number it means, of its key's type, in range; or
    no value (the default) where a plain YAML null left the option unset."""
    if value is None:
        assert plain and text in NULLS and key in NULLABLE, (key, text)
        return
    meant = meant_literal(text)
    assert meant is not None, (text, value)
    if key in INT_KEYS:
        assert type(value) is int and value == meant and _in_range(value, INT_KEYS[key]), (text, value)
    else:
        assert type(value) is float and value == float(meant) and _in_range(value, FLOAT_KEYS[key]), (text, value)


YAML_VALUES = st.one_of(st.tuples(PLAIN | st.sampled_from(NULLS), st.just(True)), st.tuples(NUMBER_TEXTS, st.just(False)))


@PROPERTY
@given(key=st.sampled_from(sorted(INT_KEYS) + sorted(FLOAT_KEYS)), value=YAML_VALUES)
def test_every_number_of_a_yaml_config_is_checked(tmp_path, key, value):
    """A value of --config as YAML text (a plain scalar as a person types it, or any text quoted): read by
    the one YAML reader, then checked by the one configuration check."""
    check_yaml_value(tmp_path, key, *value)


def check_yaml_value(tmp_path: Path, key: str, text: str, plain: bool) -> None:
    """``key: text`` in a --config file, ``text`` plain or quoted: refused, or the number meant."""
    body = f"{key}: {text}\n" if plain else yaml.safe_dump({key: text}, allow_unicode=True)
    (tmp_path / "c.yaml").write_text(body, encoding="utf-8")
    extra = {"noise": "symmetric"} if key == "noise_rate" else {}
    extra.update({"epochs": 10**6} if key == "lr_warmup_epochs" else {})

    def read() -> object:
        loaded = load_yaml_file(tmp_path / "c.yaml", "--config")
        return getattr(RunConfig.from_dict({"dataset": "digits", **extra, **loaded}), key)

    no, got = refused(read)
    if not no:
        _accepted_as_meant(key, text, got, plain=plain)


@PROPERTY
@given(key=PLAIN | st.sampled_from(["temperature", "Temperature", "~", "null", "true", "1", "'temperature'"]),
       value=YAML_VALUES)
def test_every_method_option_of_a_yaml_config_is_checked(tmp_path, key, value):
    """``method_options: {KEY: VALUE}`` for simclr: refused with one line (a key that is no option, a number
    or null included), or its temperature is exactly the number meant (null: the default)."""
    text, plain = value
    scalar = text if plain else yaml.safe_dump(text, allow_unicode=True).removesuffix("\n...\n").strip()
    (tmp_path / "c.yaml").write_text(f"method: simclr\nmethod_options:\n  {key}: {scalar}\n", encoding="utf-8")

    def read() -> object:
        loaded = load_yaml_file(tmp_path / "c.yaml", "--config")
        return RunConfig.from_dict({"dataset": "digits", **loaded}).method_options["temperature"]

    no, got = refused(read)
    if not no:
        assert key.strip("'") == "temperature", key
        meant = 0.5 if plain and text in NULLS else meant_literal(text)
        assert meant is not None and got == float(meant) and got > 0, (text, got)


FLAGS = ["epochs", "batch_size", "seed", "width", "crop_pad", "lr", "momentum", "weight_decay", "lr_warmup_epochs",
         "final_lr_ratio", "noise_rate"]


@FEW
@given(key=st.sampled_from(FLAGS), text=NUMBER_TEXTS)
def test_every_numeric_flag_of_train_is_checked(attempt_train, tmp_path_factory, key, text):
    """``train --FLAG=TEXT`` (the '=' form: argparse takes '-1e5' after a space for a flag): refused with
    one line, or the run's saved config.yaml holds exactly the number meant."""
    check_flag(attempt_train, tmp_path_factory.mktemp("run") / "r", key, text)


def check_flag(attempt_train, out: Path, key: str, text: str) -> None:
    """``train --KEY=TEXT``: refused with nothing written, or config.yaml holds exactly the number meant."""
    noise = ["--noise", "symmetric"] + ([] if key == "noise_rate" else ["--noise-rate", "0.1"])
    warmup = ["--epochs", "1000000"] if key == "lr_warmup_epochs" else []
    got = attempt_train("train", "--dataset", "digits", *FAST, *noise, *warmup, f"--{key.replace('_', '-')}={text}",
                        "--out", out)
    count("refused" if isinstance(got, str) else "accepted")
    if isinstance(got, str):
        assert not (out / "config.yaml").exists()
        return
    _accepted_as_meant(key, text, yaml.safe_load((out / "config.yaml").read_text())[key])


# -- the known hostile numbers, each through every reader ---------------------------------------------
READERS = {
    "keyed-index": check_keyed_index,
    "keyed-label": check_keyed_label,
    "exclude-file": lambda tmp, text: check_exclude_file(tmp, [text, "2"], False),
    "decision-index": lambda tmp, text: check_decision(tmp, text, "", "emu", "relabel"),
    "decision-given-label": lambda tmp, text: check_decision(tmp, "5", text, "emu", "relabel"),
    "decision-corrected-label": lambda tmp, text: check_decision(tmp, "5", "2", text, "relabel"),
    "npy-label-text": lambda tmp, text: check_npy_labels(tmp, np.array([text, "1"])),
    "csv-label": lambda tmp, text: check_csv_labels(tmp, [text, "1"], True),
    "detect-csv-cell": check_detect_cell,
    **{f"yaml-{key}-{form}": (lambda tmp, text, key=key, plain=form == "plain": check_yaml_value(
        tmp, key, text.strip() if plain else text, plain)) for key in ("epochs", "seed", "lr", "momentum")
       for form in ("plain", "quoted")},
}


@pytest.mark.parametrize("reader", list(READERS))
def test_every_known_hostile_number_through_every_reader(tmp_path, reader):
    """Every number of ``strategies.ODD_NUMBERS`` once through each reader (the properties draw from them
    at random; this sweep makes sure that none is missed)."""
    for k, text in enumerate(ODD_NUMBERS):
        if reader.endswith("plain") and not _plain(text.strip()):
            continue  # YAML syntax, not a plain number: the quoted form covers it
        folder = tmp_path / str(k)
        folder.mkdir()
        READERS[reader](folder, text)


@pytest.mark.parametrize("key", ["epochs", "lr"])
def test_every_known_hostile_number_as_a_flag(attempt_train, tmp_path, key):
    for k, text in enumerate(ODD_NUMBERS):
        check_flag(attempt_train, tmp_path / str(k), key, text)


def test_the_suite_reads_every_kind_of_number():
    """The strategies reach the readers they are meant for (a guard against a filter that empties them)."""
    assert meant_index("٣") == 3 and meant_index("7.0") == 7 and meant_index("1.0000000000000001") is None
    assert meant_literal("017") == 17 and meant_literal("0x10") == 16 and meant_number("nan") is None
    with pytest.raises(AssertionError):
        assert_one_line("two\u2028lines")


@FEW
@given(exponent=st.integers(-40, 300), seed=st.integers(0, 3))
@example(exponent=-13, seed=0).via("norms below torch's normalize eps 1e-12")
@example(exponent=-7, seed=1).via("just below FEATURE_NORMS' floor")
@example(exponent=-5, seed=2).via("just above FEATURE_NORMS' floor")
@example(exponent=16, seed=3).via("just above FEATURE_NORMS' ceiling")
@example(exponent=-40, seed=0).via("float32 subnormals")
@example(exponent=300, seed=0).via("far past float32's range")
def test_features_mean_their_directions_at_any_scale(exponent, seed):
    """Embeddings are compared by direction: scaled by 10^-40 .. 10^300 (far past float32's 3.4e38, where a cast
    would give inf and a NaN ranking; below torch's normalize eps 1e-12, where dividing by the eps would shrink
    them), they flag and rank as the unscaled ones do, with and without pred_probs."""
    from noisylabels.issues import detect_issues, feature_vote_probs

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, 90)
    feats = rng.normal(size=(90, 6)) + 2.0 * np.eye(3, 6)[labels]
    probs = rng.dirichlet([1, 1, 1], 90)
    scaled = feats * 10.0 ** exponent
    if not np.all(np.isfinite(scaled)) or not np.all(np.abs(scaled[feats != 0]) > 0):
        return
    for p in (probs, feature_vote_probs(labels, feats, k=5)[0]):
        a = detect_issues(labels, p, features=feats)
        b = detect_issues(labels, p, features=scaled)
        assert np.array_equal(a.flags, b.flags) and np.allclose(a.quality, b.quality, atol=1e-6)
    assert np.allclose(feature_vote_probs(labels, feats, k=5)[0], feature_vote_probs(labels, scaled, k=5)[0])


def test_features_alone_refuse_a_class_index_beyond_the_samples():
    """The votes are (N, C) with C = the largest label + 1: a typo'd 999999 among 200 labels is refused, not a
    terabyte allocation."""
    from noisylabels.issues import feature_vote_probs

    labels = np.arange(200) % 3
    labels[0] = 999_999
    with pytest.raises(UserError, match="more classes than samples"):
        feature_vote_probs(labels, np.ones((200, 4)), k=5)
