"""The trained classifier as one file another program can load: images in, probabilities out.

``model.pt2`` in a run folder is a ``torch.export`` program (``torch.export.load(path).module()``, no
noisylabels needed) that takes uint8 images (B, H, W, C) at the run's decoded size and channels (any batch
size B) and returns softmax probabilities (B, K) over the run's classes: the un-augmented test view
(per-channel normalisation, the network's input size), then the method's classifier, in fp32. The archive
also holds ``noisylabels.json``: the class names, the image shape, the normalisation and the run's
configuration (enough to rebuild the method with this package and load the program's ``state_dict``).
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .data.augment import ViewConfig, plain_view
from .errors import UserError
from .safeload import UnsafePickle, check_export_archive

MODEL_FILE = "model.pt2"
META_FILE = "noisylabels.json"
FORMAT = "noisylabels-model/1"


class _Predictor(nn.Module):
    """uint8 (B, H, W, C) -> probabilities (B, K): the plain view, then ``method.logits``."""

    def __init__(self, method: nn.Module, views: ViewConfig) -> None:
        super().__init__()
        self.method, self.views = method, views

    def forward(self, images: Tensor) -> Tensor:
        return torch.softmax(self.method.logits(plain_view(images, self.views)).float(), dim=1)


@dataclass(frozen=True)
class ModelInfo:
    """What an exported model expects and means: image_shape (H, W, C) of its uint8 inputs, class_names
    (index = output column), the views' normalisation, and the run's configuration."""

    image_shape: tuple[int, int, int]
    class_names: list[str]
    views: dict[str, Any]
    config: dict[str, Any]
    format: str = FORMAT


def export_model(method: nn.Module, views: ViewConfig, image_shape: tuple[int, int, int], class_names: list[str],
                 config: dict[str, Any]) -> bytes:
    """The ``torch.export`` archive (bytes) of ``method``'s classifier on the CPU in fp32, exported on two images of
    ``image_shape`` (H, W, C); the method itself is left as it was (a copy is traced)."""
    model = _Predictor(copy.deepcopy(method).float().cpu().eval(), views).eval()
    example = torch.zeros((2, *image_shape), dtype=torch.uint8)
    with torch.no_grad():
        program = torch.export.export(model, (example,), dynamic_shapes={"images": {0: torch.export.Dim("batch")}})
    info = ModelInfo(tuple(int(v) for v in image_shape), list(class_names), asdict(views), config)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # torch's note on weights stored as views of one storage: ours are CPU
        warnings.filterwarnings("ignore", message="No complete tensor found")
        torch.export.save(program, buf, extra_files={META_FILE: json.dumps(asdict(info))})
    return buf.getvalue()


def load_model(path: str | Path) -> tuple[nn.Module, ModelInfo]:
    """(the exported classifier on the CPU, its :class:`ModelInfo`) from ``path``: a model file or a run
    folder holding ``model.pt``; UserError when there is none or it is not one of ours."""
    p = Path(path)
    if p.is_dir():
        p = p / MODEL_FILE
    if not p.is_file():
        raise UserError(f"no trained model at {p}: give a finished run's folder (it holds {MODEL_FILE}) or the file")
    extra = {META_FILE: ""}
    try:
        check_export_archive(p)  # before torch reads it: torch.export.load unpickles with code allowed
    except UnsafePickle as e:
        raise UserError(f"{p} holds pickled objects that could run code ({e}); it was not loaded: use a model that "
                        "noisylabels exported (train writes one into its run folder)") from None
    except (ValueError, OSError) as e:
        raise UserError(f"{p} is not a model exported by noisylabels ({e}); give a run's {MODEL_FILE}") from None
    try:
        with warnings.catch_warnings():  # torch's note on weights stored as views of one storage: ours are CPU
            warnings.filterwarnings("ignore", message="No complete tensor found")
            module = torch.export.load(str(p), extra_files=extra).module()
        raw = json.loads(extra[META_FILE] or "{}")
    except Exception as e:  # noqa: BLE001 - not an exported program, truncated, foreign
        raise UserError(f"{p} is not a model exported by noisylabels ({type(e).__name__}); give a run's {MODEL_FILE}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise UserError(f"{p} is not a model exported by noisylabels (no {META_FILE} of format {FORMAT})")
    try:
        info = ModelInfo(**{**raw, "image_shape": tuple(int(v) for v in raw["image_shape"])})
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{p}: its {META_FILE} is damaged; export the model again (train --resume)") from None
    return module, info


@torch.no_grad()
def predict_with(module: nn.Module, images: np.ndarray, batch_size: int, classes: int) -> np.ndarray:
    """Probabilities float32 (N, ``classes``) of uint8 images (N, H, W, C) already at the model's shape, in
    batches of ``batch_size`` (a whole number >= 1)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UserError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
    out = [module(torch.from_numpy(np.ascontiguousarray(images[s:s + batch_size]))).numpy()
           for s in range(0, len(images), int(batch_size))]
    return np.concatenate(out) if out else np.zeros((0, classes), np.float32)
