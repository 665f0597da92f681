"""Compatibility re-exports: the run pipeline now lives in :mod:`noisylabels.config` (options and their
checks) and :mod:`noisylabels.app` (``build``: prepare a run; ``run``: train it into its folder;
``summary``: issues and summary.json). Import from those; this module keeps older imports working."""

from __future__ import annotations

from .app.build import (Prepared, load_pretrained_encoder, noisy_training_labels, prepare, resolve_device,
                        skipped_paths, to_device, view_config)
from .app.run import read_saved_config, run_train, saved_config
from .app.summary import build_summary, write_issues
from .config import (TRAIN_DEFAULTS, RunConfig, as_float, as_int, check_config, resolve_method_options,
                     validate_config)
from .engine import train

__all__ = ["TRAIN_DEFAULTS", "Prepared", "RunConfig", "as_float", "as_int", "build_summary", "check_config",
           "load_pretrained_encoder", "noisy_training_labels", "prepare", "read_saved_config", "resolve_device",
           "resolve_method_options", "run_train", "saved_config", "skipped_paths", "to_device", "train",
           "validate_config", "view_config", "write_issues"]
