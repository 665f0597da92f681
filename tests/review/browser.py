"""A headless Chromium driven by Selenium for the review page tests and benchmarks/review_render.py.

:func:`chromium_missing` says why a browser cannot run here (None when it can); :func:`headless_chromium`
starts one with downloads going to ``download_dir`` and the browser console logged. Debian: the packages
``chromium`` and ``chromium-driver``; PyPI: ``selenium`` (the ``test`` extra)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)


def _which(names: tuple[str, ...]) -> str | None:
    return next((p for n in names if (p := shutil.which(n))), None)


def chromium_missing() -> str | None:
    """Why the browser tests cannot run on this machine, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if _which(CHROMIUM_NAMES) is None:
        return "no chromium on PATH (Debian: apt-get install chromium chromium-driver)"
    if _which(DRIVER_NAMES) is None:
        return "no chromedriver on PATH (Debian: apt-get install chromium-driver)"
    return None


def headless_chromium(download_dir: Path | None = None, width: int = 1400, height: int = 1000) -> Any:
    """A Selenium WebDriver for a headless Chromium (no network needed: nothing is downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = _which(CHROMIUM_NAMES)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--disable-extensions", "--no-first-run"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if download_dir is not None:
        opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                               "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(executable_path=_which(DRIVER_NAMES)), options=opts)
    if download_dir is not None:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    return driver


def console_errors(driver: Any) -> list[str]:
    """The SEVERE entries of the browser console since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
