"""The published inputs of benchmarks/detection_suite.py, read from hand-made miniature snapshots: the
label-errors test sets (crowd votes on candidates; IMDB's ids by file name; files a snapshot lacks or holds as
empty LFS stand-ins are skipped)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from detection_suite import verified_cases  # noqa: E402


def _snapshot(root: Path, name: str, probs: np.ndarray, labels: np.ndarray, votes: list[dict]) -> None:
    for folder in ("cross_validated_predicted_probabilities", "original_test_labels", "mturk"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    np.save(root / "cross_validated_predicted_probabilities" / f"{name}_test_set_pyx.npy", probs)
    np.save(root / "original_test_labels" / f"{name}_test_set_original_labels.npy", labels)
    (root / "mturk" / f"{name}_mturk.json").write_text(json.dumps(votes))


def test_a_label_is_wrong_where_three_of_five_workers_reject_it(tmp_path: Path) -> None:
    probs = np.full((6, 3), 1 / 3)
    labels = np.array([0, 1, 2, 0, 1, 2])
    votes = [{"id": 1, "mturk": {"given": 2, "guessed": 3, "neither": 0, "both": 0}},   # wrong
             {"id": 2, "mturk": {"given": 1, "guessed": 2, "neither": 1, "both": 1}},   # wrong: 2 + 1
             {"id": 4, "mturk": {"given": 3, "guessed": 1, "neither": 0, "both": 1}}]   # right
    _snapshot(tmp_path, "mnist", probs * 2, labels, votes)  # rows renormalised on reading
    (case,) = verified_cases(tmp_path)
    assert case.name == "label-errors/mnist" and case.kind == "verified" and case.half == "confirm"
    assert case.wrong.tolist() == [False, True, True, False, False, False]
    assert np.allclose(case.probs.sum(1), 1.0) and case.labels.tolist() == labels.tolist()


def test_imdb_ids_are_file_names_and_missing_or_empty_sets_are_skipped(tmp_path: Path) -> None:
    labels = np.array([0, 1, 1, 0])
    votes = [{"id": "test/pos/7_9", "mturk": {"given": 1, "guessed": 1, "neutral": 2, "off-topic": 0}},
             {"id": "test/neg/3_2", "mturk": {"given": 4, "guessed": 1, "neutral": 0, "off-topic": 0}}]
    _snapshot(tmp_path, "imdb", np.full((4, 2), 0.5), labels, votes)
    (tmp_path / "dataset_indexing").mkdir()
    (tmp_path / "dataset_indexing" / "imdb_test_set_index_to_filename.json").write_text(
        json.dumps(["neg/3_2.txt", "pos/1_8.txt", "pos/7_9.txt", "neg/5_1.txt"]))
    (tmp_path / "cross_validated_predicted_probabilities" / "cifar10_test_set_pyx.npy").write_bytes(b"")
    (case,) = verified_cases(tmp_path)
    assert case.name == "label-errors/imdb"
    assert case.wrong.tolist() == [False, False, True, False]
