"""The run folder's writes: standard JSON, the process umask, and what --overwrite and demo replace."""

import json
import os

import numpy as np

from noisylabels.runs import RunFolder
from tests.helpers import cli, one_line_error, snapshot


def test_summary_json_is_standard_json_with_null_for_undefined_figures(tmp_path):
    run = RunFolder(tmp_path)
    run.write_json("summary.json", {"auroc": float("nan"), "x": [np.float64("inf"), 1.5], "n": {"y": np.float32(2)}})
    text = (tmp_path / "summary.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"auroc": None, "n": {"y": 2.0}, "x": [None, 1.5]}
    run.write_metrics([{"epoch": 1, "loss": float("nan")}])
    assert json.loads((tmp_path / "metrics.jsonl").read_text()) == {"epoch": 1, "loss": None}


def test_files_are_created_with_the_process_umask(tmp_path):
    RunFolder(tmp_path).write_text("a.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_demo_replaces_an_earlier_demo_but_not_another_run(earlier_run):
    run, before = earlier_run  # a ce run on digits
    line = one_line_error("demo", "--out", run, "--epochs", "1", "--quiet")
    assert "already holds a run" in line and snapshot(run) == before


def test_overwrite_removes_the_old_runs_detection(earlier_run):
    run, _ = earlier_run
    assert cli("detect", "--run", run)[0] == 0 and (run / "detect" / "label_issues.csv").is_file()
    RunFolder(run).clear()  # what train --overwrite does first
    assert not (run / "detect" / "label_issues.csv").exists() and not (run / "detect" / "summary.json").exists()
