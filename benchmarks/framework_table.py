"""Issue table of the contrastive framework (Ciortan et al. 2021): loss x {scratch, pre-trained, full}.

Protocol fmnist-mini (README "Benchmarks") with ``symmetric-exclusive`` noise (the paper's convention),
one SimCLR pre-training shared by every pre-trained run. Runs go to OUT/<name> (finished runs are
skipped, interrupted ones resumed); prints a markdown table of measured figures.

    python benchmarks/framework_table.py --losses ce,elr --rate 0.8 --epochs 20 --seed 0 --out bench/framework
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

import torch

from noisylabels.bench import train_in
from noisylabels.app.run import run_train


def _run(out: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    """Train ``cfg`` into ``out`` as ``noisylabels bench`` trains a cell (skipped when finished, resumed
    when interrupted, refused when the folder holds other settings); returns its summary."""
    train_in(out, cfg, out.name, run_train, lambda s: print(s, flush=True))
    return json.loads((out / "summary.json").read_text())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--losses", default="ce,elr")
    p.add_argument("--rate", type=float, default=0.8)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--pretrain-epochs", type=int, default=None, help="SimCLR epochs (default --epochs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench/framework")
    args = p.parse_args()
    root = Path(args.out)
    base = {"dataset": "fashion-mnist", "train_size": 10000, "noise": "symmetric-exclusive", "noise_rate": args.rate,
            "epochs": args.epochs, "seed": args.seed, "progress": False}
    print(f"# fmnist-mini, symmetric-exclusive {args.rate}, seed {args.seed}, {args.epochs} epochs of classification, "
          f"torch {torch.__version__}, {platform.machine()} {torch.get_num_threads()} threads", flush=True)
    pre_dir = root / f"simclr-s{args.seed}"
    pre = _run(pre_dir, {**base, "method": "simclr", "epochs": args.pretrain_epochs or args.epochs})
    rows = [f"pre-training: SimCLR {pre['epochs']} epochs, {pre['train_seconds']:.0f} s, "
            f"kNN accuracy {pre['test_accuracy']:.4f} (train features as memory, voting with the noisy labels)", "",
            "| loss | variant | test acc (last) | best | det. AUROC | det. F1 | est. noise | seconds |",
            "|---|---|---|---|---|---|---|---|"]
    for loss in args.losses.split(","):
        variants = {
            "scratch": {"phases": "classify"},
            "pre-trained": {"phases": "classify"},
            "full framework": {"phases": "classify,finetune"},
        }
        for variant, opts in variants.items():
            cfg = {**base, "method": "framework", "method_options": {"loss": loss, **opts}}
            if variant != "scratch":
                cfg["pretrained"] = str(pre_dir)
            s = _run(root / f"{loss}-{variant.split()[0]}-s{args.seed}", cfg)
            rows.append(f"| {loss} | {variant} | {s['test_accuracy']:.4f} | {s['best_test_accuracy']:.4f} | "
                        f"{s.get('detection_auroc', float('nan')):.4f} | {s.get('detection_f1', float('nan')):.4f} | "
                        f"{s['noise_rate_estimated']:.3f} | {s['train_seconds']:.0f} |")
            print(rows[-1], flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
