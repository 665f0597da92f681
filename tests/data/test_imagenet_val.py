"""--imagenet-val: ImageNet's validation images of the 50 mini-WebVision classes, in Kaggle's layout and as a
tree of synset folders, mapped through WebVision's synsets.txt; its top-1 / top-5 in the run's figures."""

import json
import shutil

import numpy as np
import pytest

from noisylabels.data.imagenet_val import list_imagenet_val
from noisylabels.errors import UserError
from tests.helpers import SYNSETS, cli, imagenet_val_tree, one_line_error, webvision_tree


@pytest.fixture(scope="module")
def webvision(tmp_path_factory):
    """A tiny mini-WebVision: 50 classes x 2 training images, 1 validation image each."""
    return webvision_tree(tmp_path_factory.mktemp("wv") / "webvision")


def _stems(listing):
    return [p.stem for p in listing.paths]


def test_both_layouts_list_the_50_classes_by_their_synset_line(tmp_path, webvision):
    folders = list_imagenet_val(str(imagenet_val_tree(tmp_path / "a", "folders")), str(webvision))
    kaggle = list_imagenet_val(str(imagenet_val_tree(tmp_path / "b", "kaggle")), str(webvision))
    for listing in (folders, kaggle):  # synsets 50 and 51 are ImageNet classes outside mini-WebVision
        assert len(listing) == 50 and sorted(listing.labels.tolist()) == list(range(50))
        assert listing.class_names == [str(c) for c in range(50)]
    by_stem = dict(zip(_stems(kaggle), kaggle.labels.tolist()))
    assert dict(zip(_stems(folders), folders.labels.tolist())) == by_stem
    assert by_stem["ILSVRC2012_val_00000008"] == 7  # the 8th image is of SYNSETS[7], line 8 of synsets.txt


def test_kaggle_layout_with_the_solution_file_beside_the_image_folder(tmp_path, webvision):
    """Kaggle's own tree: LOC_val_solution.csv at the top, the JPEGs in ILSVRC/Data/CLS-LOC/val; ROOT may
    be the top or the JPEG folder itself (the CSV in its parent)."""
    flat = imagenet_val_tree(tmp_path / "flat", "kaggle")
    top = tmp_path / "kaggle"
    jpegs = top / "ILSVRC" / "Data" / "CLS-LOC" / "val"
    jpegs.mkdir(parents=True)
    for p in flat.glob("*.JPEG"):
        shutil.move(p, jpegs / p.name)
    shutil.move(flat / "LOC_val_solution.csv", top / "LOC_val_solution.csv")
    assert len(list_imagenet_val(str(top), str(webvision))) == 50
    shutil.move(top / "LOC_val_solution.csv", jpegs.parent / "LOC_val_solution.csv")
    assert len(list_imagenet_val(str(jpegs), str(webvision))) == 50


def test_a_synset_tree_with_kaggles_solution_file_kept_beside_it(tmp_path, webvision):
    root = imagenet_val_tree(tmp_path / "iv", "folders")
    kaggle = imagenet_val_tree(tmp_path / "k", "kaggle")
    (root / "LOC_val_solution.csv").write_bytes((kaggle / "LOC_val_solution.csv").read_bytes())
    for given in (root, root / "val"):  # the csv in ROOT or in ROOT's parent: the tree is read
        listing = list_imagenet_val(str(given), str(webvision))
        assert len(listing.paths) == 50 and sorted(set(listing.labels.tolist())) == list(range(50))


def test_dividemix_class_index_folders(tmp_path, webvision):
    root = imagenet_val_tree(tmp_path / "iv", "folders", classes=range(3))
    for c in range(3):
        (root / "val" / SYNSETS[c]).rename(root / "val" / str(c))
    listing = list_imagenet_val(str(root), str(webvision))
    assert sorted(listing.labels.tolist()) == [0, 1, 2]


def _broken(tmp_path, webvision, how):
    """An ImageNet validation folder (or the WebVision root) broken one way: (its root, WebVision's root)."""
    root = tmp_path / "iv"
    if how == "missing":
        return root, webvision
    if how == "empty":
        root.mkdir()
        return root, webvision
    layout = "kaggle" if how in ("header", "missing-jpeg") else "folders"
    imagenet_val_tree(root, layout, classes=range(50, 52) if how == "no-mini-class" else range(4))
    if how == "unknown-synset":
        (root / "val" / SYNSETS[1]).rename(root / "val" / "n99999999")
    elif how == "empty-class":
        shutil.rmtree(root / "val" / SYNSETS[2])
        (root / "val" / SYNSETS[2]).mkdir()
    elif how == "header":
        text = (root / "LOC_val_solution.csv").read_text()
        (root / "LOC_val_solution.csv").write_text(text.replace("ImageId,PredictionString", "id,pred"))
    elif how == "missing-jpeg":
        (root / "ILSVRC2012_val_00000002.JPEG").unlink()
    elif how == "no-synsets-file":
        webvision = tmp_path / "webvision-without-info"
        webvision.mkdir()
    return root, webvision


@pytest.mark.parametrize("how, needle", [
    ("missing", "folder not found"),
    ("empty", "holds neither LOC_val_solution.csv"),
    ("unknown-synset", "n99999999 are not in WebVision's"),
    ("empty-class", "class folder(s) without images"),
    ("no-mini-class", "no images of the 50 mini-WebVision classes"),
    ("header", "needs the header ImageId,PredictionString"),
    ("missing-jpeg", "1 file(s) listed in"),
    ("no-synsets-file", "info/synsets.txt"),
])
def test_bad_imagenet_folders_are_one_line_errors(tmp_path, webvision, how, needle):
    root, wv = _broken(tmp_path, webvision, how)
    with pytest.raises(UserError) as e:
        list_imagenet_val(str(root), str(wv))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_imagenet_val_is_refused_for_other_datasets(tmp_path):
    msg = one_line_error("train", "--dataset", "digits", "--imagenet-val", tmp_path, "--epochs", "1", "--quiet",
                         "--out", tmp_path / "r")
    assert "--imagenet-val" in msg and "webvision" in msg and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_a_webvision_run_reports_imagenet_top1_and_top5_every_epoch(tmp_path, webvision):
    imagenet = imagenet_val_tree(tmp_path / "imagenet", "kaggle")
    out = tmp_path / "run"
    rc, _, err = cli("train", "--dataset", f"webvision:{webvision}", "--imagenet-val", imagenet, "--image-size", "16",
                     "--epochs", "2", "--width", "4", "--batch-size", "50", "--quiet", "--out", out)
    assert rc == 0, err
    s = json.loads((out / "summary.json").read_text())
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert all({"imagenet_top1_accuracy", "imagenet_top5_accuracy", "imagenet_loss"} <= set(r) for r in rows)
    assert s["imagenet_top1_accuracy"] == rows[-1]["imagenet_top1_accuracy"]
    assert s["best_imagenet_top5_accuracy"] == max(r["imagenet_top5_accuracy"] for r in rows)
    assert s["imagenet_top5_accuracy"] >= s["imagenet_top1_accuracy"] and s["num_imagenet"] == 50
    assert {"test_accuracy", "test_top5_accuracy"} <= set(s) and np.isfinite(s["imagenet_top5_accuracy"])


def test_an_unreadable_imagenet_image_is_skipped_and_listed(tmp_path, webvision):
    imagenet = imagenet_val_tree(tmp_path / "imagenet", "kaggle")
    bad = imagenet / "ILSVRC2012_val_00000003.JPEG"
    bad.write_bytes(b"not a jpeg")
    out = tmp_path / "run"
    rc, _, err = cli("train", "--dataset", f"webvision:{webvision}", "--imagenet-val", imagenet, "--image-size", "16",
                     "--skip-bad-images", "--epochs", "1", "--width", "4", "--batch-size", "50", "--quiet",
                     "--out", out)
    assert rc == 0, err
    assert str(bad) in (out / "skipped_images.txt").read_text().splitlines()
    s = json.loads((out / "summary.json").read_text())
    assert s["num_imagenet"] == 49 and s["skipped_images"] == 1
