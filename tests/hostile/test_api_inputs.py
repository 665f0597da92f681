"""What a Python user hands the API (pandas objects, tensors, masked arrays, lists, wrong types) is read as meant
or refused with a one-line UserError naming the parameter: never a row paired with another sample's, a class
column read as another class, a masked value used, an image shape guessed, or predictions silently lost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import noisylabels as nl
from noisylabels.errors import UserError
from tests.hostile.strategies import assert_one_line

RNG = np.random.default_rng(0)
P = RNG.dirichlet([1, 1, 1], 60)
Y = RNG.integers(0, 3, 60)
FRAME = pd.DataFrame(P)


def _refused(call, needle: str) -> None:
    with pytest.raises(UserError) as e:
        call()
    assert_one_line(str(e.value))
    assert needle in str(e.value), str(e.value)


@pytest.mark.parametrize("call, needle", [
    (lambda: nl.find_label_issues(Y, FRAME[[2, 0, 1]]), "not the class indices 0..C-1 in order"),
    (lambda: nl.find_label_issues(pd.Series(Y).sample(frac=1, random_state=0), FRAME), "different indexes"),
    (lambda: nl.find_label_issues(Y, P, in_sample="no"), "in_sample must be True or False"),
    (lambda: nl.find_label_issues(Y, features=P, k="5"), "k (neighbours) must be a whole number"),
    (lambda: nl.find_label_issues(Y, np.ma.masked_array(P, mask=P < 0.01)), "masked entries"),
    (lambda: nl.find_label_issues([0, 1], [[0.5, 0.5], [1.0]]), "not an array of equal rows"),
    (lambda: nl.make_noisy_labels(np.ma.masked_array([0, 1, 0, 1], mask=[1, 0, 0, 0]), "symmetric", 0.0), "masked"),
    (lambda: nl.make_noisy_labels(Y, "symmetric", 0.3, seed=None), "seed must be a whole number"),
    (lambda: nl.make_noisy_labels(Y, "symmetric", 0.3, seed=1.5), "seed must be a whole number"),
    (lambda: nl.make_noisy_labels(Y, "symmetric", 0.3, seed=-1), "seed must be a whole number"),
    (lambda: nl.make_noisy_labels(Y[:20], "instance", 0.3, images=np.zeros((20, 8, 8))), "must be uint8 images"),
    (lambda: nl.load_run(None), "load_run needs a run folder's path"),
])
def test_api_inputs_are_refused_in_one_line(call, needle):
    _refused(call, needle)


def test_aligned_pandas_and_tensors_read_as_the_arrays_they_hold():
    base = nl.find_label_issues(Y, P)
    for labels, probs in ((pd.Series(Y), FRAME), (torch.tensor(Y), torch.tensor(P, requires_grad=True)),
                          (list(Y), P.tolist())):
        got = nl.find_label_issues(labels, probs)
        assert np.array_equal(got.is_label_issue, base.is_label_issue)
    half = nl.find_label_issues(Y, torch.tensor(P).bfloat16())  # widened, not refused
    assert half.is_label_issue.shape == (60,)
    for labels, probs in ((pd.Series(Y, dtype="Int64"), FRAME.astype("Float64")),
                          (pd.Series(Y.astype(str), dtype="string"), P), (pd.Series(Y).astype("category"), P)):
        assert np.array_equal(nl.find_label_issues(labels, probs).is_label_issue, base.is_label_issue)
    _refused(lambda: nl.find_label_issues(pd.Series(Y, dtype="Int64").mask(pd.Series(range(60)) == 3), P), "missing")


def test_make_noisy_labels_reads_labels_as_find_label_issues_does():
    assert nl.make_noisy_labels(["0", "2", "1"], "symmetric", 0.0).tolist() == [0, 2, 1]
    assert nl.make_noisy_labels([0.0, 2.0], "symmetric", 0.0).tolist() == [0, 2]
    _refused(lambda: nl.make_noisy_labels([True, False], "symmetric", 0.0), "bool")


@pytest.fixture
def run(digits_run_template: Path):
    return nl.load_run(digits_run_template)


@pytest.mark.parametrize("images, kwargs, needle", [
    (np.zeros((8, 8, 1), np.uint8), {}, "one image (H, W, C) or 8 images"),
    (np.zeros((3, 8, 8), np.uint8), {"batch_size": -1}, "batch_size must be a whole number"),
    (np.zeros((3, 8, 8), np.uint8), {"batch_size": 0}, "batch_size must be a whole number"),
    (np.zeros((3, 1, 8, 8), np.uint8), {}, "with C 1 or 3"),
    (np.zeros((2, 0, 0), np.uint8), {}, "sides of at least 1 pixel"),
    ("no-such-image.png", {}, "not found"),
    ("", {}, "no images named"),
])
def test_predict_refuses_what_it_would_misread(run, images, kwargs, needle):
    _refused(lambda: run.predict(images, **kwargs), needle)


def test_predict_of_no_image_has_a_column_per_class(run):
    assert run.predict(np.zeros((0, 8, 8), np.uint8)).shape == (0, len(run.class_names))


def test_a_failed_train_call_leaves_nothing_behind(tmp_path):
    x, y = np.zeros((40, 8, 8), np.uint8), np.arange(40) % 2
    _refused(lambda: nl.train((x, y[:-1]), epochs=1, out=tmp_path / "new"), "label")
    assert not (tmp_path / "new").exists()
    _refused(lambda: nl.train({"images": x, "labels": y, "tst_images": x}, epochs=1, out=tmp_path / "k"), "tst_images")
    assert not (tmp_path / "k").exists()
