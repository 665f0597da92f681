import math

import pytest
import torch

from noisylabels import losses


def test_soft_cross_entropy_matches_hand_value():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # softmax = [0.25, 0.75]
    t = torch.tensor([[0.5, 0.5]])
    expected = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    assert float(losses.soft_cross_entropy(logits, t)) == pytest.approx(expected)


def test_info_nce_two_pairs_by_hand():
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    tau = 0.5
    # anchor 0 (z1[0]): candidates z1[1] (sim 0), z2[0] (sim 1, positive), z2[1] (sim 0)
    per_anchor = -math.log(math.exp(2) / (math.exp(2) + 2 * math.exp(0)))
    assert float(losses.info_nce(z1, z2, tau)) == pytest.approx(per_anchor, rel=1e-5)


def test_info_nce_prefers_aligned_views():
    g = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(16, 8, generator=g), dim=1)
    noise = torch.nn.functional.normalize(torch.randn(16, 8, generator=g), dim=1)
    assert losses.info_nce(z, z, 0.25) < losses.info_nce(z, noise, 0.25)


def test_entropy_terms_by_hand():
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    assert float(losses.mean_entropy(p)) == pytest.approx(0.5 * math.log(2), rel=1e-5)
    # pbar = [0.75, 0.25]
    expected = 0.75 * math.log(0.75) + 0.25 * math.log(0.25)
    assert float(losses.negative_marginal_entropy(p)) == pytest.approx(expected, rel=1e-5)
    balanced = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert losses.negative_marginal_entropy(balanced) < losses.negative_marginal_entropy(torch.tensor([[1.0, 0.0]] * 2))


def test_uniform_prior_kl_by_hand():
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5]])  # pbar = [0.75, 0.25]
    expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert float(losses.uniform_prior_kl(p)) == pytest.approx(expected, rel=1e-5)
    assert float(losses.uniform_prior_kl(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))) == pytest.approx(0.0, abs=1e-6)
