"""Label issues without training (``detect --dataset --weights``) against training runs, by wall time.

For each noise case of fmnist-mini (10k Fashion-MNIST training images; README "Benchmarks"), times
``noisylabels detect --dataset fashion-mnist --train-size 10000 --noise ... --weights ENCODER`` with
each probe, then trains CE for ``--ce-epochs`` epochs (about the same wall time) and prints every
detector's ROC-AUC, AUPRC, F1 and flagged/actual share with its seconds. With ``--grid DIR`` (a
``noisylabels bench`` grid of ce and cleanlab-retrain at 10k), its finished cells join the table.

    python benchmarks/encoder_detect.py --weights bench/det8/simclr-s0 --out bench/det8 \
        --grid bench/grid --ce-detect bench/det
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from noisylabels.app.encoder_detect import detect_with_encoder
from noisylabels.app.run import run_train
from noisylabels.bench import parse_case

CASES = ("sym20", "asym20", "inst40", "cc15", "sym80", "none")
KEYS = ("detection_auroc", "detection_auprc", "detection_f1", "flagged_to_actual", "noise_rate_estimated")


def _row(name: str, case: str, s: dict[str, Any], seconds: float | None) -> dict[str, Any]:
    return {"detector": name, "case": case, "seconds": seconds, **{k: s.get(k) for k in KEYS}}


def _grid_rows(grid: Path, case: str, ce_detect: Path | None) -> list[dict[str, Any]]:
    """The 10k cells of a bench grid: cleanlab-retrain, and ce as ``detect --run`` ranks it today (its
    output in CE_DETECT/ce-CASE-n10000, else the run's own summary)."""
    rows = []
    for method in ("ce", "cleanlab-retrain"):
        cell = grid / method / f"{case}-n10000-s0"
        if not (cell / "summary.json").exists():
            continue
        run = json.loads((cell / "summary.json").read_text())
        det = (ce_detect or cell) / f"ce-{case}-n10000" / "summary.json"
        figures = json.loads(det.read_text()) if det.exists() and method == "ce" else run
        rows.append(_row(f"{method} {run['epochs']} ep (grid)", case, figures, None))  # timed in another sitting
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True, help="the pretrained encoder: a run folder or a weights file")
    ap.add_argument("--backbone", help="the network of a weights file")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--ce-epochs", type=int, default=2)
    ap.add_argument("--grid", help="a bench grid folder with ce and cleanlab-retrain cells at --train-sizes 10000")
    ap.add_argument("--ce-detect", help="a folder of `detect --run` outputs of the grid's ce cells (ce-CASE-n10000)")
    args = ap.parse_args()
    out, rows = Path(args.out), []
    for case in args.cases.split(","):
        noise, rate = parse_case(case)
        data = {"dataset": "fashion-mnist", "train_size": 10000, "noise": noise, "noise_rate": rate, "seed": 0,
                **({"backbone": args.backbone} if args.backbone else {})}
        for probe in ("linear", "knn"):
            start = time.perf_counter()
            s = detect_with_encoder(data, args.weights, out / f"{case}-{probe}", probe=probe, log=lambda _: None)
            rows.append(_row(f"encoder + {probe} probe", case, s, time.perf_counter() - start))
        run = out / f"{case}-ce{args.ce_epochs}"
        start = time.perf_counter()
        s = run_train({**{k: v for k, v in data.items() if k != "backbone"}, "method": "ce", "epochs": args.ce_epochs,
                       "progress": False}, run, overwrite=True, log=lambda _: None)
        rows.append(_row(f"ce {args.ce_epochs} ep", case, s, time.perf_counter() - start))
        if args.grid:
            rows.extend(_grid_rows(Path(args.grid), case, Path(args.ce_detect) if args.ce_detect else None))
    (out / "encoder_detect.json").write_text(json.dumps(rows, indent=1))
    print("| case | detector | seconds | ROC-AUC | AUPRC | F1 | flagged / actual |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        f = [("–" if r[k] is None else f"{r[k]:.3f}") for k in KEYS[:3]]
        ratio = "–" if r["flagged_to_actual"] is None else f"{r['flagged_to_actual']:.2f}x"
        if r["case"] == "none":
            ratio = f"{100 * (r['noise_rate_estimated'] or 0):.1f}% flagged"
        seconds = "–" if r["seconds"] is None else f"{r['seconds']:.0f}"
        print(f"| {r['case']} | {r['detector']} | {seconds} | {' | '.join(f)} | {ratio} |")


if __name__ == "__main__":
    main()
