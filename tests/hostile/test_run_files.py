"""Every array file of a run folder that a later command reads back (noisy_labels.npy, pred_probs.npy,
features.npy, count_probs.npy): damaged in any way (other bytes, cut short, an archive whole or cut, pickled
objects, empty, a header promising more than the file holds), `detect --run` refuses it in one line that
names the file, and writes nothing; `train --resume` does the same for the labels it checks. A run folder
reused with --overwrite keeps no count probabilities of an earlier TCL run, and keeps the earlier run whole
where the new one fails after its inputs were accepted."""

import io
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import snapshot, user_error

RUN_ARRAYS = ("noisy_labels.npy", "pred_probs.npy", "features.npy", "count_probs.npy")
DAMAGE = ("bytes", "cut", "npz", "npz-cut", "pickled", "empty", "huge")


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _huge(dtype: str = "<f4") -> bytes:
    """A valid .npy header for 10^12 values followed by 16 bytes: loading it would ask for terabytes."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": (10**12,)})
    return buf.getvalue() + bytes(16)


def _npz(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, a=arr)
    return buf.getvalue()


@st.composite
def damaged_file(draw: st.DrawFn, template: Path) -> tuple[str, bytes]:
    """(file name, damaged content) of one run array; the good bytes are the template run's (pred_probs.npy's
    for count_probs.npy, which a ce run does not write)."""
    name = draw(st.sampled_from(RUN_ARRAYS))
    good = (template / ("pred_probs.npy" if name == "count_probs.npy" else name)).read_bytes()
    kind = draw(st.sampled_from(DAMAGE))
    if kind == "bytes":
        data = draw(st.binary(min_size=1, max_size=400).filter(lambda b: not b.startswith(b"\x93NUMPY")))
    elif kind == "cut":
        data = good[:draw(st.integers(0, len(good) - 1))]
    elif kind in ("npz", "npz-cut"):
        data = _npz(np.load(io.BytesIO(good)))
        data = data if kind == "npz" else data[:draw(st.integers(0, len(data) - 1))]
    elif kind == "pickled":
        data = _npy(np.array([{"label": 1}, None], dtype=object))
    elif kind == "huge":
        data = _huge()
    else:
        data = b""
    return name, data


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_damaged_run_array_is_refused_by_detect_run(digits_run_template, data):
    name, content = data.draw(damaged_file(digits_run_template))
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(digits_run_template, run)
        (run / name).write_bytes(content)
        before = snapshot(run)
        line = user_error(["detect", "--run", run, "--out", Path(tmp) / "det"], name)
        assert "damaged" in line, line
        assert snapshot(run) == before and not (Path(tmp) / "det").exists()


@pytest.mark.parametrize("kind", DAMAGE)
def test_resume_refuses_damaged_labels_and_keeps_the_run(earlier_run, kind):
    folder, _ = earlier_run
    good = np.load(folder / "noisy_labels.npy")
    content = {"bytes": b"not an array", "cut": _npy(good)[:100], "npz": _npz(good), "npz-cut": _npz(good)[:60],
               "pickled": _npy(np.array([None], dtype=object)), "empty": b"", "huge": _huge("<i8")}[kind]
    (folder / "noisy_labels.npy").write_bytes(content)
    before = snapshot(folder)
    user_error(["train", "--resume", "--quiet", "--out", folder], "noisy_labels.npy is damaged")
    assert snapshot(folder) == before


def test_overwrite_leaves_no_count_probabilities_of_an_earlier_run(earlier_run):
    """count_probs.npy is a run file: --overwrite clears it, and a run whose method brings none writes none,
    so `detect --run` never counts a ce run on an earlier TCL run's probabilities."""
    from tests.helpers import FAST, cli

    folder, _ = earlier_run
    np.save(folder / "count_probs.npy", np.load(folder / "pred_probs.npy"))
    rc, _, err = cli("train", "--dataset", "digits", *FAST, "--overwrite", "--out", folder)
    assert rc == 0, err
    assert not (folder / "count_probs.npy").exists()


def test_count_probs_of_another_shape_are_named_not_used(earlier_run, tmp_path):
    folder, _ = earlier_run
    np.save(folder / "count_probs.npy", np.full((5, 3), 1 / 3, dtype=np.float32))
    before = snapshot(folder)
    user_error(["detect", "--run", folder, "--out", tmp_path / "det"], "count_probs.npy (5, 3) does not match")
    assert snapshot(folder) == before and not (tmp_path / "det").exists()


@pytest.mark.parametrize("argv", [["--train-size", "1"], ["--method", "cleanlab-retrain", "--train-size", "5"]])
def test_overwrite_that_fails_while_training_puts_the_earlier_run_back(earlier_run, argv):
    """Options that pass the checks before training but fail in it (an epoch too small for batch norm): the
    earlier run in the folder is byte-identical afterwards, and nothing of the failed one is left."""
    from tests.helpers import FAST

    folder, before = earlier_run
    user_error(["train", "--dataset", "digits", *FAST, *argv, "--overwrite", "--out", folder], "batch norm")
    assert snapshot(folder) == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".replaced-")]
