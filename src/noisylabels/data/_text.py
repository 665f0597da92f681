"""Values written as text: the one number test of the readers of user files (label CSVs, ``detect``'s arrays),
exact whole numbers from such text, and the one way an error message shows a user's text on one line."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def is_number(value: object) -> bool:
    """True when ``float(value)`` succeeds: '3', '-0.5', '1e-3', 'nan', or an int/float; False for a
    word such as a CSV header ('label'), an empty cell, or None."""
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def exact_number(value: object) -> Decimal | None:
    """The exact value of a number written as text (what ``float`` reads, without its rounding: '1e-400'
    stays above 0, '1.0000000000000001' above 1; other scripts' digits and '1_000' as float reads them)
    or given as an int or float; None where :func:`is_number` is False. NaN and infinities are kept."""
    if not is_number(value):
        return None
    if isinstance(value, (int, float)):
        return Decimal(value)
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):  # a notation float reads and Decimal does not
        return Decimal(float(value))  # type: ignore[arg-type]


def whole_number(value: object) -> int | None:
    """The integer that ``value`` (text or a number) is exactly ('7', '7.0', '٣', 7), else None ('2.5',
    '1e-400', 'nan', 'inf', a word, an empty cell)."""
    number = exact_number(value)
    if number is None or not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number) if number.adjusted() < 4000 else None  # 10**4000 is no index, and int() of it slow


MAX_INDEX = 2**53  # larger sample indices are typos (and lose integer precision as floats)


def as_index(value: object) -> int | None:
    """A sample index written as text or a number: a non-negative whole number below ``MAX_INDEX``
    ('7', '7.0', 7; :func:`whole_number`), else None ('nan', 'inf', '1e400', '-1', '2.5', '1e-400', a
    word, an empty cell)."""
    number = whole_number(value)
    return number if number is not None and 0 <= number < MAX_INDEX else None


def shown(text: object) -> str:
    """``text`` as an error message shows it: as written where every character prints, else quoted with
    its line breaks and control characters escaped (Python's repr), so that the message stays one line."""
    text = str(text)
    return text if text.isprintable() else repr(text)

