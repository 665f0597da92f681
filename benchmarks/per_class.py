"""Per-class test accuracy of finished runs, and whether re-balancing the predictions would help.

    python benchmarks/per_class.py bench/s16/ce-40 bench/s16/tcl-40

For each run folder: the final checkpoint's test accuracy, its accuracy per true class, the share of
test images predicted as each class, and the accuracy after re-balancing the predicted class
marginal offline (test probabilities alternately divided by their class means and renormalised,
50 rounds: a prediction-prior correction of the kind ReMixMatch's distribution alignment makes).
docs/RESULTS.md ("A gentler crop and a stronger balance term: the fmnist-mini recipe") was measured with it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from torch import Tensor

from noisylabels.inference import predict_probs
from noisylabels.app.build import prepare
from noisylabels.runs import CONFIG, RunFolder


def rebalanced(probs: Tensor, rounds: int = 50) -> Tensor:
    """probs (M, C) -> probabilities whose class means are (near) uniform; rows still sum to 1."""
    q = probs.double()
    for _ in range(rounds):
        q = q / q.mean(0, keepdim=True)
        q = q / q.sum(1, keepdim=True)
    return q


def report(run: Path) -> None:
    """Print the per-class figures of one run folder (rebuilds its data; writes nothing)."""
    folder = RunFolder(run)
    prep = prepare(folder.read_yaml(CONFIG))
    prep.method.load_state_dict(folder.load_checkpoint()["method"])
    data = prep.data
    probs = predict_probs(prep.method, data.test_images, data.views)
    y = data.test_labels
    pred = probs.argmax(1)
    c = data.num_classes
    per_class = [float((pred[y == k] == k).double().mean()) for k in range(c)]
    share = np.bincount(pred.cpu().numpy(), minlength=c) / len(y)
    acc_bal = float((rebalanced(probs).argmax(1) == y).double().mean())
    names = prep.splits.train.class_names or [str(k) for k in range(c)]
    print(f"{run}: test accuracy {float((pred == y).double().mean()):.4f}, re-balanced {acc_bal:.4f}")
    print("  class         acc    predicted share")
    for k in range(c):
        print(f"  {names[k][:12]:<12} {per_class[k]:.3f}  {share[k]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (config.yaml + checkpoint.pt)")
    for run in parser.parse_args().runs:
        report(run)


if __name__ == "__main__":
    main()
