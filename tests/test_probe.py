"""Out-of-sample probabilities from fixed embeddings (noisylabels.probe): folds, the logistic fit
against scikit-learn's, and that no sample's probabilities depend on its own label."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from noisylabels.probe import crossfit_linear_probe, fit_logistic, knn_probs, stratified_folds


def _blobs(n: int = 300, d: int = 8, c: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    centres = torch.randn(c, d, generator=g) * 2
    return centres[y] + torch.randn(n, d, generator=g), y


def test_folds_are_stratified_and_seeded():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 3)
    fold = stratified_folds(labels, 5, seed=1)
    for c, per_fold in ((0, {10}), (1, {6})):
        assert set(np.bincount(fold[labels == c], minlength=5)) == per_fold
    assert len(set(fold[labels == 2])) == 3  # a class smaller than the folds: one sample a fold
    assert np.array_equal(fold, stratified_folds(labels, 5, seed=1))
    assert not np.array_equal(fold, stratified_folds(labels, 5, seed=2))


def test_probe_on_two_samples():
    z, y = torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([0, 1])
    p = crossfit_linear_probe(z, y, 2, folds=5)  # one fitting row a fold: no NaN from its spread
    assert torch.isfinite(p).all() and torch.allclose(p.sum(1), torch.ones(2))
    assert torch.isfinite(knn_probs(z, y, 2, k=20)).all()


def test_logistic_fit_matches_scikit_learn():
    x, y = _blobs()
    l2 = 0.05
    w, b = fit_logistic(x, y, 3, l2=l2)
    # scikit-learn minimises 0.5 ||W||^2 + C sum CE; ours mean CE + 0.5 l2 ||W||^2: C = 1 / (l2 N)
    ref = LogisticRegression(C=1.0 / (l2 * len(x)), tol=1e-10, max_iter=5000).fit(x.numpy(), y.numpy())
    ours = torch.softmax(x @ w + b, 1).numpy()
    assert np.abs(ours - ref.predict_proba(x.numpy())).max() < 1e-3


@pytest.mark.parametrize("probe", ["linear", "knn"])
def test_probabilities_are_out_of_sample(probe):
    x, y = _blobs()
    fold = stratified_folds(y.numpy(), 4, seed=0)  # the folds are stratified by the given labels: held fixed here
    run = (lambda lab: crossfit_linear_probe(x, lab, 3, folds=4, fold=fold)) if probe == "linear" else \
        (lambda lab: knn_probs(x, lab, 3, k=10))
    before = run(y)
    flipped = y.clone()
    flipped[7] = (y[7] + 1) % 3  # the sample's own label changes: its probabilities must not
    after = run(flipped)
    assert torch.allclose(before[7], after[7], atol=1e-6)
    assert torch.allclose(before.sum(1), torch.ones(len(x)), atol=1e-5)
    assert float((before.argmax(1) == y).float().mean()) > 0.9  # well-separated blobs are learnt
