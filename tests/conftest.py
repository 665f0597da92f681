"""Fixtures shared by every test folder. Plain helpers (the CLI runner, snapshots, tiny data) live in
``tests/helpers.py``; the tests are a package (``tests/__init__.py``), so they import it as
``tests.helpers`` and pytest puts the repository root on ``sys.path`` (its default 'prepend' mode)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import torch

import noisylabels.app.run as app_run
from tests.helpers import FAST, Reached, cli, copy_of


@pytest.fixture(scope="session")
def digits_run_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished 1-epoch ce run on digits at the smallest settings (``noisylabels train --dataset digits
    --epochs 1 --width 8 --batch-size 64``), trained once per session. Read-only: take ``earlier_run``
    for a copy to run commands against."""
    out = tmp_path_factory.mktemp("template") / "run"
    rc, _, err = cli("train", "--dataset", "digits", *FAST, "--out", out)
    assert rc == 0, err
    return out


@pytest.fixture
def earlier_run(digits_run_template: Path, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A fresh copy of the finished digits run (``tmp_path / 'run'``) and its snapshot (relative path ->
    bytes), for the 'refused, and the earlier run left byte-identical' checks."""
    return copy_of(digits_run_template, tmp_path / "run")


@pytest.fixture
def one_thread():
    """One intra-op thread for the small forwards of the ImageNet networks: on a shared 2-core CPU two
    threads on a tiny batch wait on each other (seconds instead of tens of milliseconds; an Inception-ResNet-v2
    bench grid 20 s instead of 80 s); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def attempt_train(monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple | str]:
    """``attempt(*argv)``: ``noisylabels ARGV`` with training replaced by a stop, so that the checks of
    every input run and nothing trains. Returns the arguments training would have got (method, data,
    FitConfig), or the error line of a refusal (asserted: exit 2, one 'noisylabels: error:' line)."""

    def fake_fit(method: Any, data: Any, cfg: Any, run: Any, **kwargs: Any) -> None:
        raise Reached(method, data, cfg)

    monkeypatch.setattr(app_run, "train", fake_fit)

    def attempt(*argv: Any) -> tuple | str:
        try:
            rc, _, err = cli(*argv)
        except Reached as e:
            return e.args
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("noisylabels: error:"), f"exit {rc}: {err}"
        return lines[0]

    return attempt


@pytest.fixture
def reach_fit(attempt_train: Callable[..., tuple | str]) -> Callable[..., tuple]:
    """``go(*argv)``: the (method, data, FitConfig) that ``noisylabels ARGV`` would train with; asserts
    that the command is not refused."""

    def go(*argv: Any) -> tuple:
        got = attempt_train(*argv)
        assert isinstance(got, tuple), got
        return got

    return go
