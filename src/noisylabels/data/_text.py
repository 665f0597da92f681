"""Values written as text: the one number test of the readers of user files (label CSVs, ``detect``'s arrays)."""

from __future__ import annotations

import math


def is_number(value: object) -> bool:
    """True when ``float(value)`` succeeds: '3', '-0.5', '1e-3', 'nan', or an int/float; False for a
    word such as a CSV header ('label'), an empty cell, or None."""
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


MAX_INDEX = 2**53  # larger sample indices are typos (and lose integer precision as floats)


def as_index(value: object) -> int | None:
    """A sample index written as text or a number: a finite non-negative integer below ``MAX_INDEX``
    ('7', '7.0', 7), else None ('nan', 'inf', '1e400', '-1', '2.5', a word, an empty cell)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    if not (math.isfinite(number) and 0 <= number < MAX_INDEX and number == int(number)):
        return None
    return int(number)
