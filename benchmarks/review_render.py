"""Time to first render of the review page of a 50,000-row run in headless Chromium.

    PYTHONPATH=src python benchmarks/review_render.py [--rows 50000] [--repeats 3]

Protocol: a synthetic detect folder (label_issues.csv of ROWS rows over 10 classes, 20% flagged, with a
path column; summary.json with a class summary) and ROWS 16x16 grayscale images (--images), turned into
a page by ``noisylabels review`` (build time printed). The page is then opened from file:// REPEATS times
in one headless Chromium (Selenium, chromedriver); "first render" is ``performance.now()`` when the first
page of 200 cards is in the DOM (milliseconds since navigation start: reading and parsing data.js
included), "load" the wall time of ``driver.get`` until then. Also timed: a filter change over all rows.
Target: under 2 s. Needs Debian's chromium + chromium-driver and selenium.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from noisylabels.review.page import build_review  # noqa: E402
from tests.review.browser import chromium_missing, console_errors, headless_chromium  # noqa: E402


def synthetic_detect_folder(folder: Path, rows: int, classes: int = 10, seed: int = 0) -> Path:
    """label_issues.csv + summary.json of ``rows`` samples, and images.npy (rows, 16, 16) uint8."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    given = rng.integers(0, classes, rows)
    suggested = np.where(rng.random(rows) < 0.5, (given + rng.integers(1, classes, rows)) % classes, given)
    quality = np.sort(rng.random(rows))
    flagged = np.arange(rows) < rows // 5
    index = rng.permutation(rows)
    lines = ["index,given_label,predicted_label,label_quality,is_label_issue,suggested_label,suggested_probability,path"]
    for k in range(rows):
        lines.append(f"{index[k]},{given[k]},{suggested[k]},{quality[k]:.6f},{bool(flagged[k])},{suggested[k]},"
                     f"{rng.random():.6f},images/class_{given[k]}/{index[k]:06d}.png")
    (folder / "label_issues.csv").write_text("\n".join(lines) + "\n")
    per_class = [{"class": c, "name": f"class_{c}", "samples": int((given == c).sum()),
                  "flagged": int((flagged & (given == c)).sum()), "noise_rate_estimated": 0.2} for c in range(classes)]
    (folder / "summary.json").write_text(json.dumps({"num_samples": rows, "num_label_issues": int(flagged.sum()),
                                                     "class_summary": {"per_class": per_class, "confused_pairs": []}}))
    yy, xx = np.mgrid[0:16, 0:16]
    base = ((xx + yy) * 8).astype(np.uint8)
    images = np.stack([np.roll(base, int(i % 16), axis=1) for i in range(rows)])
    np.save(folder / "images.npy", images)
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if (why := chromium_missing()) is not None:
        print(f"skipped: {why}")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = synthetic_detect_folder(Path(tmp) / "detect", args.rows)
        t0 = time.perf_counter()
        built = build_review(folder, Path(tmp) / "page", images_file=str(folder / "images.npy"))
        build_s = time.perf_counter() - t0
        page = Path(built["page"])
        size = sum(p.stat().st_size for p in page.parent.rglob("*") if p.is_file())
        driver = headless_chromium()
        try:
            version = driver.capabilities.get("browserVersion", "?")
            first, load, filt = [], [], []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                driver.get(page.as_uri())
                while not driver.execute_script("return document.body.getAttribute('data-ready') === '1'"):
                    time.sleep(0.01)
                load.append(time.perf_counter() - t0)
                first.append(driver.execute_script("return nlReview.firstRenderMs") / 1000)
                filt.append(driver.execute_script(
                    "var t = performance.now(); document.getElementById('f-flagged').click(); return performance.now() - t")
                    / 1000)
            errors = console_errors(driver)
        finally:
            driver.quit()
    import selenium

    print(f"# review page, {args.rows} rows ({built['flagged']} flagged, {built['thumbnails']} thumbnails 16x16), "
          f"{size / 1e6:.1f} MB on disk; {args.repeats} loads from file://")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), Chromium {version} headless, "
          f"selenium {selenium.__version__}, Python {platform.python_version()}")
    print(f"build (noisylabels review): {build_s:.2f} s")
    print(f"time to first render: median {statistics.median(first):.3f} s (runs: {', '.join(f'{x:.3f}' for x in first)})")
    print(f"load until rendered (driver.get wall): median {statistics.median(load):.3f} s")
    print(f"filter change over all rows (flagged only -> all): median {statistics.median(filt) * 1000:.0f} ms")
    print(f"console errors: {len(errors)}")
    return 0 if statistics.median(first) < 2.0 and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
