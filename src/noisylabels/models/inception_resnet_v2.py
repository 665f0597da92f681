"""Inception-ResNet-v2 (Szegedy et al. 2017, "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning", Figs. 3, 5, 7, 16-20) as an encoder.

Stem (Fig. 3, with the 1x1/3x3 layers of the TF-slim release) -> Mixed-5b (35x35, 320 ch) ->
10 x Inception-ResNet-A (scale 0.17) -> Reduction-A (17x17, 1088 ch) -> 20 x Inception-ResNet-B
(scale 0.10) -> Reduction-B (8x8, 2080 ch) -> 9 x Inception-ResNet-C (scale 0.20) + one without the
final ReLU -> 1x1 conv to 1536 ch -> global average pooling. Every conv except the residual 1x1
projections is conv (no bias) -> BN (eps 1e-3) -> ReLU.

Module and parameter names and shapes are timm's ``inception_resnet_v2`` (``conv2d_1a.conv.weight``,
``conv2d_1a.bn.running_mean``, ``mixed_5b.branch1.0``, ``repeat.0``, ``repeat_1``, ``repeat_2``,
``block8``, ``conv2d_7b``), so the encoder part of a timm checkpoint loads as it is; timm's classifier
``classif.*`` is not part of the encoder. Input: at least 75 x 75 px (299 x 299 in the paper).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

MIN_SIZE = 75


class ConvBN(nn.Module):
    """conv (no bias) -> BatchNorm (eps 1e-3, as the TF release) -> ReLU; timm's names ``conv``, ``bn``."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=1e-3)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _chain(*layers: nn.Module) -> nn.Sequential:
    return nn.Sequential(*layers)


class Mixed5b(nn.Module):
    """The 35x35 Inception block after the stem: 192 -> 96 + 64 + 96 + 64 = 320 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = ConvBN(192, 96, 1)
        self.branch1 = _chain(ConvBN(192, 48, 1), ConvBN(48, 64, 5, padding=2))
        self.branch2 = _chain(ConvBN(192, 64, 1), ConvBN(64, 96, 3, padding=1), ConvBN(96, 96, 3, padding=1))
        self.branch3 = _chain(nn.AvgPool2d(3, 1, 1, count_include_pad=False), ConvBN(192, 64, 1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)


class Residual(nn.Module):
    """An Inception-ResNet block: x + scale * conv2d(cat(branches(x))), then ReLU unless ``relu`` is
    False (the paper's residual scaling, Sec. 3.3). Subclasses set the branches and ``conv2d``."""

    def __init__(self, scale: float, relu: bool = True) -> None:
        super().__init__()
        self.scale, self.relu = scale, relu

    def branches(self) -> list[nn.Module]:
        return [m for name, m in self.named_children() if name.startswith("branch")]

    def forward(self, x: Tensor) -> Tensor:
        out = x + self.scale * self.conv2d(torch.cat([b(x) for b in self.branches()], 1))
        return F.relu(out) if self.relu else out


class Block35(Residual):
    """Inception-ResNet-A (Fig. 16), 35x35, 320 channels."""

    def __init__(self, scale: float = 0.17) -> None:
        super().__init__(scale)
        self.branch0 = ConvBN(320, 32, 1)
        self.branch1 = _chain(ConvBN(320, 32, 1), ConvBN(32, 32, 3, padding=1))
        self.branch2 = _chain(ConvBN(320, 32, 1), ConvBN(32, 48, 3, padding=1), ConvBN(48, 64, 3, padding=1))
        self.conv2d = nn.Conv2d(128, 320, 1)


class Block17(Residual):
    """Inception-ResNet-B (Fig. 17), 17x17, 1088 channels."""

    def __init__(self, scale: float = 0.10) -> None:
        super().__init__(scale)
        self.branch0 = ConvBN(1088, 192, 1)
        self.branch1 = _chain(ConvBN(1088, 128, 1), ConvBN(128, 160, (1, 7), padding=(0, 3)),
                              ConvBN(160, 192, (7, 1), padding=(3, 0)))
        self.conv2d = nn.Conv2d(384, 1088, 1)


class Block8(Residual):
    """Inception-ResNet-C (Fig. 19), 8x8, 2080 channels."""

    def __init__(self, scale: float = 0.20, relu: bool = True) -> None:
        super().__init__(scale, relu)
        self.branch0 = ConvBN(2080, 192, 1)
        self.branch1 = _chain(ConvBN(2080, 192, 1), ConvBN(192, 224, (1, 3), padding=(0, 1)),
                              ConvBN(224, 256, (3, 1), padding=(1, 0)))
        self.conv2d = nn.Conv2d(448, 2080, 1)


class Mixed6a(nn.Module):
    """Reduction-A (Fig. 7, k=256, l=256, m=384, n=384): 35x35x320 -> 17x17x1088."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = ConvBN(320, 384, 3, stride=2)
        self.branch1 = _chain(ConvBN(320, 256, 1), ConvBN(256, 256, 3, padding=1), ConvBN(256, 384, 3, stride=2))
        self.branch2 = nn.MaxPool2d(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1)


class Mixed7a(nn.Module):
    """Reduction-B (Fig. 18): 17x17x1088 -> 8x8x2080."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = _chain(ConvBN(1088, 256, 1), ConvBN(256, 384, 3, stride=2))
        self.branch1 = _chain(ConvBN(1088, 256, 1), ConvBN(256, 288, 3, stride=2))
        self.branch2 = _chain(ConvBN(1088, 256, 1), ConvBN(256, 288, 3, padding=1), ConvBN(288, 320, 3, stride=2))
        self.branch3 = nn.MaxPool2d(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)


class InceptionResNetV2(nn.Module):
    """Inception-ResNet-v2 encoder: (B, in_channels, H, W), H, W >= 75 -> (B, 1536)."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.conv2d_1a = ConvBN(in_channels, 32, 3, stride=2)
        self.conv2d_2a = ConvBN(32, 32, 3)
        self.conv2d_2b = ConvBN(32, 64, 3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, 2)
        self.conv2d_3b = ConvBN(64, 80, 1)
        self.conv2d_4a = ConvBN(80, 192, 3)
        self.maxpool_5a = nn.MaxPool2d(3, 2)
        self.mixed_5b = Mixed5b()
        self.repeat = nn.Sequential(*[Block35() for _ in range(10)])
        self.mixed_6a = Mixed6a()
        self.repeat_1 = nn.Sequential(*[Block17() for _ in range(20)])
        self.mixed_7a = Mixed7a()
        self.repeat_2 = nn.Sequential(*[Block8() for _ in range(9)])
        self.block8 = Block8(scale=1.0, relu=False)
        self.conv2d_7b = ConvBN(2080, 1536, 1)
        self.feature_dim = 1536

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.children():
            x = layer(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)
