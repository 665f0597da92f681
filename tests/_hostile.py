"""Helpers of the hostile-input suites (tests/test_hostile*.py): run the CLI in-process and check
README's promise for a user error: exit code 2, exactly one line on stderr, no traceback, and an
earlier output left byte-identical."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

from noisylabels.cli import main

# the smallest training settings: every accidental success trains one short epoch at most
FAST = ["--epochs", "1", "--width", "8", "--batch-size", "64", "--quiet"]


def cli(*argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``noisylabels ARGV``; argparse's own exits count as return codes.
    An uncaught exception propagates, so a crash fails the test with its traceback."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def user_error(argv: list, needle: str) -> str:
    """Run ``argv``; assert exit 2 and one 'noisylabels: error:' line holding ``needle`` (case-blind)."""
    rc, _, err = cli(*argv)
    lines = err.strip().splitlines()
    assert rc == 2, f"exit {rc}, stderr: {err}"
    assert len(lines) == 1 and lines[0].startswith("noisylabels: error:"), err
    assert "Traceback" not in err
    assert needle.lower() in lines[0].lower(), lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_of(template: Path, dest: Path) -> tuple[Path, dict[str, bytes]]:
    """A fresh copy of an earlier output and its snapshot."""
    shutil.copytree(template, dest)
    return dest, snapshot(dest)
