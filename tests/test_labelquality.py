"""The confident-learning detector: thresholds, the calibrated joint, anchor flag counts and suggestions."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from noisylabels import labelquality as lq


def test_thresholds_and_normalised_probs_by_hand():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.5, 0.5], [0.3, 0.7]])
    t = lq.class_thresholds(labels, probs)
    assert t == pytest.approx([0.7, 0.6])
    q = lq.normalised_probs(labels, probs)
    row = np.array([0.5 / 0.7, 0.5 / 0.6])
    assert q[2] == pytest.approx(row / row.sum())


def test_confident_joint_by_hand():
    labels = np.array([0, 0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9], [0.4, 0.6]])
    # t0 = (0.9 + 0.8 + 0.2) / 3 = 0.633, t1 = 0.75: sample 2 (labelled 0) reaches only t1 -> (0, 1);
    # sample 4 reaches neither threshold and is not counted; row 1 is rescaled from 1 to 2 samples
    cj = lq.confident_joint(labels, probs)
    assert cj == pytest.approx(np.array([[2.0, 1.0], [0.0, 2.0]]))
    assert list(lq.issue_counts(labels, probs)) == [1, 0]
    assert lq.noise_prior(labels, probs) == pytest.approx(0.2)


def _class_conditional(n=3000, c=5, rate=0.4, seed=0):
    """Class 0's images look like class 1's; 40% of class 0 is labelled 1. The model has learned the
    noisy labels' confusion: p(1 | a class-0 image) is high whatever its given label."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, c, n)
    given = true.copy()
    moved = (true == 0) & (rng.random(n) < rate)
    given[moved] = 1
    logits = rng.normal(0, 1.0, (n, c))
    logits[np.arange(n), true] += 3.0
    logits[true == 0, 1] += 2.6  # the model's confusion between the look-alikes
    p = np.exp(logits)
    return given, true, p / p.sum(1, keepdims=True)


def test_class_normalised_quality_ranks_class_conditional_noise_better_than_self_confidence():
    given, true, probs = _class_conditional()
    noisy = given != true
    raw = probs[np.arange(len(given)), given]
    issues = lq.find_issues(given, probs)
    assert roc_auc_score(noisy, -issues.quality) > roc_auc_score(noisy, -raw) + 0.01
    assert average_precision_score(noisy, -issues.quality) > average_precision_score(noisy, -raw) + 0.05
    assert 0.0 <= issues.quality.min() and issues.quality.max() <= 1.0
    assert 0.5 < issues.flags.sum() / noisy.sum() < 1.5
    flagged = issues.flags & noisy
    assert np.all(issues.suggested[issues.flags] != given[issues.flags])
    assert np.mean(issues.suggested[flagged] == true[flagged]) > 0.9


def test_clean_confident_predictions_get_almost_no_flags():
    rng = np.random.default_rng(1)
    n, c = 2000, 4
    labels = rng.integers(0, c, n)
    logits = rng.normal(0, 0.5, (n, c))
    logits[np.arange(n), labels] += 5.0
    p = np.exp(logits)
    issues = lq.find_issues(labels, p / p.sum(1, keepdims=True))
    assert issues.flags.mean() < 0.02


def test_flags_follow_the_per_class_counts_and_lowest_quality():
    labels = np.array([0, 0, 0, 1, 1])
    quality = np.array([0.9, 0.1, 0.5, 0.2, 0.3])
    assert list(lq.flag_lowest(labels, quality, np.array([2, 0]))) == [False, True, True, False, False]


def test_class_summary_counts_pairs():
    given, true, probs = _class_conditional()
    issues = lq.find_issues(given, probs)
    s = lq.class_summary(given, issues, [f"c{k}" for k in range(5)])
    assert s["confused_pairs"][0]["given_name"] == "c1" and s["confused_pairs"][0]["suggested_name"] == "c0"
    assert sum(c["flagged"] for c in s["per_class"]) == issues.flags.sum()
    assert s["per_class"][1]["noise_rate_estimated"] > 0.1 > s["per_class"][3]["noise_rate_estimated"]


def test_anchor_transition_and_counts_by_hand():
    # class 0: 10 samples, 2 of them labelled 1; class 1: 10 samples, all labelled 1
    true = np.repeat([0, 1], 10)
    labels = true.copy()
    labels[[0, 1]] = 1
    probs = np.where(true[:, None] == np.arange(2), 0.9, 0.1)
    probs[:, 0] += np.linspace(0.01, 0, 20)  # p_0 falls with the index: samples 0 and 1 lead class 0
    t = lq.anchor_transition(labels, probs, share=1.0)
    # anchors: class 0, 8 samples (8 labelled 0) -> samples 0-7, two labelled 1; class 1, 12 samples
    # (12 labelled 1) -> the 10 of class 1 and, by index among the ties at 0.1, samples 0 and 1
    assert t == pytest.approx(np.array([[0.75, 0.25], [0.0, 1.0]]))
    # pi T = (0.4, 0.6) -> pi = (0.533, 0.467); wrong labels given 1: 20 * 0.533 * 0.25 = 2.67
    assert lq.anchor_issue_counts(labels, probs, share=1.0) == pytest.approx([0.0, 8 / 3])


def test_anchor_count_follows_the_wrong_labels_where_the_confident_joint_over_counts():
    """Two look-alike classes that the model confuses on 30% of their (correct) labels: the confident
    joint counts that confusion as wrong labels; the anchors (the most confident samples of each class)
    are correctly labelled, so the clean data gets almost no flags, and 10% of a third class moved to
    a fourth is counted near its true size."""
    rng = np.random.default_rng(2)
    n, c = 6000, 5
    true = rng.integers(0, c, n)
    logits = rng.normal(0, 0.5, (n, c))
    logits[np.arange(n), true] += 4.0
    confused = np.isin(true, [0, 1]) & (rng.random(n) < 0.3)
    logits[confused, 1 - true[confused]] += 5.0  # the model prefers the look-alike
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    clean = lq.find_issues(true, p)
    assert lq.noise_prior(true, p) > 0.05  # the confident joint's count
    assert clean.flags.mean() < 0.02
    given = true.copy()
    moved = (true == 2) & (rng.random(n) < 0.1)
    given[moved] = 3
    noisy = lq.find_issues(given, p)
    assert 0.7 < noisy.flags.sum() / moved.sum() < 1.3
    assert np.mean(noisy.flags[moved]) > 0.8
