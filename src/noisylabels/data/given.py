"""Values a user hands over in Python (arrays, tensors, lists, pandas objects) as plain numpy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UserError


def plain_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a numpy array: a torch tensor detached and on the CPU (bf16 and fp16 widened to float32, which
    numpy holds exactly); a masked array with masked entries refused (numpy would read the hidden values); rows of
    unequal lengths refused in one line naming ``name``. pandas objects give their values, nullable dtypes as the numpy
    dtypes they stand for and missing values refused: aligning their indexes is the caller's."""
    if isinstance(value, np.ma.MaskedArray):
        if np.ma.getmaskarray(value).any():
            raise UserError(f"{name} is a masked array with {int(np.ma.getmaskarray(value).sum())} masked entries, which "
                            "would be read as values; drop or fill them first")
        value = value.data
    if hasattr(value, "to_numpy") and (hasattr(value, "dtype") or hasattr(value, "dtypes")) \
            and not isinstance(value, np.ndarray):  # pandas
        value = _pandas_values(value, name)
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "dtype"):  # a torch tensor
        import torch

        t = value.detach().cpu()
        value = (t.float() if t.dtype in (torch.bfloat16, torch.float16) else t).numpy()
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as e:
        detail = (str(e).splitlines() or [type(e).__name__])[0][:80]
        raise UserError(f"{name} is not an array of equal rows ({detail}); give a numpy array") from None


def _pandas_values(value: Any, name: str) -> Any:
    """A pandas Series or DataFrame's values, its nullable dtypes (Int64, Float64, boolean, string) as the numpy
    dtypes they stand for; a missing value (pd.NA) refused, as numpy would hold it as an object."""
    try:
        if bool(value.isna().to_numpy().any()):
            raise UserError(f"{name} holds missing values (NaN or NA); drop or fill them first")
    except (AttributeError, TypeError):
        return value
    kinds = {str(d) for d in (value.dtypes if hasattr(value, "columns") else [value.dtype])}
    target = (float if kinds & {"Float32", "Float64"} else "int64" if kinds <= {"Int8", "Int16", "Int32", "Int64",
              "UInt8", "UInt16", "UInt32", "UInt64"} else str if kinds <= {"string"} else None)
    return value.to_numpy(dtype=target) if target is not None else value.to_numpy()
