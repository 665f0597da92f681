"""What a network's published weights expect of its input (shared by the built-in and the timm backbones)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PretrainedInput:
    """What a network's published ImageNet weights expect: side in px, per-channel mean and std (RGB)."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
