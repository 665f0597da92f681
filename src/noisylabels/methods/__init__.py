"""Methods, found by name (``--method``)."""

from __future__ import annotations

from typing import Any

from ..errors import UserError
from .base import Method, MethodOptions, Phase, TrainData
from .cleanlab_retrain import CleanlabRetrain
from .framework import Framework
from .mixup_bootstrap import MixupBootstrap
from .robust import ROBUST_METHODS
from .simclr import SimCLR
from .standard import CrossEntropy
from .tcl import TCL
from .tcl_plus import TCLPlus

METHODS: dict[str, type[Method[Any]]] = {m.name: m for m in (CrossEntropy, *ROBUST_METHODS, MixupBootstrap, SimCLR, TCL, TCLPlus, Framework,
                                                             CleanlabRetrain)}


def get_method(name: str) -> type[Method[Any]]:
    """The method class registered under ``name``."""
    try:
        return METHODS[name]
    except KeyError:
        raise UserError(f"unknown method {name!r}; choose one of: {', '.join(sorted(METHODS))}") from None


__all__ = ["METHODS", "Method", "MethodOptions", "Phase", "TrainData", "get_method"]
