"""Protocol fmnist-mini (shared/PROTOCOL.md): 10k Fashion-MNIST training images, full test set.

Runs each (method, case) into OUT/<method>-<case>-s<seed> (resuming unfinished runs, skipping finished
ones) and prints one table row per run with the measured figures.

    python benchmarks/fmnist_mini.py --methods ce --epochs 40 --seed 0 --out bench/fmnist-mini
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from noisylabels.pipeline import run_train

CASES = {"none": ("none", 0.0), "sym50": ("symmetric", 0.5), "sym80": ("symmetric", 0.8), "asym40": ("asymmetric", 0.4)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--methods", default="ce")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench/fmnist-mini")
    p.add_argument("--set", action="append", default=[], help="extra train option key=value (YAML value)")
    args = p.parse_args()
    import yaml

    extra = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    print(f"# fmnist-mini, seed {args.seed}, {args.epochs} epochs, torch {torch.__version__}, "
          f"{platform.machine()} {torch.get_num_threads()} threads, extra {extra}")
    print("| method | case | actual noise | test acc (last) | best | est. noise | det. AUROC | det. F1 | seconds | img/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for method in args.methods.split(","):
        for case in args.cases.split(","):
            noise, rate = CASES[case]
            out = Path(args.out) / f"{method}-{case}-s{args.seed}"
            if not (out / "summary.json").exists():
                cfg = {"dataset": "fashion-mnist", "train_size": 10000, "noise": noise, "noise_rate": rate,
                       "method": method, "epochs": args.epochs, "seed": args.seed, "progress": False}
                method_keys = {k: v for k, v in extra.items() if k.startswith("opt.")}
                cfg.update({k: v for k, v in extra.items() if not k.startswith("opt.")})
                cfg["method_options"] = {k[4:]: v for k, v in method_keys.items()}
                resume = (out / "checkpoint.pt").exists()
                run_train(cfg, out, resume=resume, overwrite=not resume, log=lambda s: print("  " + s, flush=True))
            s = json.loads((out / "summary.json").read_text())
            f = lambda k: f"{s[k]:.4f}" if isinstance(s.get(k), float) else "–"  # noqa: E731
            print(f"| {method} | {case} | {s['noise_rate_actual']:.3f} | {s['test_accuracy']:.4f} | "
                  f"{s['best_test_accuracy']:.4f} | {f('noise_rate_estimated')} | {f('detection_auroc')} | "
                  f"{f('detection_f1')} | {s['train_seconds']:.0f} | {s['images_per_second']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
