"""The Python API: the README's Python blocks run as written, and find_label_issues is detect's detector."""

import re

import numpy as np
import pytest

import noisylabels
from noisylabels.errors import UserError
from noisylabels.issues import detect_issues
from tests.helpers import ROOT


def test_the_readmes_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_find_label_issues_is_detects_detector_with_cleanlabs_columns():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 400)
    probs = rng.dirichlet(np.ones(4) * 0.3, 400)
    probs[np.arange(400), labels] += 1
    probs /= probs.sum(1, keepdims=True)
    report = noisylabels.find_label_issues(labels, probs)
    same = detect_issues(labels, probs)
    assert np.array_equal(report.is_label_issue, same.flags) and np.allclose(report.label_quality, same.quality)
    frame = report.to_frame()
    assert list(frame.columns)[:4] == ["is_label_issue", "label_quality", "given_label", "predicted_label"]
    assert len(frame) == 400 and report.evidence.provenance == "out-of-sample"
    features = np.eye(4)[labels] + rng.normal(0, 0.1, (400, 4))
    assert noisylabels.find_label_issues(labels, features=features, k=10).pred_probs.shape == (400, 4)


@pytest.mark.parametrize("kwargs, needle", [
    ({}, "needs pred_probs, features or both"),
    ({"pred_probs": np.full((3, 2), 0.5)}, "pred_probs has 3 rows"),
    ({"features": np.zeros((4, 2)), "k": 0}, "k (neighbours) must be at least 1"),
    ({"features": np.zeros((4, 2)), "k": 4}, "below the 4 samples"),
    ({"features": np.zeros((4, 2)), "in_sample": True}, "in_sample describes pred_probs"),
])
def test_bad_arguments_name_the_parameter(kwargs, needle):
    with pytest.raises(UserError) as e:
        noisylabels.find_label_issues(np.array([0, 1, 0, 1]), **kwargs)
    assert needle in str(e.value) and "--" not in str(e.value)


def test_train_load_run_and_predict_from_python(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (120, 8, 8), dtype=np.uint8)
    labels = np.repeat(np.arange(3), 40)
    images[labels == 1, :4] = 255  # learnable classes
    images[labels == 2, 4:] = 0
    run = noisylabels.train((images, labels), epochs=2, out=tmp_path / "run", width=4, batch_size=16)
    assert run.noise_rate_actual == 0.0 and run.class_names == ["0", "1", "2"]  # no noise added to the given labels
    issues = run.label_issues()
    assert len(issues) == 108 and issues[0]["label_quality"] <= issues[-1]["label_quality"]
    probs = run.predict(images)
    assert probs.shape == (120, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.allclose(run.predict(np.repeat(images[..., None], 3, -1)), probs, atol=1e-5)  # RGB -> the run's grey
    again = noisylabels.load_run(tmp_path / "run")
    assert again.num_flagged == run.num_flagged and again.test_accuracy == run.test_accuracy
    (tmp_path / "run" / "label_issues.csv").write_bytes(b"\xff\xfe not a table")  # damaged: one clear error
    with pytest.raises(UserError, match="label_issues.csv"):
        again.label_issues()


@pytest.mark.parametrize("kwargs, needle", [
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"batchsize": 8}, "no option(s) batchsize"),
    ({"noise": "symmetric", "noise_rate": 2.0}, "noise_rate must be"),
    ({"method": "nope"}, "unknown method"),
])
def test_train_errors_name_parameters_and_write_nothing(tmp_path, kwargs, needle):
    with pytest.raises(UserError) as e:
        noisylabels.train("digits", out=tmp_path / "run", **kwargs)
    assert needle in str(e.value) and "--" not in str(e.value) and not (tmp_path / "run").exists()


def test_train_refuses_a_folder_holding_a_run_before_writing(tmp_path, earlier_run):
    from tests.helpers import snapshot

    run, before = earlier_run
    with pytest.raises(UserError, match="already holds a run"):
        noisylabels.train((np.zeros((10, 8, 8), np.uint8), np.arange(10) % 2), out=run)
    assert snapshot(run) == before


def test_make_noisy_labels_and_losses_by_name():
    y = np.repeat(np.arange(4), 50)
    noisy = noisylabels.make_noisy_labels(y, "symmetric", 0.5, seed=3)
    assert np.array_equal(noisy, noisylabels.make_noisy_labels(y, "symmetric", 0.5, seed=3))
    assert 0.3 < np.mean(noisy != y) < 0.55
    with pytest.raises(UserError, match=r"^rate must be"):
        noisylabels.make_noisy_labels(y, "symmetric", 1.5)
    import torch

    logits, targets = torch.randn(6, 4), torch.arange(6) % 4
    assert noisylabels.get_loss("gce")(logits, targets, q=0.7).ndim == 0
    with pytest.raises(UserError, match="unknown loss"):
        noisylabels.get_loss("nope")
    assert "tcl" in noisylabels.METHODS


def test_on_cleanlabs_own_example_arrays_the_frame_has_cleanlabs_columns():
    """The arrays of cleanlab's own examples (its noise generation: a noise matrix of trace 2.5 over 3 classes,
    noisy labels drawn from it, out-of-sample probabilities); CleanLearning.find_label_issues' columns."""
    pytest.importorskip("cleanlab")
    from cleanlab.benchmarking.noise_generation import generate_noise_matrix_from_trace, generate_noisy_labels
    from cleanlab.classification import CleanLearning

    rng = np.random.default_rng(0)
    true = np.repeat(np.arange(3), 200)
    nm = generate_noise_matrix_from_trace(3, 2.5, py=np.full(3, 1 / 3), valid_noise_matrix=True, seed=0)
    np.random.seed(0)
    noisy = generate_noisy_labels(true, nm)
    probs = rng.dirichlet(np.ones(3), 600)
    probs[np.arange(600), true] += 1.5
    probs /= probs.sum(1, keepdims=True)
    ours = noisylabels.find_label_issues(noisy, probs).to_frame()
    theirs = CleanLearning().find_label_issues(labels=noisy, pred_probs=probs)
    assert list(ours.columns)[:len(theirs.columns)] == list(theirs.columns)
    assert (ours["given_label"] == theirs["given_label"]).all() and (ours["predicted_label"] == theirs["predicted_label"]).all()


def test_load_run_refuses_a_missing_or_damaged_run_with_one_line(tmp_path):
    with pytest.raises(UserError, match="no finished run"):
        noisylabels.load_run(tmp_path)
    for damage in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        (tmp_path / "summary.json").write_bytes(damage)
        with pytest.raises(UserError, match="damaged") as e:
            noisylabels.load_run(tmp_path)
        assert "\n" not in str(e.value)
