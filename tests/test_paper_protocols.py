"""The real-noise bench protocols: webvision-paper (Inception-ResNet-v2 from scratch, WebVision
and ImageNet validation sets) and clothing1m-paper (an ImageNet ResNet-50 from --set weights=PATH, class-balanced
epochs), end to end on tiny trees in each dataset's layout, every reported figure present."""

import csv
import json

import pytest
import torch

import noisylabels.app.run as app_run
from noisylabels.bench import PROTOCOLS, results_markdown, run_grid
from noisylabels.errors import UserError
from noisylabels.models.backbones import IMAGENET_MEAN, build_backbone
from noisylabels.runs import RunFolder
from tests.helpers import cli, clothing1m_tree, imagenet_val_tree, webvision_tree

QUIET = {"log": lambda s: None}


@pytest.fixture
def resnet50_weights(tmp_path):
    """A random ResNet-50 at width 8 (the tests' stand-in for torchvision's ImageNet weights), as torch.save
    writes a state dict."""
    torch.manual_seed(0)
    path = tmp_path / "resnet50-w8.pth"
    torch.save(build_backbone("resnet50", in_channels=3, image_size=32, width=8).state_dict(), path)
    return path


def _fake_grid(tmp_path, monkeypatch, protocol, **kwargs):
    """The configurations run_grid hands each cell (nothing trained): [(folder, parent folder, config)]."""
    seen = []

    def fake_run_train(cfg, out, resume=False, overwrite=False, log=print):
        seen.append((out.name, out.parent.name, cfg))
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text("{}")
        summary = {"test_accuracy": 0.5, "epochs": cfg["epochs"], "device": "cpu", "backbone": cfg["backbone"],
                   "torch_version": "x", "noise": "none", "noise_rate_actual": 0.0}
        (out / "summary.json").write_text(json.dumps(summary))

    monkeypatch.setattr(app_run, "run_train", fake_run_train)
    run_grid(protocol, [], tmp_path / "b", epochs=1, **QUIET, **kwargs)
    return seen


def test_the_protocols_need_their_data_and_clothing1m_its_weights(tmp_path):
    with pytest.raises(UserError, match="protocol webvision-paper needs --data-dir ROOT: the WebVision 1.0 root"):
        run_grid("webvision-paper", [], tmp_path / "a", **QUIET)
    with pytest.raises(UserError, match="needs --set weights=PATH: a local ImageNet ResNet-50 state dict"):
        run_grid("clothing1m-paper", [], tmp_path / "b", data_dir=str(tmp_path), **QUIET)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    for name in ("webvision-paper", "clothing1m-paper"):
        assert PROTOCOLS[name].cases == ("none",) and PROTOCOLS[name].methods == ("ce", "tcl", "framework")


def test_cells_get_the_published_settings_and_framework_the_shared_pretraining(
        tmp_path, monkeypatch, resnet50_weights):
    seen = _fake_grid(tmp_path, monkeypatch, "clothing1m-paper", data_dir=str(tmp_path / "c1m"),
                      extra={"weights": str(resnet50_weights)})
    cfgs = {parent: cfg for _, parent, cfg in seen}
    ce = cfgs["ce"]
    assert ce["dataset"] == f"clothing1m:{tmp_path / 'c1m'}" and ce["noise"] == "none"
    assert (ce["backbone"], ce["image_size"], ce["batch_size"], ce["lr"], ce["weight_decay"]) == \
        ("resnet50", 224, 32, 0.002, 1e-3)
    assert ce["epoch_samples"] == 32_000 and ce["class_balanced"] is True and ce["weights"] == str(resnet50_weights)
    assert cfgs["tcl"]["method_options"]["feature_dim"] == 256
    # the framework cell continues the shared SimCLR run, which itself started from the weights
    assert "weights" not in cfgs["framework"] and cfgs["framework"]["pretrained"].endswith("simclr-s0")
    assert cfgs["_pretrain"]["method"] == "simclr" and cfgs["_pretrain"]["weights"] == str(resnet50_weights)
    seen = _fake_grid(tmp_path / "wv", monkeypatch, "webvision-paper", data_dir=str(tmp_path / "wv"),
                      extra={"imagenet_val": str(tmp_path / "iv")})
    cfgs = {parent: cfg for _, parent, cfg in seen}
    assert cfgs["framework"]["imagenet_val"] == str(tmp_path / "iv") and cfgs["_pretrain"]["imagenet_val"] is None
    ce = cfgs["ce"]
    assert (ce["dataset"], ce["backbone"], ce["image_size"], ce["batch_size"], ce["lr"], ce["weight_decay"]) == \
        (f"webvision:{tmp_path / 'wv'}", "inception-resnet-v2", 299, 32, 0.01, 5e-4)
    assert "epoch_samples" not in ce and "weights" not in ce and ce["epochs"] == 1


def test_real_noise_tables_show_imagenet_figures_and_no_detection_columns():
    rows = [{"method": "ce", "case": "none", "seed": 0, "epochs": 80, "noise": "none", "noise_rate_actual": 0.0,
             "test_accuracy": 0.7, "best_test_accuracy": 0.72, "test_top5_accuracy": 0.9,
             "imagenet_top1_accuracy": 0.65, "imagenet_top5_accuracy": 0.88, "noise_rate_estimated": 0.3,
             "train_seconds": 9.0, "images_per_second": 100.0, "device": "cuda", "torch_version": "x",
             "backbone": "inception-resnet-v2"}]
    md = results_markdown("webvision-paper", rows)
    assert "| acc (last) | acc (best) | top-5 (last) | ImageNet top-1 | ImageNet top-5 | flagged | seconds |" in md
    assert "| ce | none | – | 80 | 1 | 70.0 | 72.0 | 90.0 | 65.0 | 88.0 | 0.300 |" in md
    assert "det. AUROC" not in md and "actual noise" not in md  # no truth: no detection, no known noise rate


def _results(out):
    rows = list(csv.DictReader(open(out / "results.csv")))
    return {r["method"]: r for r in rows}, (out / "results.md").read_text()


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_webvision_paper_end_to_end_reports_webvision_and_imagenet_top1_and_top5(tmp_path):
    """The protocol's default methods (ce, tcl, framework) on 50 classes x 2 images at Inception-ResNet-v2's
    smallest input (75 px), 8 training images, one epoch; ImageNet's validation set in Kaggle's layout."""
    wv = webvision_tree(tmp_path / "webvision")
    imagenet = imagenet_val_tree(tmp_path / "imagenet", "kaggle")
    out = tmp_path / "bench"
    rc, stdout, err = cli("bench", "--protocol", "webvision-paper", "--data-dir", wv, "--epochs", "1",
                          "--set", "image_size=75", "--set", "train_size=8", "--set", f"imagenet_val={imagenet}",
                          "--out", out)
    assert rc == 0, err
    rows, md = _results(out)
    assert set(rows) == {"ce", "tcl", "framework"}
    for r in rows.values():
        figures = [r[k] for k in ("test_accuracy", "test_top5_accuracy", "imagenet_top1_accuracy",
                                  "imagenet_top5_accuracy")]
        assert all(0.0 <= float(v) <= 1.0 for v in figures), r
        assert r["backbone"] == "inception-resnet-v2" and r["detection_auroc"] == ""
    assert "| top-5 (last) | ImageNet top-1 | ImageNet top-5 |" in md and md.count("| none |") == 3
    assert "| framework | none | 8 | 1 | 1 |" in stdout
    saved = RunFolder(out / "ce" / "none-s0").read_yaml("config.yaml")
    assert saved["image_size"] == 75 and saved["imagenet_val"] == str(imagenet) and saved["epoch_samples"] is None


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_clothing1m_paper_end_to_end_from_weights_with_balanced_epochs(tmp_path, resnet50_weights):
    """ce, tcl and framework from a (random, width-8) ResNet-50 checkpoint at 32 px on 14 classes x 2 images;
    each epoch draws one image a class (--set epoch_samples=14, class-balanced by the protocol)."""
    root = clothing1m_tree(tmp_path / "clothing1m")
    out = tmp_path / "bench"
    rc, stdout, err = cli("bench", "--protocol", "clothing1m-paper", "--data-dir", root, "--epochs", "1",
                          "--set", f"weights={resnet50_weights}", "--set", "width=8", "--set", "image_size=32",
                          "--set", "epoch_samples=14", "--out", out)
    assert rc == 0, err
    rows, md = _results(out)
    assert set(rows) == {"ce", "tcl", "framework"}
    for r in rows.values():
        assert all(0.0 <= float(r[k]) <= 1.0 for k in ("test_accuracy", "test_top5_accuracy")), r
        assert r["imagenet_top1_accuracy"] == "" and r["num_train"] == "28" and r["backbone"] == "resnet50"
    assert "| acc (last) | acc (best) | top-5 (last) | flagged |" in md and "ImageNet top-1" not in md
    ce = json.loads((out / "ce" / "none-s0" / "summary.json").read_text())
    assert ce["images_per_second"] > 0 and ce["num_test"] == 14
    metrics = [json.loads(x) for x in (out / "ce" / "none-s0" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["images_per_second"] * metrics[0]["epoch_seconds"] == pytest.approx(14)  # one a class
    from noisylabels.app.build import prepare

    framework = RunFolder(out / "framework" / "none-s0").read_yaml("config.yaml")
    assert framework.get("weights") is None and framework["pretrained"]
    assert prepare({**framework, "progress": False}).data.views.mean == IMAGENET_MEAN  # the weights' input, inherited
