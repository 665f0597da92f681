"""The review round trip with the suggestions of the most suspect rows accepted automatically:
train -> relabel the top FRACTION of label_issues.csv to their suggestions -> apply-review -> train again.

    PYTHONPATH=src python benchmarks/review_gain.py --top 0.1 --out bench/review-gain -- \\
        --dataset fashion-mnist --train-size 10000 --noise symmetric --noise-rate 0.2 --method ce --epochs 40

Everything after ``--`` is the first run's ``train`` arguments; the second run repeats them with
``--noise file:<corrected labels>`` instead of the generated noise (the same data options, so the same
training set in the same order). Prints the test accuracy of both runs, the noise rate of their training
labels against the truth, and how many automatic relabels were right. The decisions go through the same
files as a review on the page (review_decisions.csv -> ``noisylabels apply-review``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

from noisylabels.cli import main as noisylabels


def _drop_noise(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--noise", "--noise-rate", "--out"):
            skip = True
            continue
        if not a.startswith(("--noise=", "--noise-rate=", "--out=")):
            out.append(a)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=float, default=0.1, help="fraction of the rows, most suspect first (0.1)")
    ap.add_argument("--out", required=True, help="folder for both runs and the decisions")
    ap.add_argument("train", nargs=argparse.REMAINDER, help="-- then the first run's train arguments")
    args = ap.parse_args()
    train = [a for a in args.train if a != "--"]
    out = Path(args.out)
    first, second, reviewed = out / "first", out / "second", out / "reviewed"
    if not (first / "summary.json").exists() and noisylabels(["train", *train, "--quiet", "--out", str(first)]):
        return 1
    with open(first / "label_issues.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    top = rows[:math.ceil(args.top * len(rows))]
    accepted = [r for r in top if r["suggested_label"] != r["given_label"]]
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "review_decisions.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["index", "path", "given_label", "decision", "corrected_label"])
        for r in accepted:
            w.writerow([r["index"], r.get("path", ""), r["given_label"], "relabel", r["suggested_label"]])
    if noisylabels(["apply-review", str(first), str(out / "review_decisions.csv"), "--out", str(reviewed)]):
        return 1
    labels = next(reviewed.glob("corrected_labels.*"))
    if not (second / "summary.json").exists() and noisylabels(
            ["train", *_drop_noise(train), "--noise", f"file:{labels}", "--quiet", "--out", str(second)]):
        return 1
    a, b = (json.loads((d / "summary.json").read_text()) for d in (first, second))
    right = sum(r.get("true_label") == r["suggested_label"] for r in accepted)
    was_wrong = sum(r.get("true_label") not in (None, r["given_label"]) for r in accepted)
    print(f"# {' '.join(train)}; top {args.top:g} of {len(rows)} rows = {len(top)}, {len(accepted)} relabelled "
          f"to their suggestion ({right} to the true label; {was_wrong} were wrong before)")
    print("| run | training-label noise vs truth | test accuracy (last) | best |")
    print("|---|---|---|---|")
    for name, s in (("first (given labels)", a), ("second (top suggestions accepted)", b)):
        print(f"| {name} | {s['noise_rate_actual']:.4f} | {s['test_accuracy']:.4f} | {s['best_test_accuracy']:.4f} |")
    print(f"gain: {b['test_accuracy'] - a['test_accuracy']:+.4f} test accuracy (last epoch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
