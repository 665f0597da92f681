"""User-facing errors.

Every problem caused by the user's input (a missing file, an unknown name, a bad value) is raised as
:class:`UserError`. The CLI prints its message as one line on stderr and exits with code 2, without a
traceback; library callers can catch it like any ``ValueError``.
"""

from __future__ import annotations


class UserError(ValueError):
    """A bad input: the message says what was wrong and how to fix it, on one line."""


def as_parameters(message: str) -> str:
    """A message naming command-line flags (``--noise-rate``) rewritten to name Python parameters
    (``noise_rate``): the Python API's errors speak its own names."""
    import re

    return re.sub(r"(?<![\w-])--([a-z][a-z0-9-]*)", lambda m: m.group(1).replace("-", "_"), message)
