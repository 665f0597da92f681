"""--backbone timm:NAME without timm installed in the test environment: a one-line UserError when it is
missing, and the wiring (random weights, no classifier, feature_dim, timm's input configuration)
against a stand-in ``timm`` module. The real-timm check is in benchmarks/dump_backbone_keys.py --check."""

import sys
import types

import pytest
import torch
import torch.nn as nn

from noisylabels.errors import UserError
from noisylabels.models.backbones import build_backbone, pretrained_input


class _Tiny(nn.Module):
    def __init__(self, in_chans: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 6, 3)
        self.num_features = 6

    def forward(self, x):
        return self.conv(x).mean((2, 3))


@pytest.fixture
def fake_timm(monkeypatch):
    calls = []

    def create_model(name, **kwargs):
        calls.append((name, kwargs))
        return _Tiny(kwargs["in_chans"])

    cfg = types.SimpleNamespace(input_size=(3, 256, 256), mean=(0.4, 0.5, 0.6), std=(0.2, 0.2, 0.2))
    module = types.SimpleNamespace(__version__="0.test", is_model=lambda n: n == "tinynet", create_model=create_model,
                                   models=types.SimpleNamespace(get_pretrained_cfg=lambda n: cfg))
    monkeypatch.setitem(sys.modules, "timm", module)
    return calls


def test_timm_models_are_built_without_weights_or_classifier(fake_timm):
    net = build_backbone("timm:tinynet", in_channels=1, image_size=32)
    assert fake_timm == [("tinynet", {"pretrained": False, "num_classes": 0, "in_chans": 1})]
    assert net.feature_dim == 6 and net(torch.zeros(2, 1, 8, 8)).shape == (2, 6)
    spec = pretrained_input("timm:tinynet")
    assert spec.size == 256 and spec.mean == (0.4, 0.5, 0.6)


def test_unknown_timm_names_and_a_width_are_user_errors(fake_timm):
    with pytest.raises(UserError, match="has no architecture 'nonet'"):
        build_backbone("timm:nonet", in_channels=3, image_size=32)
    with pytest.raises(UserError, match="--width does not apply"):
        build_backbone("timm:tinynet", in_channels=3, image_size=32, width=8)


def test_without_timm_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm -> ImportError, installed or not
    with pytest.raises(UserError, match="needs the optional package timm, which is not installed: pip install timm"):
        build_backbone("timm:resnet18", in_channels=3, image_size=32)


def test_unknown_backbones_mention_timm():
    with pytest.raises(UserError, match="or timm:NAME"):
        build_backbone("vgg16", in_channels=3, image_size=32)
