"""The confident-learning detector: thresholds, the calibrated joint, anchor flag counts and suggestions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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
    issues = lq.find_issues(given, probs, provenance="in-sample")
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
    issues = lq.find_issues(labels, p / p.sum(1, keepdims=True), provenance="in-sample")
    assert issues.flags.mean() < 0.02


def test_flags_follow_the_per_class_counts_and_lowest_quality():
    labels = np.array([0, 0, 0, 1, 1])
    quality = np.array([0.9, 0.1, 0.5, 0.2, 0.3])
    assert list(lq.flag_lowest(labels, quality, np.array([2, 0]))) == [False, True, True, False, False]


def test_class_summary_counts_pairs():
    given, true, probs = _class_conditional()
    issues = lq.find_issues(given, probs, provenance="in-sample")
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
    clean = lq.find_issues(true, p, provenance="in-sample")
    assert lq.noise_prior(true, p) > 0.05  # the confident joint's count
    assert clean.flags.mean() < 0.02
    given = true.copy()
    moved = (true == 2) & (rng.random(n) < 0.1)
    given[moved] = 3
    noisy = lq.find_issues(given, p, provenance="in-sample")
    assert 0.7 < noisy.flags.sum() / moved.sum() < 1.3
    assert np.mean(noisy.flags[moved]) > 0.8


def _held_out(n_per=1000, c=3, seed=0):
    """Clean labels, confident out-of-sample predictions."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(c), n_per)
    logits = rng.normal(0, 0.5, (len(labels), c))
    logits[np.arange(len(labels)), labels] += 4.0
    p = np.exp(logits)
    return labels, p / p.sum(1, keepdims=True)


def test_out_of_sample_count_is_at_most_the_geometric_mean_of_the_two_counts():
    labels, p = _held_out()
    rng = np.random.default_rng(3)
    given = labels.copy()
    moved = rng.random(len(given)) < 0.1
    given[moved] = (given[moved] + 1) % 3
    issues = lq.find_issues(given, p, provenance="out-of-sample")
    ev = issues.evidence
    expected = np.sqrt(lq.confident_joint_count(given, p) * lq.disagreement_count(given, lq.normalised_probs(given, p)))
    assert issues.flags.sum() <= int(round(expected)) - ev.unseparated
    assert ev.provenance == "out-of-sample" and set(ev.estimates) == {"confident_joint", "disagreement"}
    assert 0.9 < issues.flags.sum() / moved.sum() < 1.1 and np.mean(issues.flags[moved]) > 0.9
    # out-of-sample rows rank by self-confidence, cleanlab's default score
    np.testing.assert_allclose(issues.quality, p[np.arange(len(given)), given])
    assert not ev.warnings


def test_a_sample_claimed_by_two_pairs_is_one_flag():
    """Class 0 holds 15 images of class 1 and 15 of class 2 among 200: given 40 flags, pairs (0, 1) and
    (0, 2) claim 20 each, the 5 beyond each pair's own 15 being the other pair's images: 30 distinct."""
    labels = np.repeat([0, 1, 2], 200)
    p = np.tile([0.02, 0.02, 0.02], (600, 1))
    p[np.arange(600), labels] = 0.96
    p[:15] = [0.01, 0.97, 0.02]
    p[15:30] = [0.01, 0.02, 0.97]
    np.testing.assert_array_equal(lq.pair_claimed_counts(labels, p, np.array([40, 0, 0])), [30, 0, 0])
    np.testing.assert_array_equal(lq.pair_claimed_counts(labels, p, np.array([30, 0, 0])), [30, 0, 0])
    np.testing.assert_array_equal(lq.pair_claimed_counts(labels, p, np.array([20, 3, 0])), [20, 3, 0])
    issues = lq.find_issues(labels, p, provenance="out-of-sample")
    assert set(np.flatnonzero(issues.flags)) == set(range(30))


def test_given_label_posterior_by_hand_and_against_the_margin():
    """Joint (rows given, columns true): class 0 takes 99 wrong labels from class 1 and none from class 2.
    Two rows labelled 0 with the same margin, one that looks like class 1 and one like class 2: the
    class-normalised quality cannot tell them apart, the posterior doubts only the first."""
    joint = np.array([[900.0, 99.0, 0.0], [0.0, 1000.0, 0.0], [0.0, 0.0, 1000.0]])
    q = np.array([[0.3, 0.7, 0.0], [0.3, 0.0, 0.7], [1.0, 0.0, 0.0]])
    labels = np.zeros(3, dtype=np.int64)
    post = lq.given_label_posterior(labels, q, joint)
    t = (joint + 1.0) / (joint + 1.0).sum(0)  # t[k, j] = P(given k | true j), Laplace's rule
    assert post[0] == pytest.approx(t[0, 0] * 0.3 / (t[0, 0] * 0.3 + t[0, 1] * 0.7))
    assert post[1] == pytest.approx(t[0, 0] * 0.3 / (t[0, 0] * 0.3 + t[0, 2] * 0.7))
    assert post[0] < 0.9 < 0.99 < post[1] and post[2] == pytest.approx(1.0)
    assert lq.label_quality(labels, q)[0] == pytest.approx(lq.label_quality(labels, q)[1])
    np.testing.assert_array_equal(lq.flag_lowest(labels, post, np.array([1, 0, 0])), [True, False, False])


def test_each_class_is_filled_from_the_classes_that_send_it_wrong_labels():
    """Class 0 holds 100 images of class 1 (confidently so: the joint counts them) and 100 hard images of
    class 0 that the model takes for class 2 short of class 2's threshold (the joint does not count them),
    with less confidence in their own label. At 100 flags the class-normalised quality takes hard images;
    the posterior takes exactly the images of class 1."""
    labels = np.repeat([0, 1, 2], 1000)
    p = np.tile([0.05, 0.05, 0.05], (3000, 1))
    p[np.arange(3000), labels] = 0.9
    p[:100] = [0.06, 0.92, 0.02]
    p[100:200] = [0.03, 0.1, 0.87]
    joint = lq.confident_joint(labels, p)
    assert joint[0, 1] > 100 and joint[0, 2] == 0
    q = lq.normalised_probs(labels, p)
    counts = np.array([100, 0, 0])
    by_posterior = lq.flag_lowest(labels, lq.given_label_posterior(labels, q, joint), counts)
    np.testing.assert_array_equal(np.flatnonzero(by_posterior), np.arange(100))
    assert lq.flag_lowest(labels, lq.label_quality(labels, p), counts)[100:200].all()


def test_a_pair_of_classes_the_model_cannot_separate_gets_no_flags():
    """Classes 0 and 1 predicted near 0.5 / 0.5 whatever their (clean) label: no evidence for either label,
    so none of them is flagged, in-sample or out-of-sample; class 2 keeps its single wrong label."""
    rng = np.random.default_rng(4)
    labels = np.repeat([0, 1, 2], 1000)
    p = np.zeros((3000, 3))
    p[:2000, :2] = 0.5 + rng.normal(0, 0.05, (2000, 1)) * np.array([1, -1])
    p[:2000, 2] = 0.001
    p[2000:] = [0.01, 0.01, 0.98]
    p /= p.sum(1, keepdims=True)
    for provenance in lq.PROVENANCES:
        issues = lq.find_issues(labels, p, provenance=provenance)
        assert issues.flags[:2000].sum() == 0, provenance
    assert lq.pair_separation_z(labels, p, 0, 1) < lq.SEPARATION_Z < lq.pair_separation_z(labels, p, 0, 2)


def test_labels_of_one_class_predicted_as_another_are_flagged():
    """Every given label in class 0; 40 of 60 rows predicted as class 1 (which no label uses) at 0.67-0.96."""
    labels = np.zeros(60, dtype=np.int64)
    p = np.full((60, 3), 0.02)
    p[:20, 0] = 0.96
    p[20:, 1] = np.linspace(0.67, 0.96, 40)
    p[20:, 0] = 1 - p[20:, 1] - 0.02
    p /= p.sum(1, keepdims=True)
    issues = lq.find_issues(labels, p, provenance="out-of-sample")
    assert set(np.flatnonzero(issues.flags)) == set(range(20, 60))
    assert np.all(issues.suggested[20:] == 1)


def test_warnings_say_when_the_count_cannot_be_trusted():
    labels, p = _held_out(seed=5)
    fit = lq.find_issues(labels, p, provenance="in-sample")
    assert any("lower bound" in w for w in fit.evidence.warnings)  # a model that fit its labels in-sample
    weak = np.full_like(p, 1 / 3) + np.random.default_rng(6).normal(0, 0.02, p.shape)
    weak = weak.clip(0.01) / weak.clip(0.01).sum(1, keepdims=True)
    w = lq.find_issues(labels, weak, provenance="out-of-sample").evidence
    assert any("too weak" in x for x in w.warnings) and w.as_dict()["count_uncertain"]


def test_held_out_accuracy_says_when_a_model_that_fit_its_labels_is_weak():
    """In-sample agreement of 0.74 (labels partly fit) with 4% flagged says nothing; held-out accuracy of 0.67
    leaves 29% of new images wrong beyond the flags: the "too weak" line, in-sample only, said once."""
    ev = lq.CountEvidence("in-sample", {"anchor": 10.0}, 0.74, 0, ())
    weak = ev.with_held_out(0.67, 0.04)
    assert len(weak.warnings) == 1 and "held-out" in weak.warnings[0] and weak.as_dict()["count_uncertain"]
    assert weak.with_held_out(0.67, 0.04) == weak  # the same line is not added twice
    for accuracy in (0.9, 0.74, None, float("nan"), float("inf")):  # a strong model, none, or no number
        assert ev.with_held_out(accuracy, 0.04) == ev
    assert ev.with_held_out(0.67, 0.10) == ev  # 23% beyond the flags: under the line
    already = lq.CountEvidence("in-sample", {"anchor": 10.0}, 0.6, 0, ("the model predicts only 60.0% ...",))
    assert already.with_held_out(0.5, 0.04) == already  # the in-sample line has said it
    oos = lq.CountEvidence("out-of-sample", {"confident_joint": 1.0, "disagreement": 1.0}, 0.74, 0, ())
    assert oos.with_held_out(0.5, 0.04) == oos  # out-of-sample agreement is held-out already


def _unsure_third_class(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of 100, 10 labels of each class moved to the next class; the model is sure of class 0
    and of half of class 1 (0.90-0.95 on the true class), and confuses the rest of class 1 with class 2
    both ways (about 0.5 on each): its best examples of class 2 are half class 1."""
    true = np.repeat([0, 1, 2], 100)
    labels = true.copy()
    for c in range(3):
        moved = rng.choice(np.flatnonzero(true == c), 10, replace=False)
        labels[moved] = (c + 1) % 3
    p = np.full((300, 3), 0.025)
    p[np.arange(300), true] = rng.uniform(0.9, 0.95, 300)
    confused = np.concatenate([rng.choice(np.arange(100, 200), 50, replace=False), np.arange(200, 300)])
    p[confused, 0] = 0.05
    p[confused, 1] = rng.uniform(0.4, 0.5, len(confused))
    p[confused, 2] = 1 - p[confused, 0] - p[confused, 1]
    return labels, p / p.sum(1, keepdims=True)


def test_a_class_whose_anchors_the_model_is_unsure_of_takes_the_other_classes_noise_rate(monkeypatch):
    """Its anchors' given labels are the model's confusions as much as wrong labels: the row of T falls back
    to the mean noise rate of the sure rows, its off-diagonal proportions kept; the warning names the class."""
    labels, p = _unsure_third_class(np.random.default_rng(0))
    assert lq.unsure_classes(labels, p).tolist() == [2]
    t = lq.anchor_transition(labels, p)
    assert t[2, 1] > 0.3  # class 2's anchors: many labelled 1, the model's confusion, not wrong labels
    issues = lq.find_issues(labels, p, provenance="in-sample")
    assert issues.evidence.unsure == (2,)
    assert any("too weak" in w and "'shirt'" in w for w in issues.evidence.as_dict(["a", "b", "shirt"])["count_warnings"])
    sure_rate = 1 - np.mean(np.diag(t)[:2])
    fallback = lq.anchor_issue_counts(labels, p).sum()
    assert fallback == pytest.approx(300 * sure_rate, rel=0.1)
    monkeypatch.setattr(lq, "UNSURE_ANCHORS", 0.0)  # without the guard: the confusions counted as wrong labels
    assert abs(fallback - 30) < abs(lq.anchor_issue_counts(labels, p).sum() - 30) / 2  # 30 were moved
    monkeypatch.undo()
    every = np.full_like(p, 1 / 3)  # every class unsure alike: no class stands out, nothing changes
    assert lq.unsure_classes(labels, every).size == 0


def test_provenance_is_required_and_checked():
    labels, p = _held_out(n_per=10)
    with pytest.raises(ValueError, match="provenance"):
        lq.find_issues(labels, p, provenance="both")


def test_agreed_probs_is_the_normalised_geometric_mean_of_two_models():
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(4), 50), rng.dirichlet(np.ones(4), 50)
    g = lq.agreed_probs(p, q)
    assert np.allclose(g.sum(1), 1) and np.allclose(g, lq.agreed_probs(q, p))
    assert np.allclose(lq.agreed_probs(p, p), p)  # a model agrees with itself
    assert np.allclose(g[0] * np.sqrt(p[0] * q[0]).sum(), np.sqrt(p[0] * q[0]))
    disjoint = lq.agreed_probs(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))  # no class both give mass
    assert np.allclose(disjoint, 0.5)


def test_count_probs_count_the_in_sample_flags_and_leave_the_ranking():
    """``count_probs``: their anchors count the flags and name the unsure classes; quality, suggestions
    and agreement stay those of ``probs``. The same probabilities change nothing; out-of-sample refuses."""
    labels, p = _unsure_third_class(np.random.default_rng(0))
    base = lq.find_issues(labels, p, provenance="in-sample")
    same = lq.find_issues(labels, p, provenance="in-sample", count_probs=p)
    assert np.array_equal(same.flags, base.flags) and same.evidence == base.evidence
    other = np.random.default_rng(1).dirichlet(np.ones(3), len(labels)) * 0.3 + p * 0.7
    counted = lq.find_issues(labels, p, provenance="in-sample", count_probs=other)
    assert counted.evidence.estimates["anchor"] == pytest.approx(lq.anchor_issue_counts(labels, other).sum())
    assert counted.evidence.unsure == tuple(lq.unsure_classes(labels, other).tolist())
    both = counted.flags == base.flags  # a suggestion is the best other class on a flagged row
    assert np.array_equal(counted.quality, base.quality) and np.array_equal(counted.suggested[both], base.suggested[both])
    assert counted.evidence.agreement == base.evidence.agreement
    with pytest.raises(ValueError, match="count_probs"):
        lq.find_issues(labels, p, provenance="out-of-sample", count_probs=p)
    with pytest.raises(ValueError, match="count_probs"):
        lq.find_issues(labels, p, provenance="in-sample", count_probs=p[:, :2])


def test_joint_shares_spread_the_total_by_the_joints_off_diagonal_rows():
    joint = np.array([[90.0, 6.0, 4.0], [0.0, 100.0, 0.0], [10.0, 0.0, 90.0]])
    np.testing.assert_array_equal(lq.joint_shares(joint, 40.0), [20, 0, 20])
    np.testing.assert_array_equal(lq.joint_shares(np.diag([5.0, 5.0]), 7.0), [0, 0])


def _uniform_flips(n_per=1000, c=10, rate=0.2, seed=0):
    """K-fold probabilities (N, C) of a strong model on ``rate`` uniform flips: a right label at p_y ~0.9,
    a flipped one at ~0.01 (its true class at ~0.9), and 10% of the right labels the model's own mistakes,
    p_y ~0.4 with another class at 0.5: the confident joint and the disagreements count them too."""
    rng = np.random.default_rng(seed)
    n = n_per * c
    true = np.repeat(np.arange(c), n_per)
    given = true.copy()
    flip = rng.random(n) < rate
    given[flip] = (true[flip] + rng.integers(1, c, flip.sum())) % c
    mistake = ~flip & (rng.random(n) < 0.1)
    top = np.where(flip, true, (given + rng.integers(1, c, n)) % c)  # the class the model prefers over a label
    p_y = np.clip(np.where(flip, rng.normal(0.01, 0.004, n), np.where(mistake, rng.normal(0.4, 0.03, n),
                                                                     rng.normal(0.9, 0.04, n))), 0.002, 0.97)
    p_top = np.where(flip, 0.9, np.where(mistake, 0.5, 0.0))
    p = rng.dirichlet(np.ones(c), n) * 0.05
    p[np.arange(n), given] = 0.0
    p[np.arange(n), top] = 0.0
    p *= ((1 - p_y - p_top) / p.sum(1))[:, None]
    p[np.arange(n), given] = p_y
    p[np.arange(n), top] += p_top
    return given, true, p / p.sum(1, keepdims=True)


def _ceiling(labels, p):
    """The mixture's ceiling, None where there is no mixture or it does not split right from wrong labels."""
    m = lq.confidence_mixture(labels, p)
    return None if m is None else m.ceiling


def test_mixture_count_reads_the_flipped_labels_mode_and_abstains_without_two_modes():
    given, true, p = _uniform_flips()
    m = _ceiling(given, p)
    assert m is not None and 0.8 < m / np.sum(given != true) < 1.25
    assert _ceiling(given, np.full_like(p, 1.0 / p.shape[1])) is None  # constant: nothing to separate
    clean, p_clean = _held_out()  # clean labels: both components give the labels better than even odds
    assert _ceiling(clean, p_clean) is None


def test_out_of_sample_flags_are_capped_at_the_mixture_count():
    """Both count estimates take in the model's diffuse mistakes; the flags stop at the mixture's count."""
    given, true, p = _uniform_flips()
    issues = lq.find_issues(given, p, provenance="out-of-sample")
    ev = issues.evidence
    geo = np.sqrt(ev.estimates["confident_joint"] * ev.estimates["disagreement"])
    assert ev.ceiling is not None and issues.flags.sum() <= ev.ceiling < geo
    assert ev.as_dict()["count_ceiling"] == ev.ceiling
    wrong = given != true
    f1 = 2 * np.sum(issues.flags & wrong) / (issues.flags.sum() + wrong.sum())
    assert f1 > 0.9


def test_a_pair_the_model_ranks_the_wrong_way_round_keeps_its_flags():
    """Classes 0 and 1 separated by the model, but 70% of each one's labels are the other class: the
    Mann-Whitney z is strongly negative, the model does separate them, and the swapped labels are flagged
    (a one-sided test would call the pair unseparated and drop every flag)."""
    rng = np.random.default_rng(5)
    true = np.repeat([0, 1, 2], 1000)
    given = true.copy()
    swap = (true < 2) & (rng.random(3000) < 0.7)
    given[swap] = 1 - true[swap]
    p = np.full((3000, 3), 0.05)
    p[np.arange(3000), true] = 0.9
    assert lq.pair_separation_z(given, p, 0, 1) < -lq.SEPARATION_Z
    issues = lq.find_issues(given, p, provenance="out-of-sample")
    assert issues.evidence.unseparated == 0 and np.mean(issues.flags[swap]) > 0.5


def test_a_model_that_doubts_most_labels_says_so():
    """K-fold probabilities that give every label less than even odds, half near 0.4 and half near 0.05 (a
    weak model on mostly wrong labels): the mixture has no mode of believed labels, the ceiling abstains,
    and the report says the count is a guess; a strong model's flips get no such line."""
    rng = np.random.default_rng(6)
    labels = np.repeat(np.arange(4), 500)
    p_y = np.where(rng.random(2000) < 0.5, rng.normal(0.4, 0.03, 2000), rng.normal(0.05, 0.01, 2000))
    p = np.tile((1.0 - p_y)[:, None] / 3, (1, 4))
    p[np.arange(2000), labels] = p_y
    m = lq.confidence_mixture(labels, p)
    assert m is not None and m.most_doubted and m.ceiling is None
    ev = lq.find_issues(labels, p, provenance="out-of-sample").evidence
    assert ev.ceiling is None and any("less than even odds" in w for w in ev.warnings)
    given, _, p_strong = _uniform_flips()
    strong = lq.find_issues(given, p_strong, provenance="out-of-sample").evidence
    assert not any("even odds" in w for w in strong.warnings)


@given(k=st.sampled_from([1, 5, 10, 25, 50]), rate=st.sampled_from([0.1, 0.2, 0.3]), pair=st.booleans(),
       seed=st.integers(0, 2**16))
@settings(max_examples=12, deadline=None, derandomize=True)
def test_discrete_probabilities_do_not_collapse_the_count(k, rate, pair, seed):
    """K-fold probabilities that take a few values, with exact 0s and 1s (a k-NN vote over k neighbours, k = 1
    being hard one-hot predictions; a forest's likewise): a mixture component sits on one clipped logit and says
    nothing of the labels, so it neither caps nor doubts; the flags stay near the wrong labels."""
    rng = np.random.default_rng(seed)
    true = np.repeat(np.arange(5), 300)
    given_ = true.copy()
    moved = rng.random(1500) < rate
    given_[moved] = (true[moved] + (1 if pair else rng.integers(1, 5, moved.sum()))) % 5
    votes = np.stack([rng.multinomial(k, np.where(np.arange(5) == t, 0.9, 0.025)) for t in true])
    p = votes / k
    m = lq.confidence_mixture(given_, p)
    assert m is None or not m.point_mass or (m.ceiling is None and not m.most_doubted)
    issues = lq.find_issues(given_, p, provenance="out-of-sample")
    # hard predictions (k = 1) cannot tell the model's mistakes from wrong labels: at most every disagreement
    ratio = issues.flags.sum() / moved.sum()
    assert 0.67 < ratio and (ratio < 1.5 if k > 1 else ratio <= np.sum(p.argmax(1) != given_) / moved.sum())


def _digits_kfold(rate: float, dims: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4-fold probabilities (N, 10) of a logistic regression on ``dims`` principal components of
    scikit-learn's digits, trained on labels ``rate`` uniformly flipped: (given, true, probs)."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    x, true = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    flip = rng.random(len(true)) < rate
    given = np.where(flip, (true + rng.integers(1, 10, len(true))) % 10, true)
    z = PCA(dims, random_state=0).fit_transform(x / 16.0)
    probs = cross_val_predict(LogisticRegression(max_iter=300), z, given, cv=4, method="predict_proba")
    return given, true, probs


def test_where_most_labels_look_wrong_the_claims_are_not_pooled(monkeypatch):
    """70% of the labels flipped: the mixture doubts most labels, the shares put more than
    MOST_WRONG_SHARE wrong, and every pair's margins favour the same doubted samples, so pooling their
    claims undercounts; the unpooled count finds more of the wrong labels. A weak model on labels 10%
    wrong also doubts most labels, but its shares stay under the bar: pooled, as everywhere else."""
    given, true, p = _digits_kfold(0.7, 8)
    wrong = given != true
    issues = lq.find_issues(given, p, provenance="out-of-sample")
    assert lq.confidence_mixture(given, p).most_doubted and not issues.evidence.claims_pooled
    assert issues.evidence.as_dict()["count_claims_pooled"] is False
    assert any("less than even odds" in w for w in issues.evidence.warnings)
    with monkeypatch.context() as m:
        m.setattr(lq, "MOST_WRONG_SHARE", 1.0)
        pooled = lq.find_issues(given, p, provenance="out-of-sample")
    assert pooled.evidence.claims_pooled and pooled.flags.sum() < issues.flags.sum()

    def f1(flags):
        return 2 * np.sum(flags & wrong) / (flags.sum() + wrong.sum())

    assert 0.8 < issues.flags.sum() / wrong.sum() < 1.25 and f1(issues.flags) > f1(pooled.flags) + 0.03
    given, _, p = _digits_kfold(0.1, 2)
    weak = lq.find_issues(given, p, provenance="out-of-sample")
    assert lq.confidence_mixture(given, p).most_doubted and weak.evidence.claims_pooled


def test_a_class_keeps_no_more_flags_than_samples_the_model_predicts_as_another_class():
    """Digits, "is it a 0?" (10% yes), 20% of the labels flipped either way: most "yes" labels are wrong,
    the class's threshold falls, and the class-normalised estimates take dozens of right "no" labels for
    wrong ones. Each class's flags stay under its samples whose argmax is the other class."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    x, digit = load_digits(return_X_y=True)
    true = (digit == 0).astype(np.int64)
    rng = np.random.default_rng(0)
    given = np.where(rng.random(len(true)) < 0.2, 1 - true, true)
    p = cross_val_predict(LogisticRegression(max_iter=1000), x / 16.0, given, cv=4, method="predict_proba")
    wrong = given != true
    issues = lq.find_issues(given, p, provenance="out-of-sample")
    doubted = lq.doubted_counts(given, p)
    np.testing.assert_array_equal(doubted, np.bincount(given[p.argmax(1) != given], minlength=2))
    assert np.all(np.bincount(given[issues.flags], minlength=2) <= doubted)
    assert np.sum(issues.flags & ~wrong) < 0.25 * issues.flags.sum()
    assert 2 * np.sum(issues.flags & wrong) / (issues.flags.sum() + wrong.sum()) > 0.8
