"""A detection folder changes all at once or not at all: `detect` checks every input (the images' dtype, rank,
channels and sides among them) before it writes, and writes its set of files into a hidden folder that only
replaces the earlier detection's files once every file is written, so a failure at any point leaves the
earlier detection byte-identical."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from noisylabels.issues import detect_to_folder
from tests.helpers import cli, snapshot, user_error

N = 40


def _inputs(folder: Path, seed: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    labels, probs = folder / f"labels{seed}.npy", folder / "probs.npy"
    np.save(labels, rng.integers(0, 3, N))
    np.save(probs, np.random.default_rng(0).dirichlet([1, 1, 1], N))
    return labels, probs


def _earlier(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    labels, probs = _inputs(tmp_path, 0)
    images = tmp_path / "good.npy"
    np.save(images, np.zeros((N, 8, 8, 3), np.uint8))
    out = tmp_path / "det"
    assert cli("detect", "--labels", labels, "--pred-probs", probs, "--images", images, "--out", out)[0] == 0
    return out, snapshot(out)


BAD_IMAGES = [((N, 8, 8, 2), "uint8"), ((N, 8, 8, 4), "uint8"), ((N, 8, 8, 5), "uint8"), ((N, 8, 8, 0), "uint8"),
              ((N, 0, 0), "uint8"), ((N, 0, 8, 1), "uint8"), ((N, 8), "uint8"), ((N, 8, 8, 3, 1), "uint8"),
              ((N, 8, 8, 3), "float32"), ((N, 8, 8), "bool")]


@pytest.mark.parametrize("shape,dtype", BAD_IMAGES)
def test_images_of_any_other_shape_or_dtype_are_refused_before_anything_is_written(tmp_path, shape, dtype):
    out, before = _earlier(tmp_path)
    labels, probs = _inputs(tmp_path, 1)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros(shape, dtype))
    user_error(["detect", "--labels", labels, "--pred-probs", probs, "--images", bad, "--out", out], "--images")
    assert snapshot(out) == before


WRITERS = {"label_issues": "noisylabels.detect.write_label_issues", "suspects": "noisylabels.report.plot_suspects",
           "summary": "noisylabels.runs.RunFolder.write_json"}


def _disk_full(*args, **kwargs):
    raise OSError("disk full")


@pytest.mark.parametrize("at", sorted(WRITERS))
def test_a_detection_that_fails_while_writing_leaves_the_earlier_one_whole(tmp_path, monkeypatch, at):
    out, before = _earlier(tmp_path)
    labels, probs = _inputs(tmp_path, 1)

    monkeypatch.setattr(WRITERS[at], _disk_full)
    with pytest.raises(OSError, match="disk full"):
        detect_to_folder(out, np.load(labels), np.load(probs), images=np.zeros((N, 8, 8, 3), np.uint8))
    assert snapshot(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".staged-")]


def test_a_new_detection_replaces_the_earlier_ones_files_it_has_no_counterpart_of(tmp_path):
    out, before = _earlier(tmp_path)
    labels, probs = _inputs(tmp_path, 1)
    assert cli("detect", "--labels", labels, "--pred-probs", probs, "--out", out)[0] == 0
    assert not (out / "suspects.png").exists() and (out / "label_issues.csv").read_bytes() != before["label_issues.csv"]


def test_a_made_folder_is_removed_again_when_the_detection_fails(tmp_path, monkeypatch):
    labels, probs = _inputs(tmp_path, 0)
    monkeypatch.setattr(WRITERS["summary"], _disk_full)
    with pytest.raises(OSError, match="disk full"):
        detect_to_folder(tmp_path / "new" / "det", np.load(labels), np.load(probs))
    assert not (tmp_path / "new" / "det").exists()
