"""``noisylabels predict``: a finished run's exported classifier on new images, one CSV row each."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from noisylabels.export import load_model
from tests.helpers import FAST, cli, one_line_error, snapshot

FMNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("predict") / "run"
    assert cli("train", "--dataset", "digits", *FAST, "--epochs", "2", "--out", run)[0] == 0
    return run


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_predict_reproduces_the_runs_test_accuracy_and_writes_top5(digits_run, tmp_path):
    out = tmp_path / "pred.csv"
    rc, text, _ = cli("predict", digits_run, "--images", "digits", "--out", out)
    summary = json.loads((digits_run / "summary.json").read_text())
    rows = _rows(out)
    assert rc == 0 and len(rows) == 360 and f"{summary['test_accuracy']:.2%}" in text
    acc = np.mean([r["predicted_class"] == r["given_class"] for r in rows])
    assert acc == pytest.approx(summary["test_accuracy"])
    top = rows[0]["top_classes"].split(";")
    assert len(top) == 5 and top[0] == rows[0]["predicted_class"]
    probs = [float(v) for v in rows[0]["top_probabilities"].split(";")]
    assert probs == sorted(probs, reverse=True) and float(rows[0]["probability"]) == probs[0]


def test_the_exported_model_loads_with_torch_alone(digits_run):
    program = torch.export.load(str(digits_run / "model.pt2")).module()
    module, info = load_model(digits_run)
    x = torch.randint(0, 255, (7, *info.image_shape), dtype=torch.uint8)
    p = program(x)
    assert p.shape == (7, 10) and torch.allclose(p.sum(1), torch.ones(7)) and torch.allclose(p, module(x))
    assert info.class_names == [str(i) for i in range(10)] and info.config["method"] == "ce"


@pytest.mark.parametrize("folder", ["in", "scans:2024", "npzx:in"])
def test_predict_a_plain_folder_of_photos_at_the_runs_shape(digits_run, tmp_path, folder):
    """A plain folder, also one whose name holds a colon but names no source kind ('scans:2024')."""
    rng = np.random.default_rng(0)
    (tmp_path / folder).mkdir()
    for k, (w, h) in enumerate([(40, 30), (8, 8), (300, 20)]):  # colour, any size: read grey at 8 x 8
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / folder / f"{k}.png")
    rc, _, err = cli("predict", digits_run, "--images", tmp_path / folder, "--out", tmp_path / "p.csv")
    assert rc == 0, err
    rows = _rows(tmp_path / "p.csv")
    assert [Path(r["path"]).name for r in rows] == ["0.png", "1.png", "2.png"]
    assert all(r["given_class"] == "" for r in rows)


@pytest.mark.skipif(not (FMNIST / "t10k-images-idx3-ubyte.gz").exists(), reason="needs dataset-fashion-mnist")
@pytest.mark.slow
def test_predict_on_fashion_mnist_test_images_reproduces_the_test_accuracy(tmp_path):
    run = tmp_path / "run"
    assert cli("train", "--dataset", "fashion-mnist", "--train-size", "600", "--epochs", "1", "--width", "8",
               "--quiet", "--out", run)[0] == 0
    assert cli("predict", run, "--images", "fashion-mnist", "--out", tmp_path / "p.csv")[0] == 0
    rows = _rows(tmp_path / "p.csv")
    acc = np.mean([r["predicted_class"] == r["given_class"] for r in rows])
    assert len(rows) == 10_000 and acc == pytest.approx(json.loads((run / "summary.json").read_text())["test_accuracy"])


def test_predict_refusals_are_one_line_and_keep_an_earlier_file(digits_run, tmp_path):
    out = tmp_path / "pred.csv"
    out.write_text("earlier\n")
    assert "exists" in one_line_error("predict", digits_run, "--images", "digits", "--out", out)
    assert "no trained model" in one_line_error("predict", tmp_path, "--images", "digits", "--out", tmp_path / "x.csv")
    (tmp_path / "bad.pt2").write_bytes(b"not a model")
    assert "not a model exported" in one_line_error("predict", tmp_path / "bad.pt2", "--images", "digits",
                                                     "--out", tmp_path / "y.csv")
    assert "no test split" in one_line_error("predict", digits_run, "--images", tmp_path, "--split", "test",
                                             "--out", tmp_path / "z.csv")
    assert out.read_text() == "earlier\n" and not (tmp_path / "x.csv").exists()
