"""The ImageNet backbones against the state-dict names and shapes of torchvision's ResNets and timm's
inception_resnet_v2, dumped once into tests/fixtures/keys_*.json by benchmarks/dump_backbone_keys.py
(without the classifiers ``fc.*`` / ``classif.*``: our encoders have no head). The numeric check
(same weights, same input -> same features) needs torchvision/timm and is recorded in that script."""

import json
from pathlib import Path

import pytest
import torch

from noisylabels.errors import UserError
from noisylabels.models.backbones import build_backbone

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

pytestmark = pytest.mark.usefixtures("one_thread")


def _reference(name: str) -> dict:
    return json.loads((FIXTURES / f"keys_{name.replace('-', '_')}.json").read_text())


@pytest.mark.parametrize("name, size", [("resnet18", 32), ("resnet34", 32), ("resnet50", 32),
                                        ("inception-resnet-v2", 75)])
def test_state_dict_names_and_shapes_match_the_libraries_exactly(name, size):
    ref = _reference(name)
    ours = {k: list(v.shape) for k, v in build_backbone(name, in_channels=3, image_size=size).state_dict().items()}
    assert sorted(ours) == sorted(ref["keys"])
    assert ours == ref["keys"]
    assert all(k.startswith(("fc.", "classif.")) for k in ref["dropped"])


@pytest.mark.parametrize("name, dim, params", [("resnet18", 512, 11_176_512), ("resnet34", 512, 21_284_672),
                                               ("resnet50", 2048, 23_508_032)])
def test_resnets_pool_to_their_feature_dim(name, dim, params):
    net = build_backbone(name, in_channels=3, image_size=32)
    assert sum(p.numel() for p in net.parameters()) == params and net.feature_dim == dim  # torchvision's less fc
    narrow = build_backbone(name, in_channels=3, image_size=32, width=4).eval()  # the same graph, 1/16 the work
    with torch.no_grad():
        assert narrow(torch.randn(2, 3, 32, 32)).shape == (2, dim // 16)


def test_resnet_width_and_grey_input_for_training_from_scratch():
    net = build_backbone("resnet18", in_channels=1, image_size=16, width=8)
    assert net.feature_dim == 64 and net(torch.randn(2, 1, 16, 16)).shape == (2, 64)


def test_inception_resnet_v2_size_and_parameter_count():
    net = build_backbone("inception-resnet-v2", in_channels=3, image_size=75)
    assert net.feature_dim == 1536
    assert sum(p.numel() for p in net.parameters()) == 54_306_464  # timm's 55,843,464 less classif (1537 x 1000)


def test_inception_resnet_v2_forward_at_its_smallest_input():
    net = build_backbone("inception-resnet-v2", in_channels=3, image_size=75).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 75, 75)).shape == (1, 1536)


def test_inception_resnet_v2_refuses_small_images_and_a_width():
    with pytest.raises(UserError, match="at least 75 px"):
        build_backbone("inception-resnet-v2", in_channels=3, image_size=32)
    with pytest.raises(UserError, match="--width does not apply"):
        build_backbone("inception-resnet-v2", in_channels=3, image_size=299, width=8)
