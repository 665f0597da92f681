"""benchmarks/simifeat.py on clusterable synthetic features with known label noise: HOC recovers the noise
transition matrix, SimiFeat-V finds the flipped labels, SimiFeat-R flags its per-class shares."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from simifeat import hoc_transition, nearest, neighbours, rank_rates, simifeat, within  # noqa: E402

C = 4


def clusters(noise: tuple[float, ...], n: int = 1500, dim: int = 16,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """C well-separated Gaussian clusters in ``dim`` dimensions, one per true class (uniform prior); a
    label of true class c moves to class c + 1 (mod C) with probability noise[c]. Returns the features
    (n, dim), the given labels (n,), the true labels (n,) and the transition matrix T (C, C),
    T[k, c] = P(given c | true k)."""
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.normal(size=(C, dim))
    true = rng.integers(0, C, n)
    x = centres[true] + rng.normal(size=(n, dim))
    e = np.asarray(noise)
    given = (true + (rng.random(n) < e[true])) % C
    T = np.diag(1 - e)
    T[np.arange(C), (np.arange(C) + 1) % C] = e
    return x, given, true, T


def test_hoc_recovers_the_transition_matrix() -> None:
    x, given, _, T = clusters((0.1, 0.3, 0.2, 0.25))
    T_est, p_est = hoc_transition(x, given, C)
    assert T_est.shape == (C, C) and p_est.shape == (C,)
    assert np.allclose(T_est.sum(1), 1.0) and np.isclose(p_est.sum(), 1.0)
    assert np.abs(T_est - T).max() < 0.1, np.round(T_est, 3)
    assert np.abs(np.diag(T_est) - np.diag(T)).mean() < 0.05, np.round(T_est, 3)
    assert np.abs(p_est - 1 / C).max() < 0.05, p_est


def test_vote_flags_the_flipped_labels() -> None:
    x, given, true, _ = clusters((0.2,) * C)
    quality, flags = simifeat(x, given, C, method="vote")
    wrong = given != true
    assert quality.shape == flags.shape == given.shape and flags.dtype == bool
    precision, recall = (flags & wrong).sum() / flags.sum(), (flags & wrong).sum() / wrong.sum()
    assert precision > 0.9 and recall > 0.85, (precision, recall)
    assert quality[wrong].mean() < quality[~wrong].mean()


@pytest.mark.parametrize("noise", [(0.25,) * C, (0.1, 0.3, 0.2, 0.3)])
def test_rank_flags_the_estimated_share_of_each_class(noise: tuple[float, ...]) -> None:
    """Per given class c, SimiFeat-R flags the share 1 - P(true c | given c) = 1 - T_cc p_c / p~_c of the
    samples labelled c (Docta's rule; 1 - T_cc where the given labels keep the clean prior, as with the
    equal noise). With unequal noise it differs from 1 - T_cc, and only the former matches the wrong
    labels."""
    x, given, true, T = clusters(noise, seed=1)
    prior = np.full(C, 1 / C)
    sizes = np.bincount(given, minlength=C)
    expected = rank_rates(T, prior, given, C) * sizes
    _, flags = simifeat(x, given, C, method="rank", transition=(T, prior))
    counts = np.bincount(given[flags], minlength=C)
    assert np.all(np.abs(counts - expected) <= 0.1 * expected + 5), (counts, expected)
    wrong_per_class = np.bincount(given[given != true], minlength=C)
    assert np.all(np.abs(counts - wrong_per_class) <= 0.25 * wrong_per_class + 5), (counts, wrong_per_class)
    if len(set(noise)) == 1:
        assert np.all(np.abs(counts - (1 - np.diag(T)) * sizes) <= 0.15 * sizes * (1 - np.diag(T)) + 5)


def test_rank_with_hoc_finds_the_flipped_labels() -> None:
    x, given, true, _ = clusters((0.1, 0.3, 0.2, 0.25), seed=2)
    _, flags = simifeat(x, given, C, method="rank")
    wrong = given != true
    precision, recall = (flags & wrong).sum() / flags.sum(), (flags & wrong).sum() / wrong.sum()
    assert precision > 0.85 and recall > 0.85, (precision, recall)


@pytest.mark.parametrize("pool", [32, 4])
def test_subset_neighbours_match_a_search_within_the_subset(pool: int) -> None:
    """The neighbours read from one search over all samples (or, where its pool runs short, searched
    again) are those of a search within the subset."""
    x, *_ = clusters((0.2,) * C, n=600)
    nb = neighbours(x, pool)
    members = np.sort(np.random.default_rng(0).choice(len(x), 400, replace=False))
    dist, idx = within(nb, members, 10)
    z = nb.z[members]
    d_ref, i_ref = nearest(z, z, 10, torch.arange(len(members)))
    assert torch.equal(idx, torch.as_tensor(members)[i_ref])
    assert torch.allclose(dist, d_ref, atol=1e-6)
    assert torch.equal(idx[:, 0], torch.as_tensor(members))
