"""``--weights PATH``: load a local state dict (torchvision, timm or our own layout) into an encoder.

Formats: ``.pth`` / ``.pt`` / ``.bin`` (``torch.load`` with ``weights_only=True``: tensors only, no
pickled code) and ``.safetensors`` (read here: an 8-byte little-endian header length, a JSON header of
``name -> {dtype, shape, data_offsets}``, then the raw little-endian bytes; no extra dependency).
A state dict may sit under a ``state_dict`` or ``model`` key and its names may carry a ``module.``
prefix (DataParallel / DDP); a classifier head (``fc.*``, ``classif.*``, ``head.*``, ``classifier.*``,
``last_linear.*``) that the encoder
does not have is left out. Nothing is ever downloaded: a path that is not a local file is a UserError.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn

from ..data.augment import ViewConfig
from ..errors import UserError
from ..runs import sub_state
from .backbones import pretrained_input

HEAD_PREFIXES = ("fc.", "classif.", "head.", "classifier.", "last_linear.")
_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file, by name (CPU, in the file's dtypes)."""
    data = path.read_bytes()
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n])
        body = memoryview(data)[8 + n:]
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            start, end = info["data_offsets"]
            dtype = _SAFETENSORS_DTYPES[info["dtype"]]
            flat = torch.frombuffer(bytearray(body[start:end]), dtype=dtype) if end > start else torch.empty(0, dtype=dtype)
            out[name] = flat.reshape(info["shape"])
        return out
    except (struct.error, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise UserError(f"--weights {path}: not a readable .safetensors file ({type(e).__name__}: {e})") from None


def check_weights_path(path: str | Path) -> Path:
    """``path`` (``~`` expanded) when it is a local file; UserError otherwise (nothing is downloaded)."""
    local = Path(path).expanduser()
    if not local.is_file():
        raise UserError(f"--weights {path}: no such file (weights are never downloaded; give a local .pth, .pt "
                        "or .safetensors file)")
    return local


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a local weights file, unwrapped from ``state_dict`` / ``model`` and without a
    ``module.`` prefix; UserError for a missing or unreadable file."""
    path = check_weights_path(path)
    if path.suffix == ".safetensors":
        state: Any = read_safetensors(path)
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # pickle, zip or unpickling-policy errors: all the user's file
            raise UserError(f"--weights {path}: not a readable PyTorch state dict ({type(e).__name__}); save it "
                            "with torch.save(model.state_dict(), PATH)") from None
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"--weights {path}: expected a state dict (names -> tensors), optionally under "
                        "'state_dict' or 'model'")
    state = dict(state)
    if state and all(k.startswith("module.") for k in state):
        state = sub_state(state, "module.")
    return state


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def _first(names: list[str], k: int = 3) -> str:
    more = f" and {len(names) - k} more" if len(names) > k else ""
    return ", ".join(names[:k]) + more


def mismatch(expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]) -> str | None:
    """None when ``given`` has exactly the names and shapes of ``expected``; else one line naming the
    first missing and unexpected names and the first shape mismatches (file vs. network)."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shapes = [f"{k} {_shape(given[k])} in the file vs {_shape(v)} here" for k, v in expected.items()
              if k in given and given[k].shape != v.shape]
    parts = []
    if missing:
        parts.append(f"missing {len(missing)}: {_first(missing)}")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)}: {_first(unexpected)}")
    if shapes:
        parts.append(f"shape mismatch {len(shapes)}: {_first(shapes, 2)}")
    return "; ".join(parts) or None


def load_weights(encoder: nn.Module, path: str | Path, backbone: str) -> None:
    """Copy the weights in ``path`` into ``encoder`` (strict: every name and shape must match), dropping
    a classifier head the encoder lacks; UserError naming the first differences otherwise."""
    state = read_state_dict(path)
    expected = encoder.state_dict()
    state = {k: v for k, v in state.items() if k in expected or not k.startswith(HEAD_PREFIXES)}
    for k in expected:  # older checkpoints lack BatchNorm's counter, which torch's own strict loading allows
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = torch.zeros_like(expected[k])
    problem = mismatch(expected, state)
    if problem:
        hint = ("; small-cnn's layers follow the image size: pass the --image-size (and --width) it was trained at"
                if backbone == "small-cnn" else "")
        raise UserError(f"--weights {path} does not fit --backbone {backbone}: {problem}{hint}")
    encoder.load_state_dict(state)


def pretrained_views(views: ViewConfig, backbone: str, image_size: int | None) -> ViewConfig:
    """The views of a run with ``--weights``: an ImageNet backbone's own normalisation (RGB; grey images
    repeated into 3 channels) at ``image_size`` px, by default its input size (224 ResNets, 299
    Inception-ResNet-v2); our own networks keep the data's statistics and size."""
    spec = pretrained_input(backbone)
    if spec is None:
        return views
    return dataclasses.replace(views, mean=spec.mean, std=spec.std, size=image_size or spec.size)


def weights_input_size(backbone: str) -> int | None:
    """The default ``--image-size`` under ``--weights``: the backbone's ImageNet input side, or None."""
    spec = pretrained_input(backbone)
    return None if spec is None else spec.size
