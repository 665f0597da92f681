"""The review page in a real headless Chromium (Selenium): it loads from file:// with no console errors,
shows every flagged card, filters by a confusion-matrix cell, keeps a decision across a reload, and its
exported CSV becomes the right labels through apply-review. Skipped, with the reason, where Chromium,
chromedriver or selenium is missing (.ci/run installs them)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import by_source_index, cli, corrected_labels
from tests.review.browser import chromium_missing, console_errors, headless_chromium

_missing = chromium_missing()
pytestmark = pytest.mark.skipif(_missing is not None, reason=f"browser tests need Chromium: {_missing}")


@pytest.fixture(scope="module")
def page(digits_run_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The review page of the shared 1-epoch digits run (written outside the read-only run folder)."""
    out = tmp_path_factory.mktemp("review") / "page"
    rc, _, err = cli("review", digits_run_template, "--out", out)
    assert rc == 0, err
    return out / "index.html"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    downloads = tmp_path_factory.mktemp("downloads")
    driver = headless_chromium(downloads)
    driver.downloads = downloads
    yield driver
    driver.quit()


def _open(driver, page: Path, *, fresh: bool = True) -> None:
    driver.get(page.as_uri())
    if fresh:  # another test's decisions (same file:// origin) are forgotten
        driver.execute_script("localStorage.clear()")
        driver.refresh()
    _wait(driver, "return document.body.getAttribute('data-ready') === '1'")


def _wait(driver, script: str, timeout: float = 10.0):
    end = time.time() + timeout
    while time.time() < end:
        if value := driver.execute_script(script):
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def _shown(driver) -> list[int]:
    return [int(x) for x in driver.execute_script(
        "return Array.from(document.querySelectorAll('#grid .card')).map(c => c.getAttribute('data-index'))")]


def _all_pages(driver) -> list[int]:
    seen = _shown(driver)
    while driver.execute_script("return nlReview.page() + 1 < nlReview.pages()"):
        driver.find_element("id", "next").click()
        seen += _shown(driver)
    return seen


def _issue_rows(run: Path) -> list[dict[str, str]]:
    with open(run / "label_issues.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_page_loads_from_file_with_every_flagged_card_and_no_console_errors(browser, page, digits_run_template):
    _open(browser, page)
    assert console_errors(browser) == []
    rows = _issue_rows(digits_run_template)
    flagged = [int(r["index"]) for r in rows if r["is_label_issue"] == "True"]
    assert flagged and _all_pages(browser) == flagged  # most suspect first, every one, once
    browser.find_element("id", "f-flagged").click()  # all rows
    assert len(_all_pages(browser)) == len(rows)
    assert browser.execute_script("return document.querySelectorAll('#grid .card .thumb:not(.nothumb)').length") > 0
    last = int(rows[-1]["index"])  # the search by index finds a row on any page
    browser.find_element("id", "f-search").send_keys(str(last))
    _wait(browser, f"return nlReview.viewIndices().length === 1 && nlReview.viewIndices()[0] === {last}")
    assert _shown(browser) == [last]
    assert console_errors(browser) == []


def test_confusion_matrix_cell_shows_exactly_that_pair(browser, page, digits_run_template):
    _open(browser, page)
    cells = browser.find_elements("css selector", "#matrix td.cell")
    assert cells
    cell = max(cells, key=lambda c: int(c.text))
    g, s = int(cell.get_attribute("data-g")), int(cell.get_attribute("data-s"))
    cell.click()
    expected = [int(r["index"]) for r in _issue_rows(digits_run_template) if r["is_label_issue"] == "True"
                and int(r["given_label"]) == g and int(r["suggested_label"]) == s]
    assert _all_pages(browser) == expected and len(expected) == int(cell.text)
    browser.find_element("id", "pair-clear").click()
    flagged = sum(r["is_label_issue"] == "True" for r in _issue_rows(digits_run_template))
    assert browser.execute_script("return nlReview.viewIndices().length") == flagged


def test_relabel_survives_a_reload_and_the_export_applies(browser, page, digits_run_template, tmp_path):
    from selenium.webdriver.support.ui import Select

    _open(browser, page)
    cards = browser.find_elements("css selector", "#grid .card")
    first, second, third = cards[0], cards[1], cards[2]
    idx1, idx2, idx3 = (int(c.get_attribute("data-index")) for c in (first, second, third))
    rows = {int(r["index"]): r for r in _issue_rows(digits_run_template)}
    new = (int(rows[idx1]["given_label"]) + 1) % 10
    Select(first.find_element("css selector", "select")).select_by_value(str(new))  # a relabel by the menu
    second.click()
    browser.find_element("tag name", "body").send_keys("x")  # an exclusion by its key: the focus moves on
    browser.find_element("tag name", "body").send_keys("k")  # so this keeps the third card
    assert "focus" in cards[3].get_attribute("class")
    _open(browser, page, fresh=False)  # reload: the decisions come back from localStorage
    card = browser.find_element("css selector", f'#grid .card[data-index="{idx1}"]')
    assert "d-relabel" in card.get_attribute("class")
    assert Select(card.find_element("css selector", "select")).first_selected_option.get_attribute("value") == str(new)
    assert "d-exclude" in browser.find_element("css selector", f'#grid .card[data-index="{idx2}"]').get_attribute("class")
    assert "d-keep" in browser.find_element("css selector", f'#grid .card[data-index="{idx3}"]').get_attribute("class")
    assert "decided 3 of" in browser.find_element("id", "progress").text

    target = browser.downloads / "review_decisions.csv"
    target.unlink(missing_ok=True)
    browser.find_element("id", "export").click()
    _wait(browser, "return true")
    end = time.time() + 10
    while not target.exists() and time.time() < end:
        time.sleep(0.05)
    assert target.read_text().splitlines() == ["index,path,given_label,decision,corrected_label"] + sorted(
        [f"{idx1},,{rows[idx1]['given_label']},relabel,{new}", f"{idx2},,{rows[idx2]['given_label']},exclude,",
         f"{idx3},,{rows[idx3]['given_label']},keep,{rows[idx3]['given_label']}"],
        key=lambda line: int(line.split(",")[0]))
    rc, _, err = cli("apply-review", digits_run_template, target, "--out", tmp_path / "fix")
    assert rc == 0, err
    from noisylabels.data.sources import load_run_splits
    from noisylabels.runs import RunFolder

    source_index = load_run_splits(RunFolder(digits_run_template).read_yaml("config.yaml")).train.source_index
    expected = np.load(digits_run_template / "noisy_labels.npy").copy()
    expected[list(source_index).index(idx1)] = new
    assert corrected_labels(tmp_path / "fix") == by_source_index(expected, source_index)
    assert (tmp_path / "fix" / "excluded.txt").read_text() == f"index\n{idx2}\n"
    assert console_errors(browser) == []
