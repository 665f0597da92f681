"""Reading pickled files (checkpoints, CIFAR's python batches, CIFAR-N's ``.pt`` label files, the pickles
inside an exported model) without running code from them: only tensors, numpy arrays and plain containers
are rebuilt; a file that names any other class or function is refused, since unpickling it could run
arbitrary code."""

from __future__ import annotations

import io
import json
import pickle
import re
import zipfile
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


def load_npy(path: str | Path) -> np.ndarray:
    """The one array of a .npy file, read without pickles and only after its header is checked against the
    file: ValueError (one line, what is wrong) for an .npz archive, a header numpy cannot parse, object
    (pickled) data, or fewer bytes than the header's shape and dtype need (a file cut short, or a header that
    would allocate more memory than the file could ever fill); OSError where the file cannot be read."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    with open(path, "rb") as f:
        head = f.read(6)
        if head.startswith(b"PK"):
            raise ValueError("an .npz archive, not one array; save the array with numpy.save")
        if head != b"\x93NUMPY":
            raise ValueError("not a .npy file (no numpy header)")
        f.seek(0)
        try:
            version = np.lib.format.read_magic(f)
            reader = readers.get(version)
            header = reader(f) if reader is not None else None  # version 3 (UTF-8 names): numpy's load checks it
        except (ValueError, SyntaxError, EOFError, TypeError, KeyError) as e:
            raise ValueError(f"a damaged .npy header ({(str(e).splitlines() or [type(e).__name__])[0][:80]})") from None
        if header is not None:
            shape, _, dtype = header
            if dtype.hasobject:
                raise ValueError("the array holds pickled Python objects, which could run code; save numbers")
            need = int(np.prod(shape, dtype=object)) * dtype.itemsize
            have = Path(path).stat().st_size - f.tell()
            if have < need:
                raise ValueError(f"cut short: the header promises {need} bytes of data, the file holds {have}")
    try:
        return np.load(path, allow_pickle=False)
    except MemoryError:
        raise ValueError("its header asks for more memory than this machine has") from None


# The members of a torch.export archive of one program whose weights and constants are raw tensor bytes (what
# ``torch.export.save`` writes for a plain module), below the archive's one top-level folder.
_EXPORT_MEMBERS = re.compile(r"(data/weights/(weight_\d+|model_weights_config\.json)"
                             r"|data/constants/(tensor_\d+|model_constants_config\.json)"
                             r"|models/model\.json|data/sample_inputs/model\.pt|extra/[^/]+"
                             r"|archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id)")


def check_export_archive(path: str | Path) -> None:
    """Refuse a ``torch.export`` archive (.pt2) that ``torch.export.load`` would unpickle with code allowed:
    weights or constants marked ``use_pickle``, custom or opaque objects, legacy weight files, or sample inputs
    that tensors-only loading cannot read (torch falls back to a full unpickle for them). Raises UnsafePickle
    naming the member, ValueError for an archive that is damaged or not a zip (torch is never called on
    either); OSError where it cannot be read."""
    import torch

    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError("not a zip archive (cut short, or another kind of file)") from None
    with archive as z:
        try:
            damaged = z.testzip()
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as e:
            raise ValueError(f"damaged archive ({type(e).__name__})") from None
        if damaged is not None:
            raise ValueError(f"damaged archive (member {damaged!r} fails its checksum)")
        names = z.namelist()
        roots = {n.split("/", 1)[0] for n in names}
        if len(roots) != 1:
            raise ValueError(f"{len(roots)} top-level folders where an exported model has one")
        for name in names:
            if not _EXPORT_MEMBERS.fullmatch(name.split("/", 1)[-1]):
                raise UnsafePickle(f"member {name!r}, which no plain exported model holds")
        root = roots.pop()
        for config in ("data/weights/model_weights_config.json", "data/constants/model_constants_config.json"):
            try:
                entries = json.loads(z.read(f"{root}/{config}"))["config"].values()
            except (KeyError, ValueError, AttributeError, TypeError):
                raise ValueError(f"no readable {config}") from None
            for entry in entries:
                if not isinstance(entry, dict) or entry.get("use_pickle") is not False \
                        or not re.fullmatch(r"(weight|tensor)_\d+", str(entry.get("path_name", ""))):
                    raise UnsafePickle(f"{config} names a pickled or non-tensor entry")
        try:
            with torch.serialization.safe_globals(_numpy_globals()):
                torch.load(io.BytesIO(z.read(f"{root}/data/sample_inputs/model.pt")), weights_only=True)
        except KeyError:
            raise ValueError("no sample inputs") from None
        except pickle.UnpicklingError as e:
            raise UnsafePickle(f"sample inputs that are not tensors ({str(e).splitlines()[0][:80]})") from None
