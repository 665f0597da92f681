import csv

import numpy as np
import pytest
import torch

from noisylabels import detect
from noisylabels.labelquality import LabelIssues


def test_prototype_assignments_by_hand():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    probs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    mu, gamma = detect.prototype_assignments(z, probs, temperature=1.0)
    # mu_0 = normalize(z0 + 0.5 z2) = [1, 0]; mu_1 = normalize(z1 + 0.5 z2) = normalize([0.5, 1])
    assert torch.allclose(mu[0], torch.tensor([1.0, 0.0]))
    assert torch.allclose(mu[1], torch.tensor([0.5, 1.0]) / np.sqrt(1.25))
    logits = z @ mu.t()
    assert torch.allclose(gamma, torch.softmax(logits, 1))


def test_gmm_finds_the_planted_high_scores():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0.2, 0.05, 800), rng.normal(0.8, 0.05, 200)])
    w = detect.gmm_clean_probability(scores)
    assert w[:800].mean() > 0.95 and w[800:].mean() < 0.05
    groups = np.arange(1000) % 2  # each group holds clean and noisy samples
    wg = detect.gmm_clean_probability(scores, groups=groups)
    assert np.mean((wg > 0.5) == (np.arange(1000) < 800)) > 0.97


def test_detection_metrics_and_ranked_csv(tmp_path):
    quality = np.array([0.9, 0.1, 0.8, 0.3])
    flags = quality < 0.5
    noisy = np.array([False, True, False, False])
    m = detect.detection_metrics(quality, flags, noisy)
    assert m["detection_auroc"] == pytest.approx(1.0)
    assert m["detection_precision"] == pytest.approx(0.5)
    assert m["detection_recall"] == pytest.approx(1.0)
    assert m["detection_f1"] == pytest.approx(2 / 3)
    assert m["detection_auprc"] == pytest.approx(1.0) and m["flagged_to_actual"] == pytest.approx(2.0)
    out = tmp_path / "label_issues.csv"
    issues = LabelIssues(quality, flags, suggested=np.array([0, 0, 1, 1]), suggested_prob=np.array([.9, .8, .8, .6]),
                         per_class_issues=np.array([1, 1]), detector="test")
    detect.write_label_issues(out, given_labels=np.array([0, 1, 1, 0]), predicted_labels=np.array([0, 0, 1, 1]),
                              issues=issues, source_index=np.array([10, 11, 12, 13]),
                              true_labels=np.array([0, 0, 1, 0]), paths=["a", "b", "c", "d"],
                              class_names=["cat", "dog"])
    rows = list(csv.DictReader(open(out)))
    assert [r["index"] for r in rows] == ["11", "13", "12", "10"]
    assert rows[0]["is_label_issue"] == "True" and rows[0]["path"] == "b" and rows[0]["given_name"] == "dog"
    assert rows[0]["suggested_label"] == "0" and rows[0]["suggested_name"] == "cat"
    assert rows[0]["suggested_probability"] == "0.800000"
    assert set(rows[0]) >= {"index", "given_label", "predicted_label", "label_quality", "is_label_issue", "true_label"}


def test_fixed_prior_gmm_does_not_split_a_skewed_unimodal_score():
    rng = np.random.default_rng(0)
    skewed = rng.gamma(1.0, 0.1, 2000)  # clean data: one skewed mode, no second population
    free = detect.gmm_clean_probability(skewed)
    fixed = detect.gmm_clean_probability(skewed, prior_noisy=0.01)
    assert (free < 0.5).mean() > 0.15 and (fixed < 0.5).mean() < 0.06
    for prior in (0.01, 0.12, 0.3):  # the noisy posterior mass is the prior, not only the mixing weight
        assert 1 - detect.gmm_clean_probability(skewed, prior_noisy=prior).mean() == pytest.approx(prior, abs=2e-3)
    planted = np.concatenate([rng.normal(0.2, 0.05, 800), rng.normal(0.8, 0.05, 200)])
    w = detect.gmm_clean_probability(planted, prior_noisy=0.2)  # a right prior keeps a real split
    assert np.mean((w > 0.5) == (np.arange(1000) < 800)) > 0.99
    wg = detect.gmm_clean_probability(planted, groups=np.arange(1000) % 2, prior_noisy=np.array([0.2, 0.2]))
    assert np.mean((wg > 0.5) == (np.arange(1000) < 800)) > 0.99


def test_capped_prior_is_a_ceiling_not_a_target():
    """selection=capped: a free fit that calls fewer samples noisy than the estimate is kept as fitted;
    one that calls more (a skewed clean score) is held at the estimate, per group as well."""
    rng = np.random.default_rng(0)
    planted = np.concatenate([rng.normal(0.2, 0.05, 800), rng.normal(0.8, 0.05, 200)])  # 20% noisy
    free = detect.gmm_clean_probability(planted)
    np.testing.assert_array_equal(detect.gmm_clean_probability(planted, prior_noisy=0.35, cap=True), free)
    held = detect.gmm_clean_probability(planted, prior_noisy=0.35)  # a target pushes the mass up to 0.35
    assert 1 - held.mean() == pytest.approx(0.35, abs=2e-3) and 1 - free.mean() == pytest.approx(0.2, abs=0.01)
    skewed = rng.gamma(1.0, 0.1, 2000)
    capped = detect.gmm_clean_probability(skewed, prior_noisy=0.01, cap=True)
    assert 1 - capped.mean() == pytest.approx(0.01, abs=2e-3)
    both = np.concatenate([planted, skewed[:1000]])
    groups = np.repeat([0, 1], 1000)
    wg = detect.gmm_clean_probability(both, groups=groups, prior_noisy=np.array([0.35, 0.01]), cap=True)
    np.testing.assert_array_equal(wg[:1000], free)
    assert 1 - wg[1000:].mean() == pytest.approx(0.01, abs=2e-3)


def test_context_quality_is_the_geometric_mean_of_confidence_and_context():
    """A label the context rejects (gamma_y ~ 0) is suspect however confident the classifier is:
    sqrt(p_y gamma_y), not the arithmetic mean, which would rank it above a merely uncertain one."""
    g = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(40, 8, generator=g), dim=1)
    probs = torch.softmax(3 * torch.randn(40, 4, generator=g), dim=1)
    given = torch.randint(0, 4, (40,), generator=g)
    _, gamma = detect.prototype_assignments(z, probs, 0.25)
    issues = detect.context_issues(z, probs, given, detect.ContextRanking(0.25, "probability"), provenance="in-sample")
    p_y, g_y = probs[torch.arange(40), given].double(), gamma[torch.arange(40), given].double()
    np.testing.assert_allclose(issues.quality, torch.sqrt(p_y * g_y).numpy(), rtol=1e-5, atol=1e-7)
    assert issues.quality.min() >= 0.0 and issues.quality.max() <= 1.0


def test_context_ranking_default_is_normalised_quality_with_sharper_context():
    """Without a method's own ranking: sqrt(label_quality * gamma_y) at tau = CONTEXT_TEMPERATURE, where
    label_quality is the class-normalised score every detector without embeddings ranks by."""
    from noisylabels.labelquality import label_quality

    g = torch.Generator().manual_seed(1)
    z = torch.nn.functional.normalize(torch.rand(60, 8, generator=g), dim=1)  # ReLU-like: all cosines >= 0
    probs = torch.softmax(3 * torch.randn(60, 5, generator=g), dim=1)
    given = torch.randint(0, 5, (60,), generator=g)
    issues = detect.context_issues(z, probs, given, provenance="in-sample")
    _, gamma = detect.prototype_assignments(z, probs, detect.CONTEXT_TEMPERATURE)
    p = probs.double().numpy()
    expected = np.sqrt(label_quality(given.numpy(), p / p.sum(1, keepdims=True))
                       * gamma[torch.arange(60), given].double().numpy())
    np.testing.assert_allclose(issues.quality, expected, rtol=1e-5, atol=1e-7)
    assert detect.CONTEXT_TEMPERATURE == 0.1 and issues.detector == "confident-learning+context"
    with pytest.raises(ValueError, match="temperature"):
        detect.ContextRanking(temperature=0.0)
    with pytest.raises(ValueError, match="classifier"):
        detect.ContextRanking(classifier="loss")


def test_label_quality_is_the_mean_of_normalised_probability_and_margin():
    """By hand, 2 samples x 3 classes: t = (0.6, 0.5, 0.3) from the labelled columns, q = (p / t) / sum."""
    from noisylabels.labelquality import label_quality

    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    labels = np.array([0, 1])
    t = np.array([0.6, 0.5, 1 / 3])  # class 2 has no sample: 1/C
    q = (probs / t) / (probs / t).sum(1, keepdims=True)
    q0, q1 = q[0, 0], q[1, 1]
    expected = [(q0 + (1 + q0 - max(q[0, 1], q[0, 2])) / 2) / 2, (q1 + (1 + q1 - max(q[1, 0], q[1, 2])) / 2) / 2]
    np.testing.assert_allclose(label_quality(labels, probs), expected, rtol=1e-12)
