"""Label issues for any model (`detect`), cleanlab-retrain, pred_probs export and the bench runner."""

import csv
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noisylabels.bench import parse_case, results_markdown, run_grid
from noisylabels.issues import detect_issues, run_test_accuracy
from noisylabels.probe import stratified_folds
from noisylabels.runs import RunFolder
from tests.helpers import cli, image_folder


def _planted(n: int = 400, c: int = 4, seed: int = 0):
    """Predictions that are right about the truth, labels with 25% planted errors, features near the
    true class's direction."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, c, n)
    given = true.copy()
    wrong = rng.random(n) < 0.25
    given[wrong] = (true[wrong] + rng.integers(1, c, wrong.sum())) % c
    probs = rng.dirichlet(np.ones(c), n) * 0.3
    probs[np.arange(n), true] += 0.7
    feats = np.eye(c)[true] + 0.3 * rng.standard_normal((n, c))
    return given, true, probs / probs.sum(1, keepdims=True), feats


def test_detect_issues_with_and_without_features():
    from sklearn.metrics import roc_auc_score

    given, true, probs, feats = _planted()
    for f, name in ((None, "confident-learning"), (feats, "confident-learning+context")):
        issues = detect_issues(given, probs, features=f)
        assert issues.detector == name and roc_auc_score(given != true, -issues.quality) > 0.95
        assert abs(issues.flags.mean() - (given != true).mean()) < 0.08
        flagged = issues.flags & (given != true)
        assert np.mean(issues.suggested[flagged] == true[flagged]) > 0.9


def test_detect_on_user_files_writes_ranked_csv_and_grid(tmp_path):
    given, true, probs, feats = _planted()
    for name, arr in (("labels", given), ("probs", probs), ("feats", feats), ("true", true),
                      ("images", np.random.default_rng(0).integers(0, 255, (len(given), 8, 8), dtype=np.uint8))):
        np.save(tmp_path / f"{name}.npy", arr)
    out = tmp_path / "det"
    rc, stdout, err = cli("detect", "--labels", str(tmp_path / "labels.npy"), "--pred-probs",
                          str(tmp_path / "probs.npy"), "--features", str(tmp_path / "feats.npy"), "--true-labels",
                          str(tmp_path / "true.npy"), "--images", str(tmp_path / "images.npy"), "--out", str(out))
    assert rc == 0, err
    assert "detection ROC-AUC" in stdout
    rows = list(csv.DictReader(open(out / "label_issues.csv")))
    assert [k for k in rows[0]][:5] == ["index", "given_label", "predicted_label", "label_quality", "is_label_issue"]
    q = [float(r["label_quality"]) for r in rows]
    assert q == sorted(q) and len(rows) == len(given)
    assert json.loads((out / "summary.json").read_text())["detection_auroc"] > 0.95
    assert (out / "suspects.png").stat().st_size > 0


@pytest.mark.parametrize("probs_shape, message", [((10, 3), "rows but there are"), ((12,), "2-D float array")])
def test_detect_bad_inputs_are_one_line_errors(tmp_path, probs_shape, message):
    np.save(tmp_path / "labels.npy", np.zeros(12, dtype=np.int64))
    np.save(tmp_path / "probs.npy", np.full(probs_shape, 1 / 3))
    rc, _, err = cli("detect", "--labels", str(tmp_path / "labels.npy"), "--pred-probs",
                     str(tmp_path / "probs.npy"), "--out", str(tmp_path / "o"))
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_logits_instead_of_probabilities_are_refused(tmp_path):
    np.save(tmp_path / "labels.npy", np.zeros(4, dtype=np.int64))
    np.save(tmp_path / "probs.npy", np.array([[2.0, -1.0]] * 4))
    rc, _, err = cli("detect", "--labels", str(tmp_path / "labels.npy"), "--pred-probs",
                     str(tmp_path / "probs.npy"), "--out", str(tmp_path / "o"))
    assert rc == 2 and "not logits" in err


def test_stratified_folds_balance_classes():
    labels = np.repeat(np.arange(3), [10, 7, 5])
    fold = stratified_folds(labels, 5, seed=0)
    for c in range(3):
        counts = np.bincount(fold[labels == c], minlength=5)
        assert counts.max() - counts.min() <= 1


def test_parse_case():
    assert parse_case("sym80") == ("symmetric", 0.8)
    assert parse_case("symex40") == ("symmetric-exclusive", 0.4)
    assert parse_case("none") == ("none", 0.0)
    with pytest.raises(Exception, match="bad case"):
        parse_case("sym")
    assert parse_case("n-worst", dataset="cifar10", data_dir="/d") == ("file:/d/CIFAR-10_human.pt#worse_label", 0.0)
    assert parse_case("n-noisy", dataset="cifar100", data_dir="/d")[0] == "file:/d/CIFAR-100_human.pt#noisy_label"
    with pytest.raises(Exception, match="CIFAR-N cases are"):
        parse_case("n-worst", dataset="fashion-mnist", data_dir="/d")
    with pytest.raises(Exception, match="give --data-dir"):
        parse_case("n-aggre", dataset="cifar10")


def test_cifar_protocols_give_tcl_its_published_settings(tmp_path, monkeypatch):
    """The cells' configurations, captured instead of trained: TCL gets the official global batch 1,024 /
    lr 0.12 / warm-up 20, CE keeps the defaults, a --set value wins over both."""
    import noisylabels.app.run as app_run

    seen = []

    def fake_train(cfg, out, **_):
        seen.append(cfg)
        raise SystemExit  # stop after the first cell of each call

    monkeypatch.setattr(app_run, "run_train", fake_train)
    scale = {"method_options": {"scale1": 1.0}}  # what --set scale1=1 gives
    for method, extra in (("tcl", None), ("ce", None), ("tcl", {"lr": 0.1}), ("tcl", scale)):
        with pytest.raises(SystemExit):
            run_grid("cifar100-paper", [method], tmp_path / method, cases=["sym90"], extra=extra, log=lambda s: None)
    tcl, ce, tcl_set, tcl_scale = seen
    assert tcl_scale["method_options"] == {"warmup_epochs": 20, "feature_dim": 256, "scale1": 1.0, "scale2": 1.0,
                                           "strong_crop_min": 0.2, "solarize": 0.5, "per_class_gmm": True,
                                           "selection": "gmm", "weight_weak": 0.0,
                                           "jitter": "torchvision"}  # the official cifar100_90 config
    from noisylabels.bench import _options_of

    assert _options_of("ce", scale) == {}  # in a ce,tcl grid, scale1 reaches only tcl
    with pytest.raises(SystemExit):  # the framework's shared SimCLR run gets no tcl option
        run_grid("cifar100-paper", ["framework:elr", "tcl"], tmp_path / "fw", cases=["sym90"], extra=scale,
                 log=lambda s: None)
    assert seen[-1]["method"] == "simclr" and seen[-1]["method_options"] == {}
    with pytest.raises(Exception, match="--set scale1: no method in --methods has this option"):
        run_grid("cifar100-paper", ["ce"], tmp_path / "x", cases=["sym90"], extra=scale, log=lambda s: None)
    assert tcl["batch_size"] == 1024 and tcl["lr"] == 0.12 and tcl["method_options"]["warmup_epochs"] == 20
    assert tcl["dataset"] == "cifar100" and tcl["noise_rate"] == 0.9 and tcl["epochs"] == 200
    assert "batch_size" not in ce and ce["method_options"] == {}
    assert tcl_set["lr"] == 0.1 and tcl_set["batch_size"] == 1024


@pytest.mark.slow
def test_bench_digits_mini_with_cleanlab_and_detect_from_a_run(tmp_path):
    """The bench grid (two methods, two cases), resumability (a second call skips), results files;
    pred_probs.npy from every run; detect on a finished run folder."""
    out = tmp_path / "bench"
    argv = ["bench", "--protocol", "digits-mini", "--methods", "ce,cleanlab-retrain", "--cases", "none,sym50",
            "--epochs", "3", "--set", "width=8", "--out", str(out)]
    rc, stdout, err = cli(*argv)
    assert rc == 0, err
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {(r["method"], r["case"]) for r in rows} == {(m, c) for m in ("ce", "cleanlab-retrain") for c in ("none", "sym50")}
    md = (out / "results.md").read_text()
    assert "| cleanlab-retrain | sym50 | 1437 | 3 | 1 |" in md
    for png in ("accuracy_vs_noise.png", "detection_roc.png"):
        assert (out / "plots" / png).stat().st_size > 0
    run = out / "cleanlab-retrain" / "sym50-s0"
    probs = np.load(run / "pred_probs.npy")
    assert probs.shape == (1437, 10) and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert sorted(p.name for p in run.glob("phase-*")) == [f"phase-fold{k}" for k in range(1, 6)] + ["phase-retrain"]
    rc, stdout, _ = cli(*argv)
    assert rc == 0 and stdout.count("| sym50 |") == 2
    # other settings into the same folder: refused, not silently mixed into the table
    before = (out / "results.csv").read_text()
    rc, _, err = cli(*[a if a != "3" else "4" for a in argv])
    assert rc != 0 and "epochs 3 -> 4" in err and "another --out" in err
    assert (out / "results.csv").read_text() == before
    # report only: a method and a case never run are left out, nothing is trained
    rc, stdout, err = cli("bench", "--protocol", "digits-mini", "--methods", "ce,tcl", "--cases",
                          "sym50,sym80", "--report-only", "--out", str(out))
    assert rc == 0, err
    assert {(r["method"], r["case"]) for r in csv.DictReader(open(out / "results.csv"))} == {("ce", "sym50")}
    assert not (out / "tcl").exists()
    rc, stdout, err = cli("detect", "--run", str(out / "ce" / "sym50-s0"))
    assert rc == 0, err
    assert (out / "ce" / "sym50-s0" / "detect" / "suspects.png").exists()
    assert json.loads((out / "ce" / "sym50-s0" / "detect" / "summary.json").read_text())["detector"] == "confident-learning+context"
    # detect --run ranks, flags and suggests exactly as the run itself did
    assert (out / "ce" / "sym50-s0" / "detect" / "label_issues.csv").read_text() == \
        (out / "ce" / "sym50-s0" / "label_issues.csv").read_text()


def test_detect_run_uses_the_runs_context_ranking():
    """TCL's runs rank with p(y~|x) at their own tau, every other method with the class-normalised
    quality at CONTEXT_TEMPERATURE."""
    from noisylabels.detect import CONTEXT_TEMPERATURE, ContextRanking
    from noisylabels.issues import run_context_ranking

    assert run_context_ranking({"method": "tcl", "method_options": {"temperature": 0.5}}) == \
        ContextRanking(0.5, "probability")
    assert run_context_ranking({"method": "tcl"}) == ContextRanking(0.25, "probability")
    assert run_context_ranking({"method": "elr", "method_options": {}}) == ContextRanking(CONTEXT_TEMPERATURE, "normalised")


def test_results_markdown_states_n_and_std():
    rows = [{"method": "ce", "case": "sym50", "seed": s, "epochs": 3, "test_accuracy": a, "best_test_accuracy": a,
             "detection_auroc": 0.9, "detection_f1": 0.8, "noise_rate_estimated": 0.4, "noise_rate_actual": 0.45,
             "train_seconds": 1.0, "images_per_second": 10.0, "device": "cpu", "torch_version": "x", "backbone": "b"}
            for s, a in ((0, 0.5), (1, 0.7))]
    md = results_markdown("digits-mini", rows)
    assert "| ce | sym50 | – | 3 | 2 | 60.0 ± 14.1 |" in md


def test_settings_differ_reads_the_saved_config(tmp_path):
    from noisylabels.bench import settings_differ

    assert settings_differ(tmp_path, {"epochs": 3}) == []  # no run there yet
    (tmp_path / "config.yaml").write_text("epochs: 3\nlr: 0.05\nmethod_options:\n  scale1: null\n  temperature: 0.25\n")
    same = {"epochs": 3, "progress": False, "method_options": {"temperature": 0.25}}
    assert settings_differ(tmp_path, same) == []
    other = {"epochs": 3, "lr": 0.1, "method_options": {"scale1": 1.0}}
    assert settings_differ(tmp_path, other) == ["lr 0.05 -> 0.1", "method_options.scale1 None -> 1.0"]


def test_train_sizes_are_a_grid_axis(tmp_path, monkeypatch):
    import noisylabels.app.run as app_run

    seen = []

    def fake_train(cfg, out, **_):
        seen.append((cfg["train_size"], cfg["noise"], cfg["noise_rate"], str(out)))
        raise SystemExit

    monkeypatch.setattr(app_run, "run_train", fake_train)
    for size in (3000, 10000):
        with pytest.raises(SystemExit):
            run_grid("fmnist-mini", ["ce"], tmp_path, cases=["cc15"], train_sizes=[size], log=lambda s: None)
    assert seen == [(3000, "lookalike", 0.15, str(tmp_path / "ce" / "cc15-n3000-s0")),
                    (10000, "lookalike", 0.15, str(tmp_path / "ce" / "cc15-n10000-s0"))]
    assert parse_case("cc15") == ("lookalike", 0.15)


@pytest.mark.slow
@pytest.mark.parametrize("source", ["digits", "folder"])
def test_train_and_detect_export_the_same_label_issues(tmp_path, capsys, source):
    """One exporter (issues.export_label_issues): `train` and `detect --run` on the same labels and
    probabilities and features, with the same detector (a ce run: confident learning ranked with the
    context of its features, reproduced from features.npy), write
    byte-identical label_issues.csv files (columns, order, formatting; true labels, class names and,
    for a file source, paths) and the same label-issue entries in summary.json."""
    dataset = "digits" if source == "digits" else image_folder(tmp_path / "data")
    run = tmp_path / "run"
    rc, _, err = cli("train", "--dataset", dataset, "--noise", "pairflip", "--noise-rate", "0.3",
                      "--method", "ce", "--epochs", "1", "--width", "8", "--batch-size", "8", "--quiet",
                      "--out", str(run))
    assert rc == 0, err
    rc, _, err = cli("detect", "--run", str(run), "--out", str(tmp_path / "det"))
    assert rc == 0, err
    trained = (run / "label_issues.csv").read_bytes()
    assert (tmp_path / "det" / "label_issues.csv").read_bytes() == trained
    header = trained.decode().splitlines()[0].split(",")
    assert header == ["index", "given_label", "predicted_label", "label_quality", "is_label_issue", "suggested_label",
                      "suggested_probability", "true_label", "given_name", "predicted_name", "suggested_name"] + (
                          ["path"] if source == "folder" else [])
    s_train = json.loads((run / "summary.json").read_text())
    s_detect = json.loads((tmp_path / "det" / "summary.json").read_text())
    shared = ["detector", "num_label_issues", "noise_rate_estimated", "detection_auroc", "detection_auprc",
              "detection_precision", "detection_recall", "detection_f1", "detection_accuracy", "flagged_to_actual",
              "class_summary", "noise_rate_actual", "train_accuracy_vs_truth", "count_warnings", "count_uncertain"]
    assert {k: s_detect[k] for k in shared} == {k: s_train[k] for k in shared}
    assert s_detect["held_out_accuracy"] == s_train["test_accuracy"]  # the run's, judged with as the run was
    assert s_detect["detector"] == "confident-learning+context" and s_detect["num_samples"] == s_train["num_train"]


@pytest.mark.slow
def test_detect_run_on_a_run_trained_with_exclude(tmp_path, digits_run_template):
    """A run trained with --exclude: detect --run rebuilds the training set the run trained on (without
    the excluded samples) and rewrites its label_issues.csv; before, it refused the run ('its data now
    has 1437 training samples, the run had 1431')."""
    rows = (digits_run_template / "label_issues.csv").read_text().splitlines()[1:]
    dropped = {int(r.split(",")[0]) for r in rows[::240]}  # six source indices of the digits training set
    (tmp_path / "excluded.txt").write_text("".join(f"{i}\n" for i in sorted(dropped)))
    run = tmp_path / "run"
    rc, _, err = cli("train", "--dataset", "digits", "--noise", "symmetric", "--noise-rate", "0.3", "--method", "ce",
                     "--epochs", "1", "--width", "8", "--quiet", "--exclude", tmp_path / "excluded.txt", "--out", run)
    assert rc == 0, err
    rc, _, err = cli("detect", "--run", run, "--out", tmp_path / "det")
    assert rc == 0, err
    table = (run / "label_issues.csv").read_text()
    assert (tmp_path / "det" / "label_issues.csv").read_text() == table
    indices = {int(line.split(",")[0]) for line in table.splitlines()[1:]}
    assert len(dropped) == 6 and len(indices) == 1437 - 6 and not indices & dropped


def test_detect_from_features_alone_votes_with_the_neighbours(tmp_path):
    """--labels with --features and no --pred-probs: leave-one-out kNN votes are the probabilities; the
    summary says how the count was made and which probabilities it read."""
    given, true, _, feats = _planted()
    np.save(tmp_path / "labels.npy", given)
    np.save(tmp_path / "feats.npy", feats)
    np.save(tmp_path / "true.npy", true)
    out = tmp_path / "det"
    rc, stdout, err = cli("detect", "--labels", str(tmp_path / "labels.npy"), "--features", str(tmp_path / "feats.npy"),
                          "--true-labels", str(tmp_path / "true.npy"), "--k", "10", "--out", str(out))
    assert rc == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["probe"] == "knn" and s["k"] == 10 and s["probabilities"] == "out-of-sample"
    assert s["detection_auroc"] > 0.9 and 0.5 < s["flagged_to_actual"] < 2
    assert set(s["count_estimates"]) == {"confident_joint", "disagreement"}


def test_in_sample_flag_counts_as_a_run_does(tmp_path):
    given, _, probs, _ = _planted()
    np.save(tmp_path / "labels.npy", given)
    np.save(tmp_path / "probs.npy", probs)
    rc, _, err = cli("detect", "--labels", str(tmp_path / "labels.npy"), "--pred-probs", str(tmp_path / "probs.npy"),
                     "--in-sample", "--out", str(tmp_path / "det"))
    assert rc == 0, err
    s = json.loads((tmp_path / "det" / "summary.json").read_text())
    assert s["probabilities"] == "in-sample" and set(s["count_estimates"]) == {"anchor"}
    rc, _, err = cli("detect", "--labels", str(tmp_path / "labels.npy"), "--features", str(tmp_path / "probs.npy"),
                     "--in-sample", "--out", str(tmp_path / "det2"))
    assert rc == 2 and "--in-sample describes --pred-probs" in err and not (tmp_path / "det2").exists()


def test_cleanlab_retrain_predicts_a_streamed_fold_as_a_store(monkeypatch):
    """The held-out fold of a streamed set reaches the predictions as a store (decoded batch by batch),
    never as one decoded tensor of the whole fold (about 31 GB a rank on Clothing1M)."""
    import torch

    from noisylabels.data.store import ImageStore
    from noisylabels.methods import cleanlab_retrain as cr
    from noisylabels.methods.base import TrainData
    from noisylabels.data.augment import ViewConfig
    from noisylabels.models.backbones import build_backbone
    from noisylabels.schedule import FitConfig
    from tests.helpers import memory_store

    n = 120
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 8, 8, 1), dtype=torch.uint8, generator=g)
    labels = torch.arange(n) % 3
    data = TrainData(images=memory_store(images, max_batch=64), labels=labels, true_labels=labels.clone(), test_images=images[:8],
                     test_labels=labels[:8], num_classes=3, views=ViewConfig(crop_pad=1, flip=False, mean=(0.3,), std=(0.3,)))
    seen = []
    monkeypatch.setattr(cr, "predict_probs", lambda model, imgs, views: (seen.append(imgs), torch.full((len(imgs), 3), 1 / 3))[1])
    method = cr.CleanlabRetrain(build_backbone("small-cnn", in_channels=1, image_size=8, width=4), 3, n, cr.CleanlabRetrainOptions(folds=2))
    phases = method.phases(data, FitConfig(epochs=1, batch_size=32, progress=False), pretrained=False, log=lambda s: None)
    next(phases)
    next(phases)
    assert seen and all(isinstance(s, ImageStore) for s in seen)


def test_a_runs_probabilities_are_counted_as_where_they_come_from():
    from noisylabels.issues import run_provenance

    assert run_provenance({"method": "cleanlab-retrain"}) == "out-of-sample"  # its K-fold probabilities
    assert {run_provenance({"method": m}) for m in ("ce", "tcl", "framework")} == {"in-sample"}


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                     max_leaves=6)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(value=_JSON, raw=st.sampled_from([None, b"", b"\xff\xfe", b"[1]", b"{", b"NaN"]))
def test_detect_run_reads_only_a_valid_test_accuracy(tmp_path_factory, value, raw):
    """Every value a summary.json may hold under test_accuracy (NaN from a run without a test set, a
    hand-edited string, a list, a bool, a number out of [0, 1]) and a damaged or missing file: a float in
    [0, 1] or None, never an error."""
    run = RunFolder(tmp_path_factory.mktemp("run"))
    if raw is None:
        (run.path / "summary.json").write_text(json.dumps({"test_accuracy": value}), encoding="utf-8")
    elif raw != b"":
        (run.path / "summary.json").write_bytes(raw)
    got = run_test_accuracy(run)
    ok = (raw is None and not isinstance(value, bool) and isinstance(value, (int, float)) and 0 <= value <= 1)
    assert got == (float(value) if ok else None)
