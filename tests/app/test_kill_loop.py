"""The kill loop: SIGKILL a real training process 12 times (during the first epoch, while a
checkpoint's temporary file exists, after the checkpoint's rename but before metrics.jsonl's, and at
random moments), resume after each kill, and check that metrics.jsonl holds every epoch exactly once
and that the figures equal an uninterrupted run's on the CPU.

The write windows are widened with the test hook NOISYLABELS_TEST_WRITE_DELAY (runs.atomic_write_bytes
sleeps that long between fsync and rename), so the kills land in them deterministically."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from noisylabels.runs import RunFolder

EPOCHS = 10  # 5 metrics kills advance one epoch each, random kills at most one: >= 2 left
ARGS = ["train", "--dataset", "digits", "--noise", "symmetric", "--noise-rate", "0.4", "--method", "elr",
        "--epochs", str(EPOCHS), "--width", "8", "--batch-size", "32", "--quiet"]
CMD = [sys.executable, "-m", "noisylabels"]
# the moments of the 12 kills, in order; each 'metrics' kill follows a new checkpoint, so the run advances
PLAN = ["first-epoch", "checkpoint", "metrics", "random", "checkpoint", "metrics", "random", "metrics",
        "checkpoint", "metrics", "random", "metrics"]


def _env(delay: float) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
            "NOISYLABELS_TEST_WRITE_DELAY": str(delay)}


def _stat(path: Path):
    try:
        st = path.stat()
        return st.st_ino, st.st_mtime_ns
    except FileNotFoundError:
        return None


def _kill_at(proc: subprocess.Popen, out: Path, log: Path, moment: str, rng: random.Random) -> str:
    """SIGKILL ``proc`` at ``moment``; returns what the folder showed at the kill."""
    ckpt_before = _stat(out / "checkpoint.pt")
    deadline = time.time() + 120
    start = None
    while time.time() < deadline:
        assert proc.poll() is None, f"the run ended before the {moment!r} kill; lengthen it"
        tmp = {p.name.split(".")[1] for p in out.glob(".*.tmp")} if out.exists() else set()
        if moment == "first-epoch" and log.exists() and " on digits:" in log.read_text():
            time.sleep(rng.uniform(0.0, 0.2))  # the log line comes right before the first epoch
            break
        if moment == "checkpoint" and "checkpoint" in tmp:
            break
        if moment == "metrics" and "metrics" in tmp and _stat(out / "checkpoint.pt") != ckpt_before:
            break  # this process wrote a checkpoint and is now writing metrics.jsonl
        if moment == "random":
            if start is None and log.exists() and " on digits:" in log.read_text():
                start = time.time() + rng.uniform(0.0, 2.0)
            if start is not None and time.time() >= start:
                break
            if _stat(out / "checkpoint.pt") != ckpt_before:
                break  # a new checkpoint: stop here so a fast machine cannot run through the epochs
        time.sleep(0.005)
    else:
        pytest.fail(f"no {moment!r} moment within 120 s")
    tmp = sorted(p.name for p in out.glob(".*.tmp")) if out.exists() else []
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return f"{moment}: tmp={tmp}"


def _check_folder(out: Path) -> int:
    """After a kill: every file whole; metrics.jsonl epochs 1..k once each, k <= the checkpoint's epoch."""
    run = RunFolder(out)
    rows = run.read_metrics()
    lines = (out / "metrics.jsonl").read_text().splitlines() if (out / "metrics.jsonl").exists() else []
    assert len(rows) == len(lines), "a torn metrics.jsonl line"
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    done = torch.load(out / "checkpoint.pt", weights_only=False)["epoch"] if run.has_checkpoint() else 0
    assert len(rows) <= done <= len(rows) + 1  # at most the epoch whose metrics rename was cut off
    return done


@pytest.mark.slow
def test_twelve_sigkills_then_resume_equal_an_uninterrupted_run(tmp_path):
    rng = random.Random(23)
    subprocess.run(CMD + ARGS + ["--out", str(tmp_path / "full")], check=True, env=_env(0), capture_output=True)
    out, log = tmp_path / "part", tmp_path / "part.log"
    seen, progress = [], []
    for i, moment in enumerate(PLAN):
        argv = ARGS + ["--out", str(out)] if i == 0 else ["train", "--resume", "--quiet", "--out", str(out)]
        with open(log, "w") as f:
            proc = subprocess.Popen(CMD + argv, env=_env(0.15), stdout=f, stderr=subprocess.STDOUT)
        seen.append(_kill_at(proc, out, log, moment, rng))
        progress.append(_check_folder(out))
    assert progress[0] == 0, f"the first kill was not in the first epoch: {seen[0]}"
    assert all(".checkpoint.pt." in s for s in seen if s.startswith("checkpoint")), seen
    assert all(".metrics.jsonl." in s for s in seen if s.startswith("metrics")), seen
    assert progress[-1] < EPOCHS, "every epoch finished before the last kill; the loop tested too little"
    subprocess.run(CMD + ["train", "--resume", "--quiet", "--out", str(out)], check=True, env=_env(0),
                   capture_output=True)
    rows = {n: [json.loads(x) for x in (tmp_path / n / "metrics.jsonl").read_text().splitlines()]
            for n in ("full", "part")}
    assert [r["epoch"] for r in rows["part"]] == list(range(1, EPOCHS + 1))
    for key in ("test_accuracy", "train_acc_given", "detection_auroc"):
        assert [r.get(key) for r in rows["full"]] == [r.get(key) for r in rows["part"]], key
    assert np.allclose([r["loss"] for r in rows["full"]], [r["loss"] for r in rows["part"]], rtol=0, atol=1e-6)
    s_full, s_part = (json.loads((tmp_path / n / "summary.json").read_text()) for n in ("full", "part"))
    for key in ("test_accuracy", "best_test_accuracy", "detection_auroc", "num_label_issues", "noisy_labels_sha256"):
        assert s_full[key] == s_part[key], key
    assert (tmp_path / "full" / "label_issues.csv").read_bytes() == (out / "label_issues.csv").read_bytes()
    assert not list(out.glob(".*.tmp")), "--resume leaves the temporary files of killed writes behind"
