"""ImageNet ResNets (He et al. 2016, "Deep Residual Learning for Image Recognition", Table 1) as encoders.

ResNet-18/34 stack BasicBlocks (two 3x3 convs), ResNet-50 stacks Bottlenecks (1x1 -> 3x3 -> 1x1, 4x
expansion) with the stride on the 3x3 conv (the "v1.5" variant of torchvision). Stem: 7x7/2 conv ->
BN -> ReLU -> 3x3/2 max-pool; four stages of widths 64, 128, 256, 512 (x4 for Bottlenecks); global
average pooling. No classifier: ``forward`` maps (B, C, H, W) -> pooled features (B, feature_dim).

Parameter names and shapes are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer2.0.downsample.0``, ...), so the encoder part of a torchvision checkpoint loads as it is;
its classifier ``fc.*`` is not part of the encoder (see :mod:`noisylabels.models.weights`).
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def _downsample(in_ch: int, out_ch: int, stride: int) -> nn.Sequential | None:
    """The projection shortcut (1x1 conv + BN, He et al. option B) where the shape changes, else None."""
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))


class BasicBlock(nn.Module):
    """relu(bn2(conv3x3(relu(bn1(conv3x3(x))))) + shortcut(x)); (B, in_ch, H, W) -> (B, width, H/s, W/s)."""

    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = _downsample(in_ch, width, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """1x1 (width) -> 3x3 (width, stride s) -> 1x1 (4 width), each with BN, ReLU after the sum with the
    shortcut; (B, in_ch, H, W) -> (B, 4 width, H/s, W/s)."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.downsample = _downsample(in_ch, out_ch, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


# name -> (block, blocks per stage); He et al. 2016, Table 1
RESNETS: dict[str, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
}


class ResNet(nn.Module):
    """An ImageNet ResNet encoder: (B, in_channels, H, W) -> (B, feature_dim); feature_dim = 8 width
    (BasicBlock) or 32 width (Bottleneck): 512 / 2048 at the standard width 64. Made for 224 px (the maps
    are 1/32 of the side before pooling, 7 x 7); smaller inputs down to 8 px still give 1 x 1 maps."""

    def __init__(self, depth: str, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        block, counts = RESNETS[depth]
        self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        in_ch = width
        for i, n in enumerate(counts):
            w = width * 2**i
            blocks = []
            for j in range(n):
                blocks.append(block(in_ch, w, 2 if (i > 0 and j == 0) else 1))
                in_ch = w * block.expansion
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.feature_dim = in_ch
        for m in self.modules():  # He initialisation, as torchvision
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)
