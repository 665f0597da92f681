"""Encoders: PreAct ResNet-18 (TCL's official variant of He et al. 2016, the backbone of its CIFAR tables), a small fast
CNN for CPU runs on 1- or 3-channel images of 8..32 px, and the ImageNet networks whose checkpoints users have:
torchvision's ResNet-18/34/50 (:mod:`.resnet`) and timm's Inception-ResNet-v2 (:mod:`.inception_resnet_v2`).

Every encoder maps (B, C, H, W) -> (B, feature_dim) and exposes ``feature_dim``.
"""

from __future__ import annotations


import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..errors import UserError
from .inception_resnet_v2 import MIN_SIZE as IRV2_MIN_SIZE
from .inputs import PretrainedInput
from .inception_resnet_v2 import InceptionResNetV2
from .resnet import RESNETS, ResNet
from .timm_backbone import PREFIX as TIMM_PREFIX
from .timm_backbone import build_timm, timm_input


class PreActBlock(nn.Module):
    """TCL's pre-activation basic block (official ``network/preact_resnet.py``):
    a = ReLU(BN(x)); out = conv3x3(ReLU(BN(conv3x3(a)))) + shortcut(a), where the shortcut is a
    1x1 conv when the shape changes and the identity otherwise. Unlike He et al. (2016), whose
    identity shortcut adds x itself, the official block adds the pre-activated a in both cases."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.shortcut = nn.Sequential()  # the official names: shortcut.0.weight when it is a conv
        if stride != 1 or in_ch != out_ch:
            self.shortcut.append(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        a = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return out + self.shortcut(a)


class PreActResNet18(nn.Module):
    """TCL's PreAct ResNet-18 for CIFAR (official ``network/preact_resnet.py``, "bigresnet18_preact"):
    stem conv3x3 (stride 1, no max-pool) -> BN -> ReLU, four stages of two :class:`PreActBlock`, a final
    BN -> ReLU, global average pooling; 512-d output (8 x width). Parameter names follow the official
    module (conv1, bn1, layer1..layer4, bn), so its encoder weights load as they are.

    Works for any input of at least 8 px (28x28 Fashion-MNIST included): at 32 px the adaptive pooling
    equals the official 4x4 average pool.
    """

    def __init__(self, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        widths = (width, 2 * width, 4 * width, 8 * width)
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        in_ch = width
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            self.add_module(f"layer{i + 1}", nn.Sequential(PreActBlock(in_ch, w, stride), PreActBlock(w, w, 1)))
            in_ch = w
        self.bn = nn.BatchNorm2d(in_ch)
        self.feature_dim = in_ch

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return F.adaptive_avg_pool2d(F.relu(self.bn(out)), 1).flatten(1)


def _conv_bn(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """A 6-conv network with widths (w, 2w, 4w) for 8..32 px images; the CPU default.

    stem conv(w) -> conv(w) -> pool -> conv(2w) x2 -> pool -> conv(4w) x2 -> global average pool.
    A pool is skipped where the map would fall below 4 px, so 8x8 digits keep 4x4 maps.
    Output dimension 4w (64 at the default w = 16: about 2,400 training images/s on 2 CPU cores at
    28 x 28, channels_last).
    """

    def __init__(self, in_channels: int, image_size: int, width: int = 16) -> None:
        super().__init__()
        w1, w2, w3 = width, 2 * width, 4 * width
        size = image_size
        blocks: list[nn.Module] = [_conv_bn(in_channels, w1), _conv_bn(w1, w1)]
        for a, b in ((w1, w2), (w2, w3)):
            if size >= 8:
                blocks.append(nn.MaxPool2d(2))
                size //= 2
            blocks += [_conv_bn(a, b), _conv_bn(b, b)]
        self.net = nn.Sequential(*blocks)
        self.feature_dim = w3

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(self.net(x), 1).flatten(1)


BACKBONES = ("small-cnn", "preact-resnet18", *RESNETS, "inception-resnet-v2")

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
INCEPTION_MEAN, INCEPTION_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


# torchvision's ResNet weights: 224 px, ImageNet statistics; timm's inception_resnet_v2: 299 px, (0.5, 0.5)
PRETRAINED_INPUT: dict[str, PretrainedInput] = {
    **{name: PretrainedInput(224, IMAGENET_MEAN, IMAGENET_STD) for name in RESNETS},
    "inception-resnet-v2": PretrainedInput(299, INCEPTION_MEAN, INCEPTION_STD),
}


def pretrained_input(name: str) -> PretrainedInput | None:
    """The input a backbone's ImageNet weights expect (for ``timm:NAME``, timm's default pretrained
    configuration); None for our own networks (small-cnn, preact-resnet18), whose weights come from runs
    on the user's data and keep its statistics."""
    if name.startswith(TIMM_PREFIX):
        return timm_input(name[len(TIMM_PREFIX):])
    return PRETRAINED_INPUT.get(name)


def build_backbone(name: str, *, in_channels: int, image_size: int, width: int | None = None) -> nn.Module:
    """An encoder by name (one of BACKBONES, or ``timm:NAME`` with the optional timm installed);
    ``width`` overrides the base channel count (small-cnn 16, resnets 64; not inception-resnet-v2 or
    timm models, whose widths are fixed)."""
    if image_size < 8:
        raise UserError(f"images of {image_size} px are too small; the backbones need at least 8 px")
    if name == "small-cnn":
        return SmallCNN(in_channels, image_size, width or 16)
    if name == "preact-resnet18":
        return PreActResNet18(in_channels, width or 64)
    if name in RESNETS:
        return ResNet(name, in_channels, width or 64)
    if name == "inception-resnet-v2":
        if width is not None:
            raise UserError("--width does not apply to --backbone inception-resnet-v2 (its widths are fixed); drop it")
        if image_size < IRV2_MIN_SIZE:
            raise UserError(f"--backbone inception-resnet-v2 needs images of at least {IRV2_MIN_SIZE} px, got "
                            f"{image_size}; pass --image-size {IRV2_MIN_SIZE} or more (299 for ImageNet weights)")
        return InceptionResNetV2(in_channels)
    if name.startswith(TIMM_PREFIX):
        if width is not None:
            raise UserError(f"--width does not apply to --backbone {name} (timm's widths are fixed); drop it")
        return build_timm(name[len(TIMM_PREFIX):], in_channels)
    raise UserError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}, or timm:NAME (with timm "
                    "installed)")
