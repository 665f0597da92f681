"""``noisylabels detect --dataset SRC --weights W``: label issues from a pretrained encoder, no training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from noisylabels.models.backbones import build_backbone
from tests.helpers import FAST, cli, corrected_labels, image_folder, snapshot, user_error

pytestmark = pytest.mark.slow
NOISE = ["--noise", "symmetric", "--noise-rate", "0.4"]


def test_detect_from_a_run_encoder(digits_run_template: Path, tmp_path: Path):
    out = tmp_path / "det"
    rc, stdout, err = cli("detect", "--dataset", "digits", *NOISE, "--weights", digits_run_template, "--out", out)
    assert rc == 0, err
    assert "labels flagged" in stdout and "ROC-AUC" in stdout
    s = json.loads((out / "summary.json").read_text())
    assert s["num_samples"] == 1437 and s["probe"] == "linear" and s["folds"] == 5
    assert s["encoder"] == "small-cnn" and s["detector"] == "confident-learning+context"
    assert 0.2 < s["noise_rate_actual"] < 0.5 and s["detection_auroc"] > 0.6  # a 1-epoch encoder still ranks
    probs = np.load(out / "pred_probs.npy")
    assert probs.shape == (1437, 10) and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert np.load(out / "features.npy").shape[0] == 1437
    saved = yaml.safe_load((out / "detect.yaml").read_text())
    assert saved["pretrained"] == str(digits_run_template) and saved["width"] == 8  # the run's own network
    assert (out / "label_issues.csv").read_text().count("\n") == 1438 and (out / "suspects.png").exists()
    # the noisy labels are those `noise` writes for the same flags
    assert cli("noise", "--dataset", "digits", *NOISE, "--out", tmp_path / "n.npy")[0] == 0
    given = np.load(tmp_path / "n.npy")
    rows = (out / "label_issues.csv").read_text().splitlines()
    head = rows[0].split(",")
    by_index = {int(r.split(",")[head.index("index")]): int(r.split(",")[head.index("given_label")]) for r in rows[1:]}
    assert np.array_equal([by_index[i] for i in sorted(by_index)], given)  # digits: training order = index order
    # the review page finds the images through detect.yaml
    rc, stdout, err = cli("review", out)
    assert rc == 0 and "1437 thumbnails" in stdout, stdout + err


def test_detect_from_a_weights_file_with_knn_on_a_folder(tmp_path: Path):
    root = image_folder(tmp_path / "imgs", per_class=12)
    encoder = build_backbone("small-cnn", in_channels=1, image_size=8, width=4)
    torch.save({"state_dict": encoder.state_dict()}, tmp_path / "enc.pt")
    out = tmp_path / "det"
    argv = ["detect", "--dataset", root, "--weights", tmp_path / "enc.pt", "--backbone", "small-cnn", "--width", "4",
            "--probe", "knn", "--k", "5", "--out", out]
    assert "--image-size" in user_error(argv, "does not fit")  # folder images decode at 32 px unless told
    rc, stdout, err = cli(*argv, "--image-size", "8")  # the size this small-cnn was built for
    assert rc == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["num_samples"] == 24 and s["probe"] == "knn" and s["k"] == 5  # every image: no test split held out
    assert "detection_auroc" not in s  # the folder's own labels: the truth is unknown
    assert "path" in (out / "label_issues.csv").read_text().splitlines()[0]


def test_detect_encoder_refusals(digits_run_template: Path, tmp_path: Path):
    run = str(digits_run_template)
    user_error(["detect", "--dataset", "digits", "--out", tmp_path / "a"], "--weights")
    user_error(["detect", "--weights", run, "--out", tmp_path / "a"], "--dataset")
    user_error(["detect", "--dataset", "digits", "--weights", run], "--out")
    user_error(["detect", "--dataset", "digits", "--weights", run, "--run", run, "--out", tmp_path / "a"], "either --run")
    user_error(["detect", "--dataset", "digits", "--weights", run, "--test-fraction", "0.2", "--out", tmp_path / "a"],
               "--test-fraction")
    user_error(["detect", "--dataset", "digits", "--weights", tmp_path / "none.pt", "--backbone", "resnet18",
                "--out", tmp_path / "a"], "none.pt")
    torch.save(build_backbone("small-cnn", in_channels=1, image_size=8, width=4).state_dict(), tmp_path / "enc.pt")
    user_error(["detect", "--dataset", "digits", "--weights", tmp_path / "enc.pt", "--out", tmp_path / "a"],
               "--backbone")
    user_error(["detect", "--dataset", "digits", "--weights", tmp_path / "enc.pt", "--backbone", "small-cnn",
                "--out", tmp_path / "a"], "does not fit")  # width 16 by default, the file's is 4
    user_error(["detect", "--dataset", "digits", "--weights", run, "--backbone", "preact-resnet18",
                "--out", tmp_path / "a"], "--backbone")
    user_error(["detect", "--dataset", "digits", "--weights", run, "--folds", "1", "--out", tmp_path / "a"], "--folds")
    user_error(["detect", "--dataset", "digits", "--weights", tmp_path, "--out", tmp_path / "a"], "finished training run")
    assert not (tmp_path / "a").exists()


def test_detect_encoder_leaves_a_run_folder_alone(earlier_run, tmp_path: Path):
    run, before = earlier_run
    user_error(["detect", "--dataset", "digits", "--weights", run, "--out", run], "training run")
    assert snapshot(run) == before


def test_review_and_apply_review_of_an_encoder_detection_inside_a_run(digits_run_template: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(digits_run_template, run)  # a clean run; the detection adds noise: its own samples
    out = run / "detect"
    assert cli("detect", "--dataset", "digits", *NOISE, "--weights", run, "--out", out)[0] == 0
    rows = (out / "label_issues.csv").read_text().splitlines()
    head = rows[0].split(",")
    top = dict(zip(head, rows[1].split(",")))  # the most suspect row
    decisions = tmp_path / "review_decisions.csv"
    decisions.write_text(f"index,decision,corrected_label\n{top['index']},relabel,{top['suggested_label']}\n")
    rc, stdout, err = cli("apply-review", out, decisions, "--out", tmp_path / "fixed")
    assert rc == 0, err
    assert "1 relabelled (1 labels changed)" in stdout and "--labels " in stdout
    fixed = np.array([int(v) for _, v in sorted(corrected_labels(tmp_path / "fixed").items())])
    assert cli("noise", "--dataset", "digits", *NOISE, "--out", tmp_path / "n.npy")[0] == 0
    given = np.load(tmp_path / "n.npy")  # the detection's noisy labels, not the clean run's
    assert int((fixed != given).sum()) == 1 and int(fixed[fixed != given][0]) == int(top["suggested_label"])
    # a later detection of other predictions into the same folder drops detect.yaml: review no longer
    # shows the digits behind labels they do not belong to
    other = tmp_path / "det"
    shutil.copytree(out, other)
    np.save(tmp_path / "l.npy", np.array([0, 1, 1, 0]))
    np.save(tmp_path / "p.npy", np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.6, 0.4]]))
    assert cli("detect", "--labels", tmp_path / "l.npy", "--pred-probs", tmp_path / "p.npy", "--out", other)[0] == 0
    assert not (other / "detect.yaml").exists() and not (other / "suspects.png").exists()
    rc, stdout, _ = cli("review", other)
    assert rc == 0 and "0 thumbnails" in stdout


def test_a_run_encoder_is_used_at_its_own_image_size(tmp_path: Path):
    root = image_folder(tmp_path / "imgs", per_class=8)
    run = tmp_path / "run"
    assert cli("train", "--dataset", root, "--image-size", "12", *FAST, "--out", run)[0] == 0
    out = tmp_path / "det"
    rc, _, err = cli("detect", "--dataset", root, "--weights", run, "--out", out)
    assert rc == 0, err
    assert yaml.safe_load((out / "detect.yaml").read_text())["image_size"] == 12
    user_error(["detect", "--dataset", root, "--weights", run, "--image-size", "16", "--out", tmp_path / "x"],
               "--image-size")  # another size: the small CNN's head does not fit; the error says what to pass


def test_data_flags_belong_to_the_encoder_mode(digits_run_template: Path, tmp_path: Path):
    user_error(["detect", "--run", digits_run_template, "--test-fraction", "0.2", "--out", tmp_path / "a"],
               "either --run")
