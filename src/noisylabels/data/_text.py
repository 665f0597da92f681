"""Values written as text: the one number test of the readers of user files (label CSVs, ``detect``'s arrays)."""

from __future__ import annotations


def is_number(value: object) -> bool:
    """True when ``float(value)`` succeeds: '3', '-0.5', '1e-3', 'nan', or an int/float; False for a
    word such as a CSV header ('label'), an empty cell, or None."""
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True
