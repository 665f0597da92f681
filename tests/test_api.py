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
    assert list(frame.columns)[:4] == ["is_label_issue", "label_score", "given_label", "predicted_label"]
    assert len(frame) == 400 and report.evidence.provenance == "out-of-sample"
    features = np.eye(4)[labels] + rng.normal(0, 0.1, (400, 4))
    assert noisylabels.find_label_issues(labels, features=features, k=10).pred_probs.shape == (400, 4)


@pytest.mark.parametrize("kwargs, needle", [
    ({}, "needs pred_probs, features or both"),
    ({"pred_probs": np.full((3, 2), 0.5)}, "pred_probs has 3 rows"),
    ({"features": np.zeros((4, 2)), "k": 0}, "k (neighbours) must be at least 1"),
    ({"features": np.zeros((4, 2)), "in_sample": True}, "in_sample describes pred_probs"),
])
def test_bad_arguments_name_the_parameter(kwargs, needle):
    with pytest.raises(UserError) as e:
        noisylabels.find_label_issues(np.array([0, 1, 0, 1]), **kwargs)
    assert needle in str(e.value) and "--" not in str(e.value)
