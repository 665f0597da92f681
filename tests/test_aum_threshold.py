"""The pure parts of benchmarks/aum_threshold.py (AUM with threshold samples, Pleiss et al., NeurIPS 2020):
the two threshold sets, the flag rule of one run and the combination of the two runs, on hand-made arrays."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from aum_threshold import (FAKE_CLASS_NAME, carried_options, combine, flag_rule, threshold_labels,  # noqa: E402
                           threshold_sets)


@pytest.mark.parametrize("n, k", [(3000, 10), (1000, 3), (50, 2)])
def test_threshold_sets_are_disjoint_seeded_and_n_over_k_plus_one(n: int, k: int) -> None:
    a, b = threshold_sets(n, k, seed=0)
    assert len(a) == len(b) == n // (k + 1)
    assert not set(a) & set(b)
    assert a.min() >= 0 and max(a.max(), b.max()) < n
    assert list(a) == sorted(a) and len(set(a)) == len(a)
    a2, b2 = threshold_sets(n, k, seed=0)
    assert np.array_equal(a, a2) and np.array_equal(b, b2)
    a3, _ = threshold_sets(n, k, seed=1)
    assert not np.array_equal(a, a3)


def test_threshold_labels_move_only_the_set_to_the_fake_class() -> None:
    labels = np.array([0, 1, 2, 0, 1, 2])
    out = threshold_labels(labels, np.array([1, 4]), 3)
    assert out.tolist() == [0, 3, 2, 0, 3, 2]
    assert labels.tolist() == [0, 1, 2, 0, 1, 2]  # the given labels are left as they were


def test_flag_rule_is_below_the_99th_percentile_of_threshold_aum() -> None:
    # 200 threshold samples with AUM 0..199: more than 1% of them (3 or more) lie above a value below 197,
    # so the cut is the 3rd largest, 197
    thr = np.arange(200, dtype=float)
    others = np.array([-5.0, 196.9, 197.0, 197.5, 250.0, np.nan])
    aum = np.concatenate([others, thr])
    idx = np.arange(len(others), len(aum))
    flags, cut = flag_rule(aum, idx)
    assert cut == 197.0
    assert flags[:len(others)].tolist() == [True, True, False, False, False, False]
    assert np.array_equal(flags, np.nan_to_num(aum, nan=np.inf) < cut)
    # the reference's own statement: the share of threshold AUMs strictly above exceeds 1%
    assert np.array_equal(flags[:5], (thr[None, :] > others[:5, None]).mean(1) > 0.01)


def test_flag_rule_with_exactly_one_percent_above_is_not_flagged() -> None:
    thr = np.arange(100, dtype=float)  # 1 of 100 above 98.5: a share of exactly 1%, not more
    flags, cut = flag_rule(np.concatenate([[98.5, 97.5], thr]), np.arange(2, 102))
    assert flags[:2].tolist() == [False, True] and cut == 98.0


def test_combine_judges_each_sample_by_the_run_where_it_is_not_a_threshold_sample() -> None:
    # sample 0: threshold in run 1; 1: threshold in run 2; 2, 3, 4: in neither
    set1, set2 = np.array([0]), np.array([1])
    aum1 = np.array([-9.0, 1.0, 2.0, 4.0, 6.0])
    aum2 = np.array([3.0, -9.0, 4.0, 0.0, 8.0])
    flags1 = np.array([True, False, True, False, False])
    flags2 = np.array([False, True, False, True, False])
    score, flags = combine(aum1, aum2, flags1, flags2, set1, set2)
    assert score.tolist() == [3.0, 1.0, 3.0, 2.0, 7.0]
    # 0: run 2 says no (its own run-1 flag is ignored); 1: run 1 says no; 2, 3: either run; 4: neither
    assert flags.tolist() == [False, False, True, True, False]


def test_combine_refuses_overlapping_sets() -> None:
    z = np.zeros(3)
    with pytest.raises(ValueError, match="overlap"):
        combine(z, z, z.astype(bool), z.astype(bool), np.array([0, 1]), np.array([1]))


def test_carried_options_keep_the_run_settings_and_resolve_auto() -> None:
    cfg = {"dataset": "fashion-mnist", "method": "ce", "epochs": 20, "seed": 3, "train_size": 3000,
           "backbone": "small-cnn", "batch_size": 128, "lr": 0.05, "flip": "auto", "device": "cpu",
           "noise": "symmetric", "noise_rate": 0.2}
    opts = carried_options(cfg)
    assert opts == {"backbone": "small-cnn", "batch_size": 128, "lr": 0.05, "flip": "true", "device": "cpu",
                    "precision": "fp32"}
    assert carried_options({**cfg, "dataset": "digits", "precision": "bf16"})["flip"] == "false"
    assert carried_options({**cfg, "precision": "bf16"})["precision"] == "bf16"
    assert FAKE_CLASS_NAME not in ("0", "1")
