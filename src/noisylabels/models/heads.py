"""Heads on top of an encoder's pooled features."""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


class Classifier(nn.Module):
    """An encoder followed by a linear layer: (B, C, H, W) -> logits (B, num_classes)."""

    def __init__(self, encoder: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.fc = nn.Linear(encoder.feature_dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.encoder(x))


class MLPProjector(nn.Module):
    """TCL's projector g: Linear(d,d)-BN-ReLU-Linear(d,out)-BN; output L2-normalised (B, out)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, in_dim), nn.BatchNorm1d(in_dim), nn.ReLU(inplace=True),
            nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim),
        )

    def forward(self, h: Tensor) -> Tensor:
        return F.normalize(self.net(h), dim=1)


class MLPClassifier(nn.Module):
    """TCL's classifier h: Linear(d,d)-BN-ReLU-Dropout(p)-Linear(d,C)-BN -> logits (B, C)."""

    def __init__(self, in_dim: int, num_classes: int, dropout: float = 0.25) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, in_dim), nn.BatchNorm1d(in_dim), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(in_dim, num_classes), nn.BatchNorm1d(num_classes),
        )

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)
