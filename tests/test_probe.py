"""Out-of-sample probabilities from fixed embeddings (noisylabels.probe): folds, the logistic fit
against scikit-learn's, and that no sample's probabilities depend on its own label."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from noisylabels.probe import crossfit_linear_probe, fit_logistic, fold_of, knn_probs


def _blobs(n: int = 300, d: int = 8, c: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    centres = torch.randn(c, d, generator=g) * 2
    return centres[y] + torch.randn(n, d, generator=g), y


def test_folds_are_stratified_balanced_and_seeded():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 3)
    fold = fold_of(labels, 5, seed=1)
    assert sorted(np.bincount(fold)) == [16, 16, 17, 17, 17]
    for c in (0, 1):
        assert set(np.bincount(fold[labels == c], minlength=5)) == ({10} if c == 0 else {6})
    assert len(set(fold[labels == 2])) == 3  # a class smaller than the folds: one sample a fold
    assert np.array_equal(fold, fold_of(labels, 5, seed=1)) and not np.array_equal(fold, fold_of(labels, 5, seed=2))


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
    fold = fold_of(y.numpy(), 4, seed=0)  # the folds are stratified by the given labels: held fixed here
    run = (lambda lab: crossfit_linear_probe(x, lab, 3, folds=4, fold=fold)) if probe == "linear" else \
        (lambda lab: knn_probs(x, lab, 3, k=10))
    before = run(y)
    flipped = y.clone()
    flipped[7] = (y[7] + 1) % 3  # the sample's own label changes: its probabilities must not
    after = run(flipped)
    assert torch.allclose(before[7], after[7], atol=1e-6)
    assert torch.allclose(before.sum(1), torch.ones(len(x)), atol=1e-5)
    assert float((before.argmax(1) == y).float().mean()) > 0.9  # well-separated blobs are learnt
