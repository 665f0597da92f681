"""--weights: local state dicts (.pt/.pth, wrapped or DDP-prefixed, .safetensors) into an encoder; a
mismatch or a bad path is one clear UserError line; no network code at all."""

import json
import struct
from pathlib import Path

import pytest
import torch

from noisylabels.errors import UserError
from noisylabels.models import weights as weights_module
from noisylabels.models.backbones import build_backbone
from noisylabels.models.weights import load_weights, read_safetensors, read_state_dict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
pytestmark = pytest.mark.usefixtures("one_thread")
_DTYPES = {torch.float32: "F32", torch.int64: "I64", torch.float16: "F16"}


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """The safetensors layout (8-byte header length, JSON header, raw bytes), for the tests only."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_backbone("resnet18", in_channels=3, image_size=32, width=4)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "module.", "with fc head"])
def test_torch_files_load_plain_wrapped_prefixed_or_with_a_head(tmp_path, wrap):
    source, target = _net(0), _net(1)
    sd = source.state_dict()
    obj = {"plain": sd, "state_dict": {"state_dict": sd, "epoch": 3}, "model": {"model": sd},
           "module.": {"module." + k: v for k, v in sd.items()},
           "with fc head": {**sd, "fc.weight": torch.zeros(10, 32), "fc.bias": torch.zeros(10)}}[wrap]
    path = tmp_path / "w.pth"
    torch.save(obj, path)
    assert not _same(source, target)
    load_weights(target, path, "resnet18")
    assert _same(source, target)


def test_safetensors_files_load(tmp_path):
    source, target = _net(0), _net(1)
    path = tmp_path / "w.safetensors"
    write_safetensors(path, source.state_dict())
    load_weights(target, path, "resnet18")
    assert _same(source, target)


def test_the_reader_matches_a_file_written_by_the_safetensors_library():
    t = read_safetensors(FIXTURES / "tiny.safetensors")  # written by safetensors 0.8.0 (save_file)
    assert torch.equal(t["a"], torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4)
    assert torch.equal(t["b"], torch.tensor([1, -2, 3, 2**40]))
    assert t["c"].dtype == torch.float16 and t["c"].tolist() == [[[0.5, -1.5], [2.0, 3.25]]]
    assert t["d"].dtype == torch.bfloat16 and t["d"].tolist() == [1.5, -2.0]


def test_a_mismatch_names_the_first_missing_unexpected_and_shape_differences(tmp_path):
    sd = dict(_net(0).state_dict())
    sd.pop("conv1.weight")
    sd["layer1.0.conv1.weight"] = torch.zeros(5, 4, 3, 3)
    sd["extra.weight"] = torch.zeros(1)
    path = tmp_path / "w.pt"
    torch.save(sd, path)
    with pytest.raises(UserError) as e:
        load_weights(_net(1), path, "resnet18")
    msg = str(e.value)
    assert "\n" not in msg and "does not fit --backbone resnet18" in msg
    assert "missing 1: conv1.weight" in msg and "unexpected 1: extra.weight" in msg
    assert "layer1.0.conv1.weight (5, 4, 3, 3) in the file vs (4, 4, 3, 3) here" in msg


def test_another_backbone_is_refused_in_one_line(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(build_backbone("small-cnn", in_channels=3, image_size=32).state_dict(), path)
    with pytest.raises(UserError, match=r"missing \d+: conv1.weight, bn1.weight, bn1.bias and \d+ more; unexpected"):
        load_weights(_net(1), path, "resnet18")


@pytest.mark.parametrize("content, needle", [(None, "no such file"), (b"not a zip", "not a readable PyTorch"),
                                             ("list", "expected a state dict")])
def test_bad_paths_and_files(tmp_path, content, needle):
    path = tmp_path / "w.pt"
    if content == "list":
        torch.save([torch.zeros(1)], path)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=needle):
        read_state_dict(path)
    with pytest.raises(UserError, match="never downloaded"):
        read_state_dict("https://download.pytorch.org/models/resnet18-f37072fd.pth")


def test_a_damaged_safetensors_file(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(struct.pack("<Q", 100) + b"{")
    with pytest.raises(UserError, match="not a readable .safetensors"):
        read_state_dict(path)


def test_nothing_is_downloaded_no_network_code():
    source = Path(weights_module.__file__).read_text()
    for word in ("urllib", "requests", "http", "hub", "download_url", "socket"):
        assert word not in source.replace("never downloaded", "")


def test_a_home_relative_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    source, target = _net(0), _net(1)
    torch.save(source.state_dict(), tmp_path / "w.pt")
    load_weights(target, "~/w.pt", "resnet18")
    assert _same(source, target)


def test_a_checkpoint_without_batchnorm_counters_loads_as_torch_loads_it(tmp_path):
    """Older checkpoints have no ``num_batches_tracked``; torch's strict load_state_dict accepts them."""
    source = build_backbone("resnet18", in_channels=3, image_size=32)
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pth")
    target = build_backbone("resnet18", in_channels=3, image_size=32)
    load_weights(target, tmp_path / "old.pth", "resnet18")
    key = next(k for k in state if k.endswith("running_mean"))
    assert torch.equal(target.state_dict()[key], state[key])
