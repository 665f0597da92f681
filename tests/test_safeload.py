"""Pickled inputs (a run's checkpoint, CIFAR's python batches, CIFAR-N .pt label files) are read without
running code: a file that names anything beyond tensors, arrays and containers is one line, exit 2."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from noisylabels.safeload import UnsafePickle, torch_load, unpickle_arrays
from tests.helpers import FAST, cli, one_line_error


class _Payload:
    """Unpickling this runs ``Path.touch(target)``: what a hostile pickle would do."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_arrays_and_tensors_load_and_code_is_refused(tmp_path: Path):
    ok = {"a": np.arange(3), "t": torch.ones(2), "rng": np.random.get_state(), "x": [1, (2.5, "s")]}
    torch.save(ok, tmp_path / "ok.pt")
    got = torch_load(tmp_path / "ok.pt")
    assert np.array_equal(got["a"], ok["a"]) and got["rng"][0] == "MT19937"
    torch.save({"a": _Payload(tmp_path / "ran")}, tmp_path / "bad.pt")
    with pytest.raises(UnsafePickle):
        torch_load(tmp_path / "bad.pt")
    (tmp_path / "bad.pkl").write_bytes(pickle.dumps({b"data": _Payload(tmp_path / "ran")}))
    with pytest.raises(UnsafePickle, match="touch"):
        unpickle_arrays(tmp_path / "bad.pkl")
    (tmp_path / "ok.pkl").write_bytes(pickle.dumps({b"data": np.zeros((2, 3), np.uint8), b"labels": [0, 1]}))
    assert unpickle_arrays(tmp_path / "ok.pkl")[b"labels"] == [0, 1]
    assert not (tmp_path / "ran").exists()


def test_hostile_checkpoint_and_label_file_are_refused_without_running(tmp_path: Path):
    run = tmp_path / "run"
    assert cli("train", "--dataset", "digits", *FAST, "--epochs", "1", "--out", run)[0] == 0
    torch.save({"model": _Payload(tmp_path / "ran")}, run / "checkpoint.pt")
    msg = one_line_error("train", "--dataset", "digits", *FAST, "--epochs", "2", "--resume", "--out", run)
    assert "could run code" in msg and "--overwrite" in msg
    torch.save({"worse_label": _Payload(tmp_path / "ran")}, tmp_path / "labels.pt")
    msg = one_line_error("train", "--dataset", "digits", *FAST, "--noise", f"file:{tmp_path / 'labels.pt'}",
                         "--out", tmp_path / "r2")
    assert "could run code" in msg and ".npy" in msg
    assert not (tmp_path / "ran").exists()


def test_hostile_cifar_batch_is_refused(tmp_path: Path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    (d / "data_batch_1").write_bytes(pickle.dumps({b"data": _Payload(tmp_path / "ran")}))
    msg = one_line_error("train", "--dataset", "cifar10", "--data-dir", tmp_path, *FAST, "--out", tmp_path / "r")
    assert "could run code" in msg and not (tmp_path / "ran").exists()


def test_load_npy_reads_every_header_version_and_refuses_what_it_cannot_trust(tmp_path):
    from noisylabels.safeload import load_npy

    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    for version in ((1, 0), (2, 0), (3, 0)):
        with open(tmp_path / "a.npy", "wb") as f:
            np.lib.format.write_array(f, np.asfortranarray(arr), version=version)
        assert np.array_equal(load_npy(tmp_path / "a.npy"), arr)
    good = (tmp_path / "a.npy").read_bytes()
    cases = {"cut": good[:-4], "npz": b"PK\x03\x04" + good, "not npy": b"abc", "empty": b""}
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([None], dtype=object), allow_pickle=True)
    cases["pickled"] = buf.getvalue()
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**13,)})
    cases["huge"] = buf.getvalue() + bytes(8)
    for name, data in cases.items():
        (tmp_path / "b.npy").write_bytes(data)
        with pytest.raises(ValueError):
            load_npy(tmp_path / "b.npy")



def _rewritten(src: Path, dst: Path, members: dict[str, bytes]) -> Path:
    """A copy of the exported archive ``src`` at ``dst`` with ``members`` (name below the archive's top folder ->
    bytes) replacing or adding those members."""
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        root = zin.namelist()[0].split("/", 1)[0]
        for info in zin.infolist():
            rest = info.filename.split("/", 1)[1]
            zout.writestr(info.filename, members.pop(rest) if rest in members else zin.read(info.filename))
        for rest, data in members.items():
            zout.writestr(f"{root}/{rest}", data)
    return dst


def _pickled_entry(src: Path, folder: str, config: str, payload: bytes) -> dict[str, bytes]:
    """The members that mark the first entry of ``folder/config`` as pickled and put ``payload`` in its place."""
    import json
    import zipfile

    with zipfile.ZipFile(src) as z:
        name = next(n for n in z.namelist() if n.endswith(f"{folder}/{config}"))
        cfg = json.loads(z.read(name))
    entry = next(iter(cfg["config"].values()))
    entry["use_pickle"] = True
    return {f"{folder}/{config}": json.dumps(cfg).encode(), f"{folder}/{entry['path_name']}": payload}


@pytest.mark.parametrize("kind", ["weight", "constant", "sample_inputs", "extra_member", "cut_short"])
def test_exported_model_with_code_inside_is_refused_before_torch_reads_it(kind: str, digits_run_template: Path,
                                                                           tmp_path: Path):
    import io

    from noisylabels.errors import UserError
    from noisylabels.export import load_model

    buf = io.BytesIO()
    torch.save(_Payload(tmp_path / "ran"), buf)
    payload = buf.getvalue()
    src, bad = digits_run_template / "model.pt2", tmp_path / "model.pt2"
    members = {"weight": lambda: _pickled_entry(src, "data/weights", "model_weights_config.json", payload),
               "constant": lambda: _pickled_entry(src, "data/constants", "model_constants_config.json", payload),
               "sample_inputs": lambda: {"data/sample_inputs/model.pt": payload},
               "extra_member": lambda: {"data/constants/custom_obj_0": payload}}
    if kind == "cut_short":
        bad.write_bytes(src.read_bytes()[:20000])
    else:
        _rewritten(src, bad, members[kind]())
    with pytest.raises(UserError) as e:
        load_model(bad)
    assert "\n" not in str(e.value)
    assert ("could run code" in str(e.value)) == (kind != "cut_short")
    assert not (tmp_path / "ran").exists()
    assert load_model(src)[1].class_names  # the untouched export still loads
