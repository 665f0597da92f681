"""The browser tests skip with a reason that says what to install."""

from __future__ import annotations

import pytest

from tests.review import browser


def test_missing_chromium_is_named_with_the_packages_to_install(monkeypatch):
    pytest.importorskip("selenium")
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    assert "apt-get install chromium chromium-driver" in browser.chromium_missing()
    monkeypatch.setattr(browser.shutil, "which", lambda name: None if name == "chromedriver" else f"/usr/bin/{name}")
    assert "no chromedriver" in browser.chromium_missing() and "chromium-driver" in browser.chromium_missing()
