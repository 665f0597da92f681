"""``--backbone timm:NAME``: any architecture of the optional ``timm`` package as an encoder.

The model is built with random weights (``pretrained=False``: timm never downloads here) and without
its classifier (``num_classes=0``), so ``forward`` returns its pooled features (B, num_features); start
it from a local checkpoint with ``--weights`` (timm's own parameter names; its classifier is left out).
timm is not a dependency of noisylabels: without it, ``timm:NAME`` is a UserError saying how to get it.
"""

from __future__ import annotations

from types import ModuleType

import torch.nn as nn

from ..errors import UserError
from .inputs import PretrainedInput

PREFIX = "timm:"


def _timm(name: str) -> ModuleType:
    try:
        import timm
    except ImportError:
        raise UserError(f"--backbone {PREFIX}{name} needs the optional package timm, which is not installed: "
                        "pip install timm (nothing else changes; no weights are downloaded)") from None
    if not name or not timm.is_model(name):
        raise UserError(f"--backbone {PREFIX}{name}: timm {timm.__version__} has no architecture {name!r}; "
                        "list them with python -c \"import timm; print(timm.list_models())\"")
    return timm


def build_timm(name: str, in_channels: int) -> nn.Module:
    """timm's ``name`` with random weights and no classifier: (B, in_channels, H, W) -> (B, feature_dim)."""
    timm = _timm(name)
    model = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_channels)
    model.feature_dim = int(model.num_features)
    return model


def timm_input(name: str) -> PretrainedInput | None:
    """The input size and normalisation of timm's default pretrained configuration of ``name``, if any."""

    timm = _timm(name)
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None or len(cfg.mean) != 3:
        return None
    return PretrainedInput(int(cfg.input_size[-1]), tuple(cfg.mean), tuple(cfg.std))
