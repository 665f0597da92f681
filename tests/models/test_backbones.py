"""The encoders: TCL's official PreAct ResNet-18 (stem, block shortcuts, parameter names) and shapes."""

import pytest
import torch

from noisylabels.models.backbones import PreActBlock, PreActResNet18, build_backbone


def _official_names() -> list[str]:
    """The parameter/buffer names of the official network/preact_resnet.py ResNet18, written out from its
    structure: conv1, bn1, layer{1..4}.{0,1}.{bn1,conv1,bn2,conv2[,shortcut.0]}, bn."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    names = ["conv1.weight", *(f"bn1.{k}" for k in bn)]
    for layer in range(1, 5):
        for block in (0, 1):
            p = f"layer{layer}.{block}."
            names += [*(f"{p}bn1.{k}" for k in bn), f"{p}conv1.weight", *(f"{p}bn2.{k}" for k in bn), f"{p}conv2.weight"]
            if layer > 1 and block == 0:
                names.append(f"{p}shortcut.0.weight")
    return names + [f"bn.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]


def test_preact_resnet18_has_the_official_parameter_names_and_shapes():
    net = PreActResNet18()
    sd = net.state_dict()
    assert sorted(sd) == sorted(_official_names())
    assert sd["conv1.weight"].shape == (64, 3, 3, 3) and sd["layer4.0.shortcut.0.weight"].shape == (512, 256, 1, 1)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 512)


def test_identity_shortcut_adds_the_pre_activated_input():
    """Official block: out + shortcut(relu(bn1(x))); with the residual branch zeroed the block returns
    relu(bn1(x)), not x (He et al.'s form)."""
    torch.manual_seed(0)
    block = PreActBlock(8, 8, 1).eval()
    torch.nn.init.zeros_(block.conv2.weight)
    with torch.no_grad():
        block.bn1.running_mean.fill_(0.3)
        block.bn1.running_var.fill_(2.0)
        x = torch.randn(2, 8, 6, 6)
        expected = torch.relu(block.bn1(x))
        assert torch.allclose(block(x), expected, atol=1e-6)
        assert not torch.allclose(block(x), x)


def test_stem_is_conv_bn_relu():
    """Official stem: conv -> BN -> ReLU before the first block (the first block's own BN-ReLU follows)."""
    torch.manual_seed(0)
    net = PreActResNet18(width=8).eval()
    seen: list[torch.Tensor] = []
    net.layer1.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        net(x)
        stem = torch.relu(net.bn1(net.conv1(x)))
    assert torch.equal(seen[0], stem) and bool((seen[0] >= 0).all())


@pytest.mark.parametrize("name, dim", [("small-cnn", 64), ("preact-resnet18", 512)])
def test_backbones_take_28px_grey_images(name, dim):
    enc = build_backbone(name, in_channels=1, image_size=28)
    assert enc(torch.randn(3, 1, 28, 28)).shape == (3, dim) and enc.feature_dim == dim
