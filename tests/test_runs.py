"""The run folder's writes: standard JSON, the process umask, and what --overwrite and demo replace."""

import json
import os

import numpy as np
import pytest

from noisylabels.runs import RunFolder
from tests.helpers import TINY, cli, one_line_error, snapshot


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
    before = snapshot(run)
    aside = RunFolder(run).set_aside()  # what train --overwrite does first
    assert not (run / "detect" / "label_issues.csv").exists() and not (run / "detect" / "summary.json").exists()
    assert aside is not None and (aside / "detect" / "label_issues.csv").is_file()
    RunFolder(run).put_back(aside)  # what it does where the new run fails
    assert snapshot(run) == before and not aside.exists()


def test_a_second_writer_of_one_run_folder_is_refused_and_writes_nothing(tmp_path):
    """Two train commands into one new --out: the second is refused while the first holds the folder
    (the lock lives outside the user's tree, so the refusal writes nothing there)."""
    import multiprocessing as mp

    from noisylabels.errors import UserError
    from noisylabels.runs import writer_lock

    out = tmp_path / "run"
    ctx = mp.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(out), ready, done))
    holder.start()
    try:
        assert ready.wait(60)
        line = one_line_error("train", "--dataset", "digits", "--epochs", "1", "--quiet", "--out", out)
        assert "another noisylabels process is writing there" in line and not out.exists()
        try:
            with writer_lock(out):
                raise AssertionError("the lock was granted twice")
        except UserError:
            pass
    finally:
        done.set()
        holder.join(60)
    with writer_lock(out):  # released when its holder ends
        pass


def _hold(out: str, ready, done) -> None:
    from noisylabels.runs import writer_lock

    with writer_lock(out):
        ready.set()
        done.wait(60)


def test_resume_with_fewer_epochs_than_finished_or_with_overwrite_is_refused(earlier_run):
    run, before = earlier_run  # one finished epoch
    assert "not both" in one_line_error("train", "--resume", "--overwrite", "--out", run)
    assert snapshot(run) == before


def test_resume_with_fewer_epochs_than_finished_is_refused(tmp_path):
    out = tmp_path / "run"
    assert cli("train", "--dataset", "digits", "--epochs", "2", *TINY, "--out", out)[0] == 0
    before = snapshot(out)
    line = one_line_error("train", "--resume", "--epochs", "1", "--out", out)
    assert "finished 2 epochs, more than --epochs 1" in line and snapshot(out) == before


def test_resume_removes_the_temporaries_a_kill_left_in_every_folder_of_the_run(tmp_path):
    out = tmp_path / "run"
    assert cli("train", "--dataset", "digits", "--epochs", "1", *TINY, "--out", out)[0] == 0
    left = [out / ".summary.json.x1.tmp", out / "plots" / ".curves.png.x2.tmp", out / "detect" / ".a.csv.x3.tmp"]
    for p in left:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"cut off")
    assert cli("train", "--resume", "--epochs", "2", "--out", out)[0] == 0
    assert not any(p.exists() for p in left)


def test_a_run_started_with_relative_paths_reads_the_same_files_from_any_folder(tmp_path, monkeypatch):
    import yaml

    from tests.helpers import image_folder

    monkeypatch.chdir(tmp_path)
    image_folder(tmp_path / "data", per_class=10)
    assert cli("train", "--dataset", "folder:data", *TINY, "--epochs", "1", "--out", "run")[0] == 0
    cfg = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert cfg["dataset"] == f"folder:{tmp_path / 'data'}"
    (tmp_path / "elsewhere" / "data").mkdir(parents=True)  # a folder of the same name, empty, where we now are
    monkeypatch.chdir(tmp_path / "elsewhere")
    rc, _, err = cli("detect", "--run", tmp_path / "run", "--out", tmp_path / "det")
    assert rc == 0, err
    assert (tmp_path / "det" / "label_issues.csv").read_text().count("\n") == 19  # 20 images, 2 held out + header


@pytest.mark.parametrize("content, needle", [
    (bytes(range(256)) * 4, "not a UTF-8 text file"),                                   # a binary file
    (b"a: &x [1, 1, 1]\nb: &y [*x, *x, *x]\nc: [*y, *y, *y]\n", "aliases"),            # an alias bomb's seed
    (b"epochs: [1\n", "cannot read"),                                                    # broken YAML
    (b"# " + b"x" * (2 << 20), "over 1 MB"),                                             # not a configuration
    (b"- 1\n- 2\n", "mapping"),
])
def test_bad_config_files_are_one_line_refusals(tmp_path, content, needle):
    (tmp_path / "c.yaml").write_bytes(content)
    line = one_line_error("train", "--config", tmp_path / "c.yaml", "--out", tmp_path / "run")
    assert needle in line and not (tmp_path / "run").exists()


def test_bench_checks_every_cell_before_training_any_and_keeps_out_of_a_run(tmp_path, earlier_run):
    line = one_line_error("bench", "--protocol", "digits-mini", "--methods", "ce,tcl", "--cases", "none",
                          "--epochs", "1", "--set", "temperature=-1", "--out", tmp_path / "grid")
    assert "cell tcl none seed 0" in line and "temperature" in line
    assert not (tmp_path / "grid" / "ce").exists()  # the good cell did not train first
    run, before = earlier_run
    assert "holds a training run" in one_line_error("bench", "--protocol", "digits-mini", "--methods", "ce",
                                                    "--out", run)
    assert snapshot(run) == before
