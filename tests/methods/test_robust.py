"""Robust losses against hand-computed values, and their behaviour on a confidently wrong label."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from noisylabels import losses
from tests.helpers import QUIET, digits_config

# logits whose softmax is exactly [0.5, 0.25, 0.25]
LOGITS = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
Y = torch.tensor([0])
A = -math.log(1e-4)


def test_gce_by_hand():
    assert float(losses.generalized_cross_entropy(LOGITS, Y, q=0.7)) == pytest.approx((1 - 0.5 ** 0.7) / 0.7)
    assert float(losses.generalized_cross_entropy(LOGITS, Y, q=1.0)) == pytest.approx(0.5)  # MAE-like


def test_rce_and_sce_by_hand():
    assert float(losses.reverse_cross_entropy(LOGITS, Y)) == pytest.approx(A * 0.5, rel=1e-5)
    expected = 0.1 * -math.log(0.5) + 1.0 * A * 0.5
    assert float(losses.symmetric_cross_entropy(LOGITS, Y, 0.1, 1.0)) == pytest.approx(expected, rel=1e-5)


def test_nce_and_nfl_by_hand():
    logs = [math.log(0.5), math.log(0.25), math.log(0.25)]
    assert float(losses.normalized_cross_entropy(LOGITS, Y)) == pytest.approx(logs[0] / sum(logs), rel=1e-5)
    fl = [-(1 - p) ** 0.5 * math.log(p) for p in (0.5, 0.25, 0.25)]
    assert float(losses.normalized_focal_loss(LOGITS, Y, 0.5)) == pytest.approx(fl[0] / sum(fl), rel=1e-5)
    assert float(losses.focal_loss(LOGITS, Y, 0.5)) == pytest.approx(fl[0], rel=1e-5)
    assert float(losses.focal_loss(LOGITS, Y, 0.0)) == pytest.approx(-math.log(0.5), rel=1e-5)


def test_elr_regularizer_by_hand():
    t = torch.tensor([[0.8, 0.1, 0.1]])
    inner = 0.8 * 0.5 + 0.1 * 0.25 + 0.1 * 0.25
    assert float(losses.elr_regularizer(LOGITS, t)) == pytest.approx(math.log(1 - inner), rel=1e-4)


def _grad_norm(loss_fn, logits: torch.Tensor, y: torch.Tensor) -> float:
    x = logits.clone().requires_grad_(True)
    loss_fn(x, y).backward()
    return float(x.grad.norm())


def test_confidently_wrong_label_is_bounded_for_robust_losses():
    """A prediction confident in class 1 with given label 0 (a wrong label): CE grows without bound,
    the robust losses stay bounded, and (except GCE's, which decays polynomially) their gradients
    vanish, so such samples stop pulling the model towards the wrong label."""
    wrong = torch.tensor([[-10.0, 10.0, 0.0]])
    y = torch.tensor([0])
    ce = float(F.cross_entropy(wrong, y))
    assert ce > 19
    assert float(losses.generalized_cross_entropy(wrong, y)) <= 1 / 0.7 + 1e-6
    assert float(losses.reverse_cross_entropy(wrong, y)) <= A + 1e-6
    assert float(losses.normalized_cross_entropy(wrong, y)) <= 1.0
    assert float(losses.normalized_focal_loss(wrong, y)) <= 1.0
    g_ce = _grad_norm(F.cross_entropy, wrong, y)
    for fn in (losses.generalized_cross_entropy, losses.reverse_cross_entropy):
        assert _grad_norm(fn, wrong, y) < 0.01 * g_ce
    # ELR: when the running target agrees with the (confident) prediction, the regulariser's gradient
    # opposes CE's pull towards the given label.
    moderate = torch.tensor([[-1.0, 2.0, 0.0]])  # inside the clamp range of ELR's probabilities
    t = torch.softmax(moderate, dim=1).detach()
    x = moderate.clone().requires_grad_(True)
    losses.elr_regularizer(x, t).backward()
    g_elr = x.grad.clone()
    x.grad = None
    F.cross_entropy(x, y).backward()
    assert float((g_elr * x.grad).sum()) < 0


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gce", "sce", "nce-rce", "nfl-rce", "elr"])
def test_each_robust_method_learns_digits(tmp_path, method):
    from noisylabels.app.run import run_train

    s = run_train(digits_config(noise="symmetric", noise_rate=0.4, method=method, epochs=6), tmp_path / method, **QUIET)
    assert s["test_accuracy"] > 0.3  # chance is 0.1 (NCE+RCE, the slowest, measured 0.50 after 6 epochs)
    if method == "elr":
        import torch as _t

        state = _t.load(tmp_path / method / "checkpoint.pt", weights_only=False)["method"]
        assert state["targets"].shape == (1437, 10) and float(state["targets"].sum()) > 0


@pytest.mark.slow
def test_simclr_pretraining_then_ce_from_its_encoder(tmp_path):
    from noisylabels.errors import UserError
    from noisylabels.app.run import run_train

    base = digits_config()
    s = run_train({**base, "method": "simclr", "epochs": 2}, tmp_path / "simclr", **QUIET)
    assert 0.1 < s["test_accuracy"] <= 1.0  # kNN accuracy with training features as memory
    assert not (tmp_path / "simclr" / "label_issues.csv").exists()
    ce = run_train({**base, "method": "ce", "epochs": 2, "noise": "symmetric", "noise_rate": 0.4,
                    "pretrained": str(tmp_path / "simclr"), "method_options": {"head_epochs": 1}},
                   tmp_path / "ce", **QUIET)
    assert ce["test_accuracy"] > 0.1
    with pytest.raises(UserError, match="does not match"):
        run_train({**base, "width": 4, "method": "ce", "epochs": 1, "pretrained": str(tmp_path / "simclr")},
                  tmp_path / "bad", **QUIET)


def test_confidently_wrong_label_sce_focal_and_the_active_passive_pairs():
    """The same wrong label for the remaining losses: SCE keeps only alpha x CE's pull (its RCE part is
    bounded and flat); focal is no robust loss, it behaves like CE on a wrong label and only discounts
    confidently right ones; NCE+RCE and NFL+RCE (alpha 1, beta 1) are bounded by alpha + beta A."""
    wrong = torch.tensor([[-10.0, 10.0, 0.0]])
    right = torch.tensor([[10.0, -10.0, 0.0]])
    y = torch.tensor([0])
    ce = float(F.cross_entropy(wrong, y))
    g_ce = _grad_norm(F.cross_entropy, wrong, y)
    sce = float(losses.symmetric_cross_entropy(wrong, y, alpha=0.1, beta=1.0))
    assert sce == pytest.approx(0.1 * ce + A * (1 - float(torch.softmax(wrong, 1)[0, 0])), rel=1e-5)
    assert _grad_norm(lambda x, t: losses.symmetric_cross_entropy(x, t, 0.1, 1.0), wrong, y) < 0.11 * g_ce
    assert float(losses.focal_loss(wrong, y, gamma=0.5)) == pytest.approx(ce, rel=1e-3)
    assert float(losses.focal_loss(right, y, gamma=0.5)) < 0.01 * float(F.cross_entropy(right, y))
    for active in (losses.normalized_cross_entropy, losses.normalized_focal_loss):
        pair = float(active(wrong, y)) + float(losses.reverse_cross_entropy(wrong, y))
        assert pair <= 1.0 + A + 1e-6
        assert _grad_norm(lambda x, t: active(x, t) + losses.reverse_cross_entropy(x, t), wrong, y) < g_ce


def test_rce_log_zero_is_an_option_code_default_and_paper_value():
    """A = log(1e-4) = -9.21 by default (the SCE/APL authors' code); the SCE paper's A = -4."""
    assert losses.RCE_LOG_ZERO_CODE == pytest.approx(-9.2103, abs=1e-4)
    assert float(losses.reverse_cross_entropy(LOGITS, Y, losses.RCE_LOG_ZERO_PAPER)) == pytest.approx(4 * 0.5)
    sce = float(losses.symmetric_cross_entropy(LOGITS, Y, 0.1, 1.0, log_zero=-4.0))
    assert sce == pytest.approx(0.1 * -math.log(0.5) + 4 * 0.5, rel=1e-6)
    from noisylabels.methods import get_method
    opts = get_method("nfl-rce").Options()
    assert opts.rce_log_zero == pytest.approx(math.log(1e-4)) and opts.focal_detach is True


def test_nfl_detaches_the_focal_factors_as_the_public_code_does():
    """Ma et al.'s code: loss = -(1-p_y)^g log p_y / sum_k -(1-p_k)^g log p_k with every (1-p)^g taken
    from .data. Same value either way; the gradient is that of log-terms weighted by constants."""
    x = torch.tensor([[1.2, -0.3, 0.4, 2.0], [0.1, 0.2, -1.0, 0.5]], requires_grad=True)
    y = torch.tensor([3, 1])
    g = 0.5
    logp = F.log_softmax(x, dim=1)
    w = (1 - logp.exp()).pow(g).detach()  # the public code's constants
    ref = ((w * logp).gather(1, y[:, None]).squeeze(1) / (w * logp).sum(1)).mean()
    (ref_grad,) = torch.autograd.grad(ref, x)
    ours = losses.normalized_focal_loss(x, y, g)
    (ours_grad,) = torch.autograd.grad(ours, x)
    assert float(ours.detach()) == pytest.approx(float(ref.detach()), rel=1e-6)
    assert torch.allclose(ours_grad, ref_grad, atol=1e-6)
    full = losses.normalized_focal_loss(x, y, g, detach_focal=False)
    (full_grad,) = torch.autograd.grad(full, x)
    assert float(full.detach()) == pytest.approx(float(ref.detach()), rel=1e-6)
    assert not torch.allclose(full_grad, ref_grad, atol=1e-4)  # the paper's formula differentiated throughout


def test_elr_targets_and_regulariser_read_the_same_clamped_probabilities(monkeypatch):
    """One clamp (losses.elr_probs): a saturated softmax is held in [1e-4, 1 - 1e-4] and renormalised,
    the running targets of the ELR method are (1 - beta) x those probabilities after one step from
    zero, and the regulariser reads the same ones (log(1 - <t, p>) finite at saturation)."""
    from noisylabels.data.augment import ViewConfig
    from noisylabels.methods import TrainData, get_method
    from noisylabels.models.backbones import build_backbone

    p = losses.elr_probs(torch.tensor([[100.0, 0.0, 0.0]]))
    lo, hi = losses.ELR_CLAMP, 1 - losses.ELR_CLAMP
    assert torch.allclose(p, torch.tensor([[hi, lo, lo]]) / (hi + 2 * lo)) and float(p.sum()) == pytest.approx(1.0)
    assert math.isfinite(float(losses.elr_regularizer(torch.tensor([[100.0, 0.0, 0.0]]), p)))

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    t = torch.from_numpy
    images, labels = (rng.random((16, 8, 8, 1)) * 255).astype(np.uint8), rng.integers(0, 3, 16)
    data = TrainData(images=t(images), labels=t(labels), true_labels=None, test_images=t(images),
                     test_labels=t(labels), num_classes=3, views=ViewConfig(crop_pad=0, flip=False, mean=(0.5,),
                                                                           std=(0.3,)))
    cls = get_method("elr")
    method = cls(build_backbone("small-cnn", in_channels=1, image_size=8, width=4), 3, 16, cls.Options())
    seen = []
    spy = losses.elr_probs

    def recording(logits):
        seen.append(spy(logits))
        return seen[-1]

    idx = torch.arange(8)
    monkeypatch.setattr(losses, "elr_probs", recording)
    method.training_step(idx, 1, data, torch.Generator().manual_seed(0))
    assert len(seen) == 2  # the target update and the regulariser
    assert torch.allclose(seen[0], seen[1].detach())
    assert torch.allclose(method.targets[idx], (1 - method.options.elr_beta) * seen[0])


def test_training_margins_are_the_mean_given_label_margin_of_every_step():
    """AUM's training dynamics, recorded by every step of CE and the robust losses: the running sum and count
    of z_y - max_{j != y} z_j per sample, by hand on two steps."""
    from noisylabels.methods.standard import CrossEntropy, SupervisedOptions

    encoder = torch.nn.Identity()
    encoder.feature_dim = 3
    m = CrossEntropy(encoder, 3, 4, SupervisedOptions())
    assert m.training_margins() is None
    m.record_margins(torch.tensor([0, 2]), torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]]), torch.tensor([0, 2]))
    m.record_margins(torch.tensor([0]), torch.tensor([[0.0, 1.5, 0.5]]), torch.tensor([0]))
    aum = m.training_margins()
    assert aum[0] == pytest.approx((1.0 - 1.5) / 2) and aum[2] == pytest.approx(-2.0)
    assert np.isnan(aum[1]) and np.isnan(aum[3])
    assert {"margin_sum", "margin_count"} <= set(m.state_dict())  # checkpointed with the model


def test_the_first_epochs_margins_are_dropped_when_a_second_follows():
    """AUM averages the steps from the second epoch on: the end of epoch 1 of several clears the sums."""
    from noisylabels.methods.standard import CrossEntropy, SupervisedOptions

    encoder = torch.nn.Identity()
    encoder.feature_dim = 3
    for total, kept in ((3, False), (1, True)):
        m = CrossEntropy(encoder, 3, 2, SupervisedOptions(record_probs_epochs=0))
        m.record_margins(torch.tensor([0]), torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([0]))
        m.epoch_end(1, total, None)
        assert (m.training_margins() is not None) == kept
        m.record_margins(torch.tensor([1]), torch.tensor([[0.0, 3.0, 1.0]]), torch.tensor([1]))
        m.epoch_end(2, max(total, 2), None)
        aum = m.training_margins()
        assert aum[1] == pytest.approx(2.0) and np.isnan(aum[0]) != kept


@pytest.mark.slow
def test_a_ce_run_writes_the_margins_and_wrong_labels_have_lower_ones(tmp_path):
    from noisylabels.app.run import run_train

    out = tmp_path / "run"
    run_train(digits_config(method="elr", epochs=3, noise="symmetric", noise_rate=0.4), out, **QUIET)
    aum = np.load(out / "margins.npy")
    given = np.load(out / "noisy_labels.npy")
    from noisylabels.data.sources import load_run_splits
    from noisylabels.runs import RunFolder

    true = np.asarray(load_run_splits(RunFolder(out).read_yaml("config.yaml")).train.labels)
    assert aum.shape == given.shape and np.all(np.isfinite(aum))
    assert aum[given != true].mean() < aum[given == true].mean()
