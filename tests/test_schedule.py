"""schedule.py: the samples each epoch draws (--epoch-samples, --class-balanced), and the engine training on them."""

import math

import pytest
import torch

from noisylabels.engine import FitConfig, fit
from noisylabels.schedule import MIN_SMALL_BATCH, MIN_STEPS_PER_EPOCH, epoch_batch, epoch_indices, epoch_seed, epoch_size
from tests.helpers import stripe_train_data, tiny_method, user_error

# 16 samples of 3 classes, imbalanced: 10 of class 0, 2 of class 1, 4 of class 2
LABELS = torch.tensor([0] * 10 + [1] * 2 + [2] * 4)


def _gen(epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(epoch_seed(0, epoch))


def test_by_default_an_epoch_is_the_permutation_it_always_was():
    assert torch.equal(epoch_indices(LABELS, 3, _gen(1)), torch.randperm(16, generator=_gen(1)))
    assert epoch_size(LABELS, 3) == 16


def test_epoch_samples_draw_a_fresh_subset_each_epoch():
    a, b = epoch_indices(LABELS, 3, _gen(1), samples=6), epoch_indices(LABELS, 3, _gen(2), samples=6)
    assert len(a) == len(set(a.tolist())) == epoch_size(LABELS, 3, 6) == 6 and not torch.equal(a, b)
    assert torch.equal(a, epoch_indices(LABELS, 3, _gen(1), samples=6))  # the epoch's seed decides: resumable
    assert epoch_size(LABELS, 3, 100) == 16 and len(epoch_indices(LABELS, 3, _gen(1), samples=100)) == 16


def test_class_balanced_epochs_take_at_most_an_equal_share_per_class():
    """DivideMix's rule by hand: 9 samples of 3 classes -> at most ceil(9 / 3) = 3 per class; class 1 has only
    2, so the epoch holds 3 + 2 + 3 = 8."""
    for epoch in range(1, 6):
        idx = epoch_indices(LABELS, 3, _gen(epoch), samples=9, balanced=True)
        assert torch.bincount(LABELS[idx], minlength=3).tolist() == [3, 2, 3]
        assert len(set(idx.tolist())) == len(idx) == epoch_size(LABELS, 3, 9, balanced=True) == 8
    draws = {tuple(sorted(epoch_indices(LABELS, 3, _gen(e), samples=9, balanced=True).tolist())) for e in range(1, 6)}
    assert len(draws) > 1  # class 0's three are drawn afresh each epoch
    # the total caps the epoch too: 4 samples -> at most 2 a class, 4 in all
    assert len(epoch_indices(LABELS, 3, _gen(1), samples=4, balanced=True)) == epoch_size(LABELS, 3, 4, True) == 4
    # without --epoch-samples: a balanced subset of the whole set, ceil(16 / 3) = 6 per class at most
    assert torch.bincount(LABELS[epoch_indices(LABELS, 3, _gen(1), balanced=True)]).tolist() == [6, 2, 4]


def _fit_seeing_steps(cfg: FitConfig, log=lambda s: None) -> tuple[list[torch.Tensor], dict, object]:
    """A tiny ce fit on 96 striped samples; returns each step's sample indices, the result and the data."""
    data = stripe_train_data(96)
    method = tiny_method("ce", 96)
    seen: list[torch.Tensor] = []
    step = method.training_step
    method.training_step = lambda idx, *a: (seen.append(idx.clone()), step(idx, *a))[1]
    return seen, fit(method, data, cfg, log=log), data


def test_the_engine_trains_each_epoch_on_its_draw():
    cfg = FitConfig(epochs=2, batch_size=8, lr=0.05, progress=False, epoch_samples=30, class_balanced=True)
    seen, result, data = _fit_seeing_steps(cfg)
    assert len(seen) == 2 * (epoch_size(data.labels, 3, 30, True) // 8) == 6  # full batches of a 30-sample epoch
    first = torch.cat(seen[:3])
    assert torch.bincount(data.labels[first], minlength=3).max() <= 10 and math.isfinite(result["test_accuracy"])


@pytest.mark.parametrize("flags, needle", [(["--epoch-samples", "1"], "--epoch-samples must be at least 2"),
                                           (["--epoch-samples", "x"], "invalid int value")])
def test_bad_epoch_samples_are_one_line_errors(tmp_path, flags, needle):
    user_error(["train", "--dataset", "digits", *flags, "--epochs", "1", "--out", tmp_path / "r"], needle)


def test_the_official_cosine_divides_by_all_epochs_and_stops_short_of_its_floor():
    """TCL's cosine_annealing_LR (models/basic_template.py): epoch = iteration / iterations per epoch, from
    iteration 1; lr = base x epoch / W while epoch < W, then floor + (base - floor) (1 + cos((epoch - W) pi / E)) / 2.
    By hand at 10 steps an epoch, W = 20, E = 200, floor 0.01 x base, against ours (which reaches the floor)."""
    from noisylabels.schedule import lr_at

    spe, warm, epochs = 10, 20, 200
    total = spe * epochs

    def official(step: int) -> float:
        epoch = (step + 1) / spe
        if epoch < warm:
            return epoch / warm
        return 0.01 + 0.99 * 0.5 * (1 + math.cos((epoch - warm) * math.pi / epochs))

    for step in (0, 5, warm * spe - 2, warm * spe - 1, warm * spe, 1000, total - 1):
        assert lr_at(step, total, warm * spe, 1.0, 0.01, all_steps=True) == pytest.approx(official(step), abs=1e-12)
    assert lr_at(total - 1, total, warm * spe, 1.0, 0.01, all_steps=True) == pytest.approx(0.0342, abs=1e-4)
    assert lr_at(total - 1, total, warm * spe, 1.0, 0.01) == pytest.approx(0.01, abs=1e-5)  # ours: the floor


@pytest.mark.parametrize("samples, batch_size, world, expected", [
    (60_000, 128, 1, 128), (1_024, 128, 1, 128), (1_023, 128, 1, 127), (245, 128, 1, 30), (245, 16, 1, 16),
    (100, 128, 1, 16), (10, 128, 1, 10), (3, 128, 1, 3), (30, 8, 1, 8), (245, 128, 4, 28), (20, 128, 4, 16),
    (1_000, 129, 3, 123)])
def test_an_epoch_holds_enough_steps_of_enough_samples(samples, batch_size, world, expected):
    batch = epoch_batch(samples, batch_size, world)
    assert batch == expected and batch % world == 0 and 2 * world <= batch <= min(samples, batch_size)
    assert samples // batch >= MIN_STEPS_PER_EPOCH or batch >= min(MIN_SMALL_BATCH, samples, batch_size) - world + 1


def test_a_small_epoch_trains_on_smaller_batches_and_says_so():
    notes: list[str] = []
    seen, _, _ = _fit_seeing_steps(FitConfig(epochs=1, batch_size=128, lr=0.05, progress=False), notes.append)
    assert [len(idx) for idx in seen] == [16] * 6  # not one step of 96
    assert any("batches of 16 (not 128)" in n for n in notes)
