"""Reading pickled files (checkpoints, CIFAR's python batches, CIFAR-N's ``.pt`` label files) without
running code from them: only tensors, numpy arrays and plain containers are rebuilt; a file that names
any other class or function is refused, since unpickling it could run arbitrary code."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

# (module, name) pairs numpy arrays need to be rebuilt from a pickle (numpy 1 and 2 module names)
_ARRAY_GLOBALS = {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")}
_ARRAY_GLOBALS |= {("numpy", "ndarray"), ("numpy", "dtype")}


class UnsafePickle(ValueError):
    """A pickle that names something other than tensors, arrays and plain containers."""


def _numpy_globals() -> list[Any]:
    """The numpy objects torch's weights-only unpickler must accept for arrays and RNG states."""
    core = getattr(np, "_core", None) or np.core
    dtypes = {type(np.dtype(t)) for t in ("b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "U", "S")}
    return [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype, *sorted(dtypes, key=str)]


def torch_load(path: str | Path, map_location: Any = "cpu") -> Any:
    """``torch.load`` of tensors, numpy arrays and plain containers only (``weights_only=True`` with numpy's
    array globals allowed); raises UnsafePickle naming what else the file holds, the file's own error else."""
    import torch

    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e) or "weights_only" in str(e).lower():
            raise UnsafePickle(str(e).split("Unsupported global:", 1)[-1].split(" was ", 1)[0].strip()) from None
        raise


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickle(f"{module}.{name}")


def unpickle_arrays(path: str | Path) -> Any:
    """A python pickle (bytes-encoded strings, as CIFAR's batches) holding only numpy arrays and plain
    containers; raises UnsafePickle naming any other global it refers to."""
    with open(path, "rb") as f:
        return _ArraysOnly(f, encoding="bytes").load()
