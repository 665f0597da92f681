"""apply-review (review/apply.py), train --exclude (review/exclude.py) and the review command's refusals:
the corrected labels are what ``train --labels`` reads, keyed by sample identity, and train skips the
excluded samples."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from noisylabels.errors import UserError
from noisylabels.review.exclude import read_exclude_file
from tests.helpers import FAST, by_source_index, cli, corrected_labels, image_folder, snapshot, user_error


def _rows(run: Path) -> list[dict[str, str]]:
    with open(run / "label_issues.csv", newline="") as f:
        return list(csv.DictReader(f))


def _decisions(path: Path, rows: list[list]) -> Path:
    path.write_text("index,path,given_label,decision,corrected_label\n" + "".join(
        ",".join(str(v) for v in r) + "\n" for r in rows))
    return path


def _plan(run: Path) -> tuple[list[dict[str, str]], list[list]]:
    """Four suspects: relabel the first to another class, exclude the second, keep the third, unsure the fourth."""
    rows = _rows(run)
    a, b, c, d = rows[:4]
    new = (int(a["given_label"]) + 1) % 10
    return rows, [[a["index"], "", a["given_label"], "relabel", new], [b["index"], "", b["given_label"], "exclude", ""],
                  [c["index"], "", c["given_label"], "keep", c["given_label"]],
                  [d["index"], "", d["given_label"], "unsure", ""]]


def _source_index(run: Path) -> np.ndarray:
    from noisylabels.data.sources import load_run_splits
    from noisylabels.runs import RunFolder

    return load_run_splits(RunFolder(run).read_yaml("config.yaml")).train.source_index


def test_exclude_file_formats(tmp_path):
    (tmp_path / "a.txt").write_text("5\n3\n\n5\n")
    assert read_exclude_file(tmp_path / "a.txt")[0].tolist() == [3, 5]
    (tmp_path / "b.csv").write_text("path,index\nx.png,7\ny.png,2\n")
    assert read_exclude_file(tmp_path / "b.csv")[0].tolist() == [2, 7]
    (tmp_path / "c.txt").write_text("1\n-4\n")
    with pytest.raises(UserError, match="not a sample index"):
        read_exclude_file(tmp_path / "c.txt")
    (tmp_path / "d.csv").write_text("path,label\nx.png,1\n")
    with pytest.raises(UserError, match="'index' column"):
        read_exclude_file(tmp_path / "d.csv")


def test_apply_review_writes_keyed_labels_and_exclusions(digits_run_template, tmp_path):
    run = digits_run_template
    rows, plan = _plan(run)
    rc, out, err = cli("apply-review", run, _decisions(tmp_path / "d.csv", plan), "--out", tmp_path / "fix")
    assert rc == 0, err
    assert "1 relabelled" in out and "--labels " in out and "--exclude" in out and "--noise" not in out
    expected = by_source_index(np.load(run / "noisy_labels.npy"), _source_index(run))
    expected[int(plan[0][0])] = str(plan[0][4])
    assert corrected_labels(tmp_path / "fix") == expected
    assert (tmp_path / "fix" / "excluded.txt").read_text() == f"index\n{plan[1][0]}\n"


@pytest.mark.parametrize("bad, needle", [
    ([["999999", "", "0", "keep", "0"]], "not a training sample"),
    ([["nan", "", "0", "keep", "0"]], "not a sample index"),
    ([["inf", "", "0", "keep", "0"]], "not a sample index"),
    ([["1e400", "", "0", "keep", "0"]], "not a sample index"),
    ([["{i}", "", "{g}", "relabel", "1e400"]], "relabel needs a corrected_label"),
    ([["{i}", "", "{g}", "relabel", "nan"]], "relabel needs a corrected_label"),
    ([["{i}", "", "{g}", "delete", ""]], "not one of keep, relabel, exclude, unsure"),
    ([["{i}", "", "{g}", "relabel", ""]], "relabel needs a corrected_label"),
    ([["{i}", "", "{g}", "relabel", "42"]], "relabel needs a corrected_label"),
    ([["{i}", "", "{other}", "keep", ""]], "belong to another run"),
    ([["{i}", "", "{g}", "keep", ""], ["{i}", "", "{g}", "exclude", ""]], "appears twice"),
])
def test_bad_decisions_are_one_line_errors_and_keep_earlier_outputs(digits_run_template, tmp_path, bad, needle):
    run = digits_run_template
    first = _rows(run)[0]
    good = _decisions(tmp_path / "good.csv", [[first["index"], "", first["given_label"], "exclude", ""]])
    assert cli("apply-review", run, good, "--out", tmp_path / "fix")[0] == 0
    before = snapshot(tmp_path / "fix")
    fill = {"i": first["index"], "g": first["given_label"], "other": (int(first["given_label"]) + 1) % 10}
    rows = [[str(v).format(**fill) for v in r] for r in bad]
    user_error(["apply-review", run, _decisions(tmp_path / "bad.csv", rows), "--out", tmp_path / "fix"], needle)
    assert snapshot(tmp_path / "fix") == before


def test_review_and_apply_review_refusals(digits_run_template, tmp_path):
    (tmp_path / "empty").mkdir()
    user_error(["review", tmp_path / "empty"], "no label_issues.csv")
    user_error(["review", tmp_path / "nowhere"], "not a folder")
    (tmp_path / "file").write_text("x")
    user_error(["review", digits_run_template, "--out", tmp_path / "file"], "is a file")
    user_error(["review", digits_run_template, "--out", digits_run_template], "holds a run")
    user_error(["apply-review", digits_run_template, tmp_path / "missing.csv", "--out", tmp_path / "o"], "not found")
    (tmp_path / "wrong.csv").write_text("a,b\n1,2\n")
    user_error(["apply-review", digits_run_template, tmp_path / "wrong.csv", "--out", tmp_path / "o"],
               "columns index, decision")
    assert not (tmp_path / "o").exists()


def test_detect_run_folder_reviews_with_the_runs_images_and_applies_to_the_run(earlier_run, tmp_path):
    """``detect --run RUN`` writes RUN/detect: its page takes the run's images, apply-review the run's
    training set; an export with no decisions changes nothing; --overwrite removes the old run's page."""
    run, _ = earlier_run
    assert cli("detect", "--run", run)[0] == 0
    rc, out, err = cli("review", run / "detect")
    assert rc == 0, err
    assert f"{len(_rows(run))} thumbnails" in out and (run / "detect" / "review" / "thumbs" / "sheet-0000.png").is_file()
    empty = tmp_path / "none.csv"
    empty.write_text("index,path,given_label,decision,corrected_label\n")
    rc, out, err = cli("apply-review", run / "detect", empty, "--out", tmp_path / "fix")
    assert rc == 0, err
    assert corrected_labels(tmp_path / "fix") == by_source_index(np.load(run / "noisy_labels.npy"), _source_index(run))
    assert (tmp_path / "fix" / "excluded.txt").read_text() == "index\n"
    assert cli("review", run)[0] == 0 and (run / "review" / "data.js").is_file()
    from noisylabels.runs import RunFolder

    RunFolder(run).clear()  # what train --overwrite does first
    assert not (run / "review" / "data.js").exists() and not list((run / "review").glob("thumbs/*.png"))


def test_detect_folder_without_images_reviews_and_applies_in_index_order(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 40)
    probs = rng.dirichlet(np.ones(3), 40)
    np.save(tmp_path / "y.npy", labels)
    np.save(tmp_path / "p.npy", probs)
    rc, _, err = cli("detect", "--labels", tmp_path / "y.npy", "--pred-probs", tmp_path / "p.npy", "--out", tmp_path / "det")
    assert rc == 0, err
    rc, out, err = cli("review", tmp_path / "det")
    assert rc == 0, err
    assert "http" not in (tmp_path / "det" / "review" / "index.html").read_text()  # nothing from the network
    assert "No thumbnails" in out and (tmp_path / "det" / "review" / "index.html").is_file()
    np.save(tmp_path / "im.npy", rng.integers(0, 255, (40, 8, 8), dtype=np.uint8))
    rc, out, err = cli("review", tmp_path / "det", "--images", tmp_path / "im.npy")
    assert rc == 0 and "40 thumbnails" in out, err
    np.save(tmp_path / "few.npy", np.zeros((5, 8, 8), dtype=np.uint8))
    user_error(["review", tmp_path / "det", "--images", tmp_path / "few.npy"], "has 5 images")
    first = _rows(tmp_path / "det")[0]
    new = (int(first["given_label"]) + 1) % 3
    dec = _decisions(tmp_path / "d.csv", [[first["index"], "", first["given_label"], "relabel", new]])
    assert cli("apply-review", tmp_path / "det", dec, "--out", tmp_path / "fix")[0] == 0
    expected = labels.copy()
    expected[int(first["index"])] = new
    assert corrected_labels(tmp_path / "fix") == by_source_index(expected, np.arange(len(expected)))


@pytest.mark.slow
def test_round_trip_through_train_labels_and_exclude(digits_run_template, tmp_path):
    """apply-review's corrected_labels.csv is read by train --labels; --exclude leaves those samples out; the
    new run's labels are the user's, so no truth column and no detection figures against the old labels."""
    run = digits_run_template
    _, plan = _plan(run)
    assert cli("apply-review", run, _decisions(tmp_path / "d.csv", plan), "--out", tmp_path / "fix")[0] == 0
    fixed = corrected_labels(tmp_path / "fix")
    rc, _, err = cli("train", "--dataset", "digits", *FAST, "--labels", tmp_path / "fix" / "corrected_labels.csv",
                     "--exclude", tmp_path / "fix" / "excluded.txt", "--out", tmp_path / "again")
    assert rc == 0, err
    excluded = int(plan[1][0])
    keep = _source_index(run)[_source_index(run) != excluded]
    assert np.load(tmp_path / "again" / "noisy_labels.npy").tolist() == [int(fixed[int(i)]) for i in keep]
    again = _rows(tmp_path / "again")
    assert excluded not in {int(r["index"]) for r in again} and len(again) == len(fixed) - 1
    assert "true_label" not in again[0]
    summary = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert "detection_auroc" not in summary and summary["noise_rate_actual"] is None
    # reviewing the new run: its own exclusions carry over to the next excluded.txt, its labels file names
    # every sample (train reads --labels before --exclude)
    row = again[0]
    dec = _decisions(tmp_path / "d2.csv", [[row["index"], "", row["given_label"], "exclude", ""]])
    assert cli("apply-review", tmp_path / "again", dec, "--out", tmp_path / "fix2")[0] == 0
    assert (tmp_path / "fix2" / "excluded.txt").read_text() == "index\n" + "".join(
        f"{i}\n" for i in sorted({excluded, int(row["index"])}))
    assert corrected_labels(tmp_path / "fix2") == fixed
    # an index that the data does not have is refused before anything is written
    (tmp_path / "far.txt").write_text("123456\n")
    user_error(["train", "--dataset", "digits", *FAST, "--exclude", tmp_path / "far.txt", "--out", tmp_path / "x"],
               "not in the training set")
    assert not (tmp_path / "x" / "config.yaml").exists()


@pytest.mark.slow
def test_folder_source_gets_a_path_label_csv_that_train_reads(tmp_path):
    """A folder source (with a held-out test split, so the training order is not the file order's
    0..N-1): apply-review writes path,label with class names, and train --noise file: reads it back."""
    dataset = image_folder(tmp_path / "data", per_class=12)
    common = ["--dataset", dataset, "--epochs", "1", "--width", "8", "--batch-size", "8", "--quiet"]
    assert cli("train", *common, "--noise", "pairflip", "--noise-rate", "0.3", "--out", tmp_path / "run")[0] == 0
    rows = _rows(tmp_path / "run")
    a = rows[0]
    new = 1 - int(a["given_label"])
    dec = _decisions(tmp_path / "d.csv", [[a["index"], a["path"], a["given_label"], "relabel", new],
                                          [rows[1]["index"], rows[1]["path"], rows[1]["given_label"], "exclude", ""]])
    rc, out, err = cli("apply-review", tmp_path / "run", dec, "--out", tmp_path / "fix")
    assert rc == 0, err
    with open(tmp_path / "fix" / "corrected_labels.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert set(written[0]) == {"index", "path", "label"} and {r["label"] for r in written} <= {"cat", "dog"}
    assert len(written) == 24  # the training samples and the held-out ones
    root = Path(dataset.split(":", 1)[1])
    by_path = {str(root / r["path"]): r["label"] for r in written}
    assert by_path[a["path"]] == ("cat", "dog")[new]
    # another seed holds out other images: each reviewed label still reaches its own image
    rc, _, err = cli("train", *common, "--seed", "1", "--labels", tmp_path / "fix" / "corrected_labels.csv",
                     "--exclude", tmp_path / "fix" / "excluded.txt", "--out", tmp_path / "again")
    assert rc == 0, err
    again = {r["path"]: r for r in _rows(tmp_path / "again")}
    assert rows[1]["path"] not in again
    assert a["path"] not in again or int(again[a["path"]]["given_label"]) == new
    for p, r in again.items():
        assert ("cat", "dog")[int(r["given_label"])] == by_path[p]
    # a row whose path names another sample than its index: refused, never applied to either
    swapped = _decisions(tmp_path / "swapped.csv", [[a["index"], rows[1]["path"], "", "relabel", new]])
    user_error(["apply-review", tmp_path / "run", swapped, "--out", tmp_path / "fix2"], "belong to other data")
    assert not (tmp_path / "fix2").exists()


@pytest.mark.parametrize("damage, needle", [
    (lambda t: "", "no rows"),
    (lambda t: t.replace("suggested_probability", "prob", 1), "no column suggested_probability"),
    (lambda t: t.replace(",True,", ",True,x", 1), "non-number"),
    (lambda t: t + "5,1\n", "misses a value"),
])
def test_damaged_label_issues_keep_the_earlier_page(earlier_run, tmp_path, damage, needle):
    run, _ = earlier_run
    assert cli("review", run, "--out", tmp_path / "page")[0] == 0
    before = snapshot(tmp_path / "page")
    csv_path = run / "label_issues.csv"
    csv_path.write_text(damage(csv_path.read_text()))
    user_error(["review", run, "--out", tmp_path / "page"], needle)
    user_error(["apply-review", run, tmp_path / "none.csv", "--out", tmp_path / "fix"], "not found")
    assert snapshot(tmp_path / "page") == before
