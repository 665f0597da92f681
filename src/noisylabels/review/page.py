"""``noisylabels review RUN [--out DIR]``: a static review page of a run's (or a detect folder's) suspects.

DIR holds ``index.html`` (the page: its style and script inlined), ``data.js`` (the rows, class names and
class summary as one ``window.NL_REVIEW = {...}`` assignment: a ``<script src>`` works from ``file://``,
where ``fetch()`` of a local file does not) and ``thumbs/sheet-NNNN.png`` (thumbnail sprite sheets,
1024 tiles each, in the rows' order: most suspect first). No server, no network.
"""

from __future__ import annotations

import hashlib
import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..data._images import image_array
from ..errors import UserError
from ..runs import CONFIG, LABEL_ISSUES, SUMMARY, RunFolder, atomic_write_bytes
from .apply import class_names_of, read_issue_rows, samples_of

TILES_PER_SHEET = 1024
SHEET_COLUMNS = 32
MAX_THUMB = 64  # px: larger images are shrunk to this height


def load_images(folder: Path, index: np.ndarray, images_file: str | None) -> tuple[np.ndarray | None, str]:
    """The images of the rows (uint8 (N, H, W, C), row order) and a note for the page when there are none.

    From ``images_file`` (a .npy indexed by the ``index`` column), else from the data of the run behind
    ``folder`` (:func:`~noisylabels.review.apply.samples_of`)."""
    if images_file:
        p = Path(images_file)
        if p.suffix != ".npy" or not p.is_file():
            raise UserError(f"--images {images_file}: give an existing uint8 .npy file (N, H, W[, C])")
        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise UserError(f"--images {images_file}: cannot read it ({str(e).splitlines()[0]})") from None
        arr = image_array(arr, "--images")
        if index.max() >= len(arr):
            raise UserError(f"--images has {len(arr)} images but label_issues.csv names index {index.max()}; "
                            "give the images of the same samples, in the same order")
        return np.asarray(arr[index]), ""
    try:
        found = samples_of(folder)
    except (UserError, OSError) as e:
        return None, f"No thumbnails: the images cannot be read now ({e})."
    if found is None:
        return None, ("No thumbnails: this detect folder has no training run to read images from "
                      "(rebuild with --images FILE.npy to show them).")
    train = found[0]
    position = {int(s): i for i, s in enumerate(train.source_index)}
    if any(int(i) not in position for i in index):
        return None, "No thumbnails: the run's data no longer holds every sample of label_issues.csv."
    pos = np.array([position[int(i)] for i in index], dtype=np.int64)
    chunks = [np.asarray(train.images[pos[a:a + 4096]]) for a in range(0, len(pos), 4096)]
    return np.concatenate(chunks), ""


def thumbnail_sheets(images: np.ndarray) -> tuple[list[bytes], dict[str, Any]]:
    """PNG sprite sheets of ``images`` (uint8 (N, H, W, C)), TILES_PER_SHEET tiles each, row-major in
    SHEET_COLUMNS columns; returns the PNGs and the layout for the page (tile w/h, columns)."""
    from PIL import Image

    n, h, w, c = images.shape
    scale = min(1.0, MAX_THUMB / max(h, w))
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    sheets = []
    for start in range(0, n, TILES_PER_SHEET):
        block = images[start:start + TILES_PER_SHEET]
        if (th, tw) != (h, w):
            block = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(im[..., 0] if c == 1 else im)).resize(
                (tw, th), Image.BILINEAR)).reshape(th, tw, c) for im in block])
        rows = -(-len(block) // SHEET_COLUMNS)
        sheet = np.zeros((rows * th, SHEET_COLUMNS * tw, c), dtype=np.uint8)
        for k, im in enumerate(block):
            r, col = divmod(k, SHEET_COLUMNS)
            sheet[r * th:(r + 1) * th, col * tw:(col + 1) * tw] = im
        buf = io.BytesIO()
        Image.fromarray(sheet[..., 0] if c == 1 else sheet).save(buf, format="PNG", compress_level=6)
        sheets.append(buf.getvalue())
    return sheets, {"tile_w": tw, "tile_h": th, "columns": SHEET_COLUMNS, "per_sheet": TILES_PER_SHEET,
                    "count": n}


def review_data(folder: Path, rows: list[dict[str, str]], summary: dict[str, Any], run_id: str,
                thumbs: dict[str, Any] | None, note: str) -> dict[str, Any]:
    """The page's data blob: column arrays (one entry per row, most suspect first)."""
    given = [int(r["given_label"]) for r in rows]
    names = class_names_of(folder, rows, max(given) + 1)
    cols: dict[str, Any] = {
        "index": [int(r["index"]) for r in rows],
        "given": given,
        "suggested": [int(r["suggested_label"]) for r in rows],
        "sprob": [round(float(r["suggested_probability"]), 4) for r in rows],
        "quality": [round(float(r["label_quality"]), 5) for r in rows],
        "flagged": [1 if r["is_label_issue"].strip().lower() in ("true", "1") else 0 for r in rows],
    }
    if rows[0].get("predicted_label") not in (None, ""):
        cols["predicted"] = [int(r["predicted_label"]) for r in rows]
    if rows[0].get("true_label") not in (None, ""):
        cols["true"] = [int(r["true_label"]) for r in rows]
    if rows[0].get("path"):
        cols["path"] = [r["path"] for r in rows]
    keep = ("method", "dataset", "noise", "noise_rate_actual", "noise_rate_estimated", "num_label_issues",
            "num_samples", "num_train", "detector", "test_accuracy", "detection_auroc")
    return {"version": 1, "run_id": run_id, "title": str(folder.resolve()), "class_names": names, "cols": cols,
            "thumbs": thumbs, "note": note, "class_summary": summary.get("class_summary") or {},
            "summary": {k: summary[k] for k in keep if k in summary}}


def build_review(folder: str | Path, out: str | Path | None = None, *, images_file: str | None = None,
                 thumbnails: bool = True) -> dict[str, Any]:
    """Write the review page of ``folder`` (a finished run or a detect output folder) into ``out``
    (default FOLDER/review). Everything is read and checked before the first write."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder; give a finished run or a detect output folder")
    out = folder / "review" if out is None else Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the review page")
    if (out / CONFIG).exists() or (out / LABEL_ISSUES).exists():
        raise UserError(f"--out {out} holds a run or a detection; choose another folder for the review page")
    issues_path = folder / LABEL_ISSUES
    if not issues_path.is_file():
        raise UserError(f"{folder}: no {LABEL_ISSUES} there; give a finished training run or a detect output folder")
    raw = issues_path.read_bytes()
    rows = read_issue_rows(issues_path)
    summary = RunFolder(folder).read_json(SUMMARY) if (folder / SUMMARY).is_file() else {}
    index = np.array([int(r["index"]) for r in rows], dtype=np.int64)
    images, note = (load_images(folder, index, images_file) if thumbnails
                    else (None, "No thumbnails (built with --no-thumbnails)."))
    sheets, layout = thumbnail_sheets(images) if images is not None else ([], None)
    if layout is not None:
        layout["sheets"] = [f"thumbs/sheet-{k:04d}.png" for k in range(len(sheets))]
    data = review_data(folder, rows, summary, hashlib.sha256(raw).hexdigest()[:16], layout, note)
    static = resources.files(__package__) / "static"
    html = (static / "index.html").read_text(encoding="utf-8")
    html = html.replace("/*STYLE*/", (static / "review.css").read_text(encoding="utf-8"))
    html = html.replace("/*SCRIPT*/", (static / "review.js").read_text(encoding="utf-8"))
    for k, png in enumerate(sheets):
        atomic_write_bytes(out / "thumbs" / f"sheet-{k:04d}.png", png)
    for stale in sorted((out / "thumbs").glob("sheet-*.png")) if (out / "thumbs").is_dir() else []:
        if stale.name not in {f"sheet-{k:04d}.png" for k in range(len(sheets))}:
            stale.unlink(missing_ok=True)
    blob = json.dumps(data, separators=(",", ":"), ensure_ascii=True).replace("</", "<\\/")
    atomic_write_bytes(out / "data.js", f"window.NL_REVIEW = {blob};\n".encode())
    atomic_write_bytes(out / "index.html", html.encode())
    return {"page": out / "index.html", "rows": len(rows), "flagged": int(sum(data["cols"]["flagged"])),
            "thumbnails": 0 if layout is None else layout["count"], "note": note}
