"""benchmarks/gpu_check.py on the CPU: the script the GPU lease runs must run; its kill -9
and resume part, at --quick sizes, gives the uninterrupted run's figures."""

import subprocess
import sys

import pytest

from tests.helpers import ROOT


@pytest.mark.slow
def test_gpu_check_resume_part_runs_on_the_cpu(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick",
                           "--parts", "resume", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "epochs after resume: [1, 2, 3]" in proc.stdout, proc.stdout
    assert proc.stdout.count("max |diff| 0.00e+00 (tolerance 0): ok") == 2, proc.stdout
    assert "FAILED" not in proc.stdout


def test_gpu_check_exits_non_zero_when_a_part_fails(tmp_path):
    """A part made to fail (the resume part on data that is not there, a part that does not exist): the
    report says FAILED and the exit status is 1, so a GPU lease's script cannot pass by printing."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick",
                           "--parts", "resume,nosuchpart", "--data-dir", str(tmp_path / "nowhere"),
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
    assert "FAILED resume" in proc.stdout and "FAILED nosuchpart" in proc.stdout
    assert "gpu_check: FAILED" in proc.stdout


@pytest.mark.slow
def test_gpu_check_paths_part_trains_a_streamed_png_folder_on_the_cpu(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick",
                           "--parts", "paths", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    for row in ("--stream on (PNG folder)", "predict with the exported model", "--precision fp32",
                "tcl --recipe paper"):
        assert f"| {row}" in proc.stdout
    assert proc.stdout.count("| ok |") == 4 and "skipped: fewer than 2 GPUs" in proc.stdout and "every part passed" in proc.stdout
