"""Values a user hands over in Python (arrays, tensors, lists, pandas objects) as plain numpy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UserError


def plain_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a numpy array: a torch tensor detached and on the CPU (bf16 and fp16 widened to float32, which
    numpy holds exactly); a masked array with masked entries refused (numpy would read the hidden values); rows of
    unequal lengths refused in one line naming ``name``. pandas objects give their values: aligning their indexes
    is the caller's."""
    if isinstance(value, np.ma.MaskedArray):
        if np.ma.getmaskarray(value).any():
            raise UserError(f"{name} is a masked array with {int(np.ma.getmaskarray(value).sum())} masked entries, which "
                            "would be read as values; drop or fill them first")
        value = value.data
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "dtype"):  # a torch tensor
        import torch

        t = value.detach().cpu()
        value = (t.float() if t.dtype in (torch.bfloat16, torch.float16) else t).numpy()
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as e:
        detail = (str(e).splitlines() or [type(e).__name__])[0][:80]
        raise UserError(f"{name} is not an array of equal rows ({detail}); give a numpy array") from None
