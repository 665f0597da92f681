"""Hypothesis strategies of hostile input, one per kind (numbers, names, paths), and the two halves of
every property of the suite: a refusal is one line (:func:`refused`, :func:`assert_one_line`), and an
accepted value is exactly what the input means (:func:`meant_number`, :func:`meant_index`).

A new hostile value of a known kind is added here once and reaches every reader of that kind."""

from __future__ import annotations

import tempfile
import unicodedata
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable

from hypothesis import HealthCheck, currently_in_test_context, event, settings
from hypothesis import strategies as st

from noisylabels.errors import UserError

# the settings of every property of the suite: fast enough for the `-m "not slow"` subset
# derandomized: a run draws what the last run drew, so CI finds what a local run found (search deeper by
# raising max_examples locally)
_QUIET = [HealthCheck.function_scoped_fixture]
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=_QUIET)
FEW = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=_QUIET)


# -- the refusal -----------------------------------------------------------------------------------
def assert_one_line(message: str) -> None:
    """A message a terminal shows on one line: no line break of any kind (str.splitlines: \\n, \\r, \\v,
    \\f, \\x1c-\\x1e, \\x85, \\u2028, \\u2029), not empty."""
    assert message.strip(), "empty error message"
    assert len(message.splitlines()) == 1, f"error message of several lines: {message!r}"


def refused(call: Callable[[], Any]) -> tuple[bool, Any]:
    """(False, result) of ``call()``, or (True, message) when it raises UserError, checked to be one line.
    Any other exception propagates: a traceback fails the property."""
    try:
        result = call()
    except UserError as e:
        assert_one_line(str(e))
        count("refused")
        return True, str(e)
    count("accepted")
    return False, result


def count(outcome: str) -> None:
    """Record the outcome for `pytest --hypothesis-show-statistics` (how often each half of a property ran)."""
    if currently_in_test_context():
        event(outcome)


def fresh(tmp_path: Path) -> Path:
    """A new empty folder under ``tmp_path`` (hypothesis runs every example in the one ``tmp_path``)."""
    return Path(tempfile.mkdtemp(dir=tmp_path))


# -- numbers ---------------------------------------------------------------------------------------
ODD_NUMBERS = [
    "1e400", "-1e400", "-0", "+5", "--5", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "sNaN", "3.5", "0x10",
    "0b11", "0o17", "017", "019", "0_1", "1_000", "1__0", "1:30", "1e3", "1E-3", "7.0", "7.", ".5", " 7 ", "\t1\n",
    "1,5", "½", "٣", "١٢", "²", "³", "१", "１", "𝟕", "Ⅷ", "", " ", "٫", "1.0000000000000001", "0.99999999999999999",
    "4503599627370496.5", "9007199254740993", "9" * 30, "9" * 5000, "1" + "0" * 400, "-1", "1e-400", "0e0", "00",
]
DIGITS = st.characters(categories=["Nd", "No", "Nl"]) | st.sampled_from("0123456789+-._eExX: ")
NUMBER_TEXTS = st.one_of(
    st.sampled_from(ODD_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.25g}"),
    st.integers(-10**20, 10**20).map(str),
    st.integers(-3, 12).map(str),  # small: often a valid class or sample index
    st.from_regex(r"[+-]?[0-9]{1,4}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.text(DIGITS, max_size=6),
    st.text(max_size=6),
)
"""Text cells of files and flag values that a user means as numbers, or might: every notation Python's
float() takes (other scripts' digits, underscores, 'inf', 'nan'), YAML 1.1's (octal, base 60, 0x, 0b),
precision traps and words."""


def meant_number(text: str) -> Decimal | None:
    """The exact value a number written as ``text`` means (what Python's float() reads, without its
    rounding: '٣' -> 3, '1_000' -> 1000, '1.0000000000000001' stays above 1), or None for text that is
    no finite number ('nan', '1e400' is finite here, 'abc')."""
    try:
        float(text)
        value = Decimal(text.strip())
    except (ValueError, TypeError, InvalidOperation, OverflowError):
        return None
    return value if value.is_finite() else None


def meant_index(text: str) -> int | None:
    """The non-negative whole number ``text`` means exactly, else None."""
    value = meant_number(text)
    if value is None or value < 0 or value != value.to_integral_value():
        return None
    return int(value)


def meant_literal(text: str) -> Decimal | None:
    """The number a hand-written configuration value means: a Python number literal ('0x10' -> 16,
    '0b11' -> 3, '017' -> 17 as people read it, never YAML 1.1's octal 15) or what float() reads."""
    t = text.strip()
    body = t.lstrip("+-")
    if len(body) > 2 and body[0] == "0" and body[1] in "xXbBoO":
        try:
            return Decimal(int(t, 0))
        except ValueError:
            return None
    return meant_number(t)


# -- names ------------------------------------------------------------------------------------------
NAME_CHARS = st.characters(exclude_categories=["Cs"])  # anything that can be written as UTF-8
NAMES = st.one_of(
    st.text(NAME_CHARS, min_size=1, max_size=10),
    st.sampled_from(["cat", "Cat", "cat ", " cat", "c\u200bat", "caf\u00e9", "cafe\u0301", "ﬁsh", "fish", "٣", "3",
                     "Ⅸ", "IX", "a\nb", "a\rb", "\u2028", "\x1c", "tab\there", "nan", "1e3", "007", "-1", "..."]),
)
"""Class names: any text, with whitespace, controls, line breaks of every kind, other scripts' digits
and names that look alike."""


def look_alike(name: str, how: int) -> str:
    """Another spelling of ``name`` that a reader takes for the same name: its casefold, its NFD or NFKC
    form, or an invisible character inside (``how`` picks)."""
    forms = [name.casefold(), unicodedata.normalize("NFD", name), unicodedata.normalize("NFKC", name),
             name[:1] + "\u200b" + name[1:], name[:1] + "\u00ad" + name[1:]]
    return forms[how % len(forms)]


def fs_name(text: str) -> bool:
    """Whether ``text`` can be one file or folder name on Linux: no '/', no NUL, not '.' or '..', 1..255
    bytes of UTF-8."""
    return text not in ("", ".", "..") and "/" not in text and "\x00" not in text and len(text.encode()) <= 255


FS_NAMES = st.one_of(NAMES, st.text(NAME_CHARS, min_size=200, max_size=260)).filter(fs_name)
