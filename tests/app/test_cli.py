"""The command line end to end: real training on digits, resume, and every bad input's one-line error."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from noisylabels.cli import main
from tests.helpers import FAST, ROOT, TINY, cli, one_line_error, snapshot


@pytest.mark.slow
def test_ce_learns_digits_with_40_percent_noise(tmp_path):
    out = tmp_path / "ce"
    rc, stdout, _ = cli("train", "--dataset", "digits", "--noise", "symmetric", "--noise-rate", "0.4",
                        "--method", "ce", "--epochs", "10", "--quiet", "--out", out)
    assert rc == 0, stdout
    s = json.loads((out / "summary.json").read_text())
    assert s["test_accuracy"] >= 0.85
    for key in ("method", "dataset", "noise", "noise_rate", "noise_rate_actual", "noisy_labels_sha256", "epochs",
                "test_accuracy", "best_test_accuracy", "train_seconds", "images_per_second", "device",
                "torch_version"):
        assert key in s
    assert 0.3 < s["noise_rate_actual"] < 0.4  # symmetric: ~ r (C-1)/C
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 11))
    # 10 classes: top-5 in every epoch's record and in the summary (last epoch's, and the highest)
    assert s["test_top5_accuracy"] == rows[-1]["test_top5_accuracy"] >= s["test_accuracy"]
    assert s["best_test_top5_accuracy"] == max(r["test_top5_accuracy"] for r in rows)
    labels = np.load(out / "noisy_labels.npy")
    assert len(labels) == s["num_train"]
    header = (out / "label_issues.csv").read_text().splitlines()[0].split(",")
    assert header[:7] == ["index", "given_label", "predicted_label", "label_quality", "is_label_issue",
                          "suggested_label", "suggested_probability"]
    assert (out / "plots" / "curves.png").stat().st_size > 0
    assert (out / "plots" / "class_noise.png").stat().st_size > 0
    assert s["detection_auroc"] > 0.8 and s["detection_auprc"] > 0.6
    assert s["detector"] == "confident-learning+context"  # ce has features: ranked with their context (8e4e100)
    assert 0.5 < s["flagged_to_actual"] < 1.5
    per_class = s["class_summary"]["per_class"]
    assert len(per_class) == 10 and sum(c["flagged"] for c in per_class) == s["num_label_issues"]
    assert sum(p["count"] for p in s["class_summary"]["confused_pairs"]) <= s["num_label_issues"]


@pytest.mark.slow
def test_resume_continues_and_extends(tmp_path):
    out = str(tmp_path / "run")
    assert cli("train", "--dataset", "digits", "--noise", "pairflip", "--noise-rate", "0.2",
               "--epochs", "2", *TINY, "--out", out)[0] == 0
    rc, _, err = cli("train", "--dataset", "digits", "--epochs", "2", *TINY, "--out", out)
    assert rc == 2 and "already holds a run" in err and "--resume" in err
    assert cli("train", "--resume", "--epochs", "3", "--quiet", "--out", out)[0] == 0
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert json.load(open(os.path.join(out, "summary.json")))["epochs"] == 3


def test_noise_command_writes_labels_and_prints_actual_rate(tmp_path):
    target = tmp_path / "noisy.npy"
    rc, out, _ = cli("noise", "--dataset", "digits", "--noise", "symmetric-exclusive", "--noise-rate",
                     "0.3", "--seed", "1", "--out", target)
    assert rc == 0 and "symmetric-exclusive 0.3 (actual 0.300)" in out  # round(0.3 * 1437) / 1437
    assert len(np.load(target)) == 1437


@pytest.mark.parametrize("noise", ["pairflip", "instance", "lookalike"])
def test_noise_command_writes_the_labels_train_trains_on(tmp_path, capsys, noise):
    """One noise path (app.build.noisy_training_labels): `noise` and `train` with the same data and noise
    flags give the same labels, also for the generators that read the images."""
    from noisylabels.app.build import prepare

    target = tmp_path / "noisy.npy"
    rc, out, err = cli("noise", "--dataset", "digits", "--noise", noise, "--noise-rate", "0.3", "--seed", "3",
                        "--train-size", "500", "--out", str(target))
    assert rc == 0, err
    prep = prepare({"dataset": "digits", "noise": noise, "noise_rate": 0.3, "seed": 3, "train_size": 500, "width": 8})
    assert np.array_equal(np.load(target), prep.noisy) and (prep.noisy != prep.splits.train.labels).any()
    assert f"(actual {prep.report['noise_rate_actual']:.3f})" in out


def test_noise_command_refuses_what_train_refuses(tmp_path, capsys):
    """The checks of the shared noise path: the dataset is named in the asymmetric error (the `noise`
    command named None), and image-reading noise on streamed images is refused by both."""
    from PIL import Image

    for command, out in (("noise", tmp_path / "n.npy"), ("train", tmp_path / "run")):
        rc, _, err = cli(command, "--dataset", "digits", "--noise", "asymmetric", "--noise-rate", "0.3",
                         "--out", str(out))
        assert rc == 2 and "not 'digits'" in err, err
    for c in ("a", "b"):
        (tmp_path / "data" / c).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (8, 8), 50 + 100 * (c == "b") + i).save(tmp_path / "data" / c / f"{i}.png")
    folder = ["--dataset", f"folder:{tmp_path / 'data'}", "--stream", "on", "--noise", "instance", "--noise-rate", "0.2"]
    for command, out in (("noise", tmp_path / "n.npy"), ("train", tmp_path / "run")):
        rc, _, err = cli(command, *folder, "--out", str(out))
        assert rc == 2 and "needs every image in memory" in err, err
        assert not out.exists()


@pytest.mark.parametrize("argv, needle", [
    (["--dataset", "nosuch"], "unknown"),
    (["--method", "nosuch"], "unknown method"),
    (["--noise", "nosuch"], "noise"),
    (["--noise", "symmetric", "--noise-rate", "1.5"], "[0, 1]"),
    (["--noise", "symmetric"], "needs --noise-rate"),
    (["--noise", "asymmetric", "--noise-rate", "0.3"], "asymmetric"),
    (["--noise", "file:/nonexistent/labels.npy"], "/nonexistent/labels.npy"),
    (["--dataset", "fashion-mnist", "--data-dir", "/nonexistent"], "apt"),
    (["--dataset", "npz:/nonexistent.npz"], "/nonexistent.npz"),
    (["--epochs", "0"], "--epochs"),
    (["--config", "/nonexistent.yaml"], "/nonexistent.yaml"),
    (["--temperature", "abc"], "temperature"),
    (["--method", "tcl", "--scale1", "half"], "--scale1"),
    (["--method", "tcl", "--scale2", "2"], "[0, 1]"),
    (["--method", "tcl", "--warmup-epochs", "1"], "--warmup-epochs"),  # all of --epochs 1: no cross-supervision
])
def test_bad_input_is_one_line_exit_2_and_keeps_the_previous_run(earlier_run, argv, needle):
    out, before = earlier_run  # a finished 1-epoch digits run (train --dataset digits --epochs 1 --width 8 ...)
    base = ["train", "--dataset", "digits", "--epochs", "1", "--quiet", "--overwrite", "--out", str(out)]
    line = one_line_error(*base, *argv)  # argparse type errors exit directly: counted as the exit code
    assert needle in line
    assert snapshot(out) == before  # every file, plots/ included


def test_labels_file_of_wrong_length_is_refused(tmp_path):
    bad = tmp_path / "short.npy"
    np.save(bad, np.zeros(10, dtype=np.int64))
    rc, _, err = cli("train", "--dataset", "digits", "--noise", f"file:{bad}", "--out", tmp_path / "r")
    assert rc == 2 and "10" in err and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_console_script_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "noisylabels", "train", "--dataset", "digits", "--method", "zzz",
                           "--out", "/tmp/never"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_boolean_method_options_take_a_bare_flag_or_a_value():
    from noisylabels.cli import build_parser

    parse = build_parser().parse_args
    base = ["train", "--method", "tcl", "--out", "x"]
    assert parse(base + ["--per-class-gmm"]).opt_per_class_gmm is True
    assert parse(base + ["--per-class-gmm", "false"]).opt_per_class_gmm is False
    assert parse(base + ["--per-class-gmm", "true", "--epochs", "3"]).opt_per_class_gmm is True
    assert parse(base).opt_per_class_gmm is None  # the method's default applies


def test_tcl_scales_take_a_number_or_auto():
    from noisylabels.cli import build_parser

    parse = build_parser().parse_args
    base = ["train", "--method", "tcl", "--out", "x"]
    assert parse(base + ["--scale1", "auto"]).opt_scale1 == "auto"
    assert parse(base + ["--scale2", "0.5"]).opt_scale2 == 0.5


@pytest.mark.parametrize("name", ["tcl_cifar10_sym90", "tcl_cifar100_sym90", "tcl_fmnist_mini"])
def test_shipped_configs_name_only_known_options(name):
    """Every key of a shipped config is a train option, and its method options belong to its method."""
    from noisylabels.cli import _read_yaml_config
    from noisylabels.methods import get_method
    from noisylabels.config import resolve_method_options

    path = ROOT / "configs" / f"{name}.yaml"
    cfg = _read_yaml_config(str(path))
    options = resolve_method_options(get_method(cfg["method"]), cfg["method_options"])
    assert options["temperature"] == 0.25
    if name == "tcl_fmnist_mini":
        got = (options["scale1"], options["strong_crop_min"], options["solarize"], options["weight_marginal"])
        assert got == (1.0, 0.6, 0.0, 3.0)  # docs/RESULTS.md, "the fmnist-mini recipe"
    else:  # the paper's runs keep the official scales (cifar100_90_prer18.yml sets scale2 to 1)
        want = ("auto", 1.0, True) if "cifar100" in name else ("auto", "auto", False)
        assert (options["scale1"], options["scale2"], options["per_class_gmm"]) == want
        assert (options["strong_crop_min"], options["solarize"]) == (0.2, 0.5)  # the official strong views


@pytest.mark.parametrize("method, flag, default", [
    ("tcl", "--temperature", "0.25"), ("framework", "--temperature", "0.5"), ("simclr", "--temperature", "0.5"),
    ("tcl", "--mixup-alpha", "1"), ("framework", "--mixup-alpha", "32"),
    ("nce-rce", "--alpha", "1"), ("sce", "--alpha", "0.1"), ("nfl-rce", "--rce-log-zero", "-9.21034"),
])
def test_train_help_shows_the_chosen_methods_own_defaults(capsys, method, flag, default):
    with pytest.raises(SystemExit) as e:
        main(["train", "--method", method, "--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"options of --method {method}" in text
    assert f"{flag} X (default: {default})" in text
    if method == "tcl":
        assert "--folds" not in text and "Train defaults of this method: --batch-size 128; --lr 0.05" in text


def test_train_help_without_a_method_names_each_options_methods(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--folds N option of cleanlab-retrain" in text and "--method M --help" in text


def test_an_option_of_another_method_is_refused_by_name(tmp_path, capsys):
    rc = main(["train", "--dataset", "digits", "--method", "ce", "--temperature", "0.5", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "method 'ce' has no option(s) temperature" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_train_ends_with_the_label_issue_report_and_the_next_command(tmp_path):
    out = tmp_path / "run"
    rc, stdout, err = cli("train", "--dataset", "digits", *FAST, "--noise", "symmetric", "--noise-rate", "0.3",
                          "--out", out)
    assert rc == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert f"label issues: {summary['num_label_issues']} of {summary['num_train']} labels flagged" in stdout
    assert "most suspect (index: given -> suggested, quality):" in stdout and stdout.count("  #") == 5
    assert f"next: noisylabels review {out}" in stdout


def test_train_and_noise_require_the_dataset(tmp_path):
    """A forgotten --dataset is refused (it trained on digits silently); a wrong value given is named first."""
    for command, out in (("train", tmp_path / "run"), ("noise", tmp_path / "n.npy")):
        line = one_line_error(command, "--noise", "symmetric", "--noise-rate", "0.2", "--out", out)
        assert "--dataset is required" in line and not out.exists()
        assert "--noise-rate must be" in one_line_error(command, "--noise", "symmetric", "--noise-rate", "2",
                                                        "--out", out)
    assert "--epochs must be at least 1" in one_line_error("train", "--epochs", "0", "--out", tmp_path / "run")


class _Reached(Exception):
    """Raised in place of training: every check passed."""


def test_dataset_given_in_a_config_file_counts(tmp_path, monkeypatch):
    import noisylabels.app.run as app_run

    def stop(method, data, fit, run, **kwargs):
        raise _Reached(fit)

    monkeypatch.setattr(app_run, "train", stop)
    (tmp_path / "c.yaml").write_text("dataset: digits\nepochs: 1\n")
    with pytest.raises(_Reached) as reached:
        cli("train", "--config", tmp_path / "c.yaml", *TINY, "--out", tmp_path / "run")
    assert reached.value.args[0].epochs == 1


def test_detect_help_shows_its_three_modes(capsys):
    with pytest.raises(SystemExit):
        main(["detect", "--help"])
    text = capsys.readouterr().out
    for mode, flags in (("mode 1: a finished training run", "--run DIR"),
                        ("mode 2: your own arrays", "--pred-probs FILE"),
                        ("mode 3: a dataset and a pretrained encoder", "--weights FILE")):
        assert mode in text and flags in text.split(mode, 1)[1]
    assert "--test-fraction" not in text and "examples:" in text
