"""Diagnostics of TCL's sample selection (docs/RESULTS.md, "The selection, measured from both ends").

Two commands:

    # one TCL run whose E-step weight w comes from another rule (the official one by default)
    python benchmarks/tcl_selection.py train --variant truth --epochs 12 --out bench/x/truth-12 \\
        -- --scale1 1 --scale2 1 --strong-crop-min 0.35 --solarize 0
    # offline: how well the scores of a finished TCL run rank, and what the GMM's cut keeps
    python benchmarks/tcl_selection.py analyse bench/x/truth-12

Variants of w (Huang et al. 2023, the E-step's selection, with gamma_y = gamma_{i, y~_i}):
    official    GMM posterior over min-max(-gamma_y)
    truth       1 where the given label is right, else 0 (a perfect selector; needs known truth)
    log         GMM posterior over min-max(-log gamma_y)
    soft        w = gamma_y, no GMM
    classifier  GMM posterior over min-max(-p(y~ | x)), the classifier's confidence
The variants patch the package's E-step for this process only; none is a package option.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import yaml
from sklearn.metrics import roc_auc_score
from torch import Tensor

from noisylabels import cli, detect
from noisylabels.methods import tcl
from noisylabels.app.build import prepare

BASE = ["train", "--dataset", "fashion-mnist", "--train-size", "10000", "--noise", "symmetric",
        "--noise-rate", "0.8", "--method", "tcl", "--seed", "0"]


def _gamma_y(z: Tensor, probs: Tensor, given: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """Prototypes mu (C, D) and gamma_{i, y~_i} (N,) as float64."""
    mu, gamma = detect.prototype_assignments(z, probs, temperature)
    return mu, gamma.gather(1, given[:, None]).squeeze(1).double()


def _score_rule(score: Callable[[Tensor, Tensor, Tensor], Tensor]) -> Callable[..., tuple[np.ndarray, Tensor]]:
    """A replacement for detect.tcl_clean_probability: GMM posterior over min-max(score)."""
    def rule(z: Tensor, probs: Tensor, given: Tensor, *, temperature: float, per_class: bool = False):
        mu, gy = _gamma_y(z, probs, given, temperature)
        s = score(gy, probs.double(), given).cpu().numpy()
        groups = given.cpu().numpy() if per_class else None
        return detect.gmm_clean_probability(detect.minmax(s), groups=groups), mu
    return rule


def _soft(z: Tensor, probs: Tensor, given: Tensor, *, temperature: float, per_class: bool = False):
    """w = gamma_{i, y~_i} itself (soft weights, no GMM); the prototypes as the official E-step."""
    mu, gy = _gamma_y(z, probs, given, temperature)
    return gy.cpu().numpy(), mu


def _truth_e_step(original: Callable) -> Callable:
    """Wrap TCL.e_step: log what the official E-step logs, then set w to the truth."""
    def e_step(self: tcl.TCL, data) -> dict[str, float]:
        logs = original(self, data)
        if data.true_labels is None:
            raise SystemExit("--variant truth needs a dataset whose true labels are known")
        w = (data.labels == data.true_labels).to(self.clean_prob)
        self.clean_prob.copy_(w)
        self.clean_ratio.fill_(float(w.mean()))
        return logs
    return e_step


def patch(variant: str) -> None:
    """Install the variant's E-step rule in this process."""
    rules = {
        "log": _score_rule(lambda gy, p, y: -torch.log(gy.clamp_min(1e-12))),
        "classifier": _score_rule(lambda gy, p, y: -p.gather(1, y[:, None]).squeeze(1)),
        "soft": _soft,
    }
    if variant == "truth":
        tcl.TCL.e_step = _truth_e_step(tcl.TCL.e_step)
    elif variant in rules:
        tcl.tcl_clean_probability = rules[variant]


def analyse(run: Path) -> None:
    """Print the ranking quality and the GMM cut of a finished TCL run's saved embeddings and predictions."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    data = prepare(cfg).data  # rebuilds the training order and noise of the run (nothing is written)
    given = np.load(run / "noisy_labels.npy")
    if data.true_labels is None or not np.array_equal(given, data.labels.cpu().numpy()):
        raise SystemExit(f"{run}: analyse needs a run with known true labels whose data can be rebuilt here")
    true = data.true_labels.cpu().numpy()
    temperature = float(cfg["method_options"].get("temperature", 0.25))
    z = torch.from_numpy(np.load(run / "features.npy")).float()
    p = torch.from_numpy(np.load(run / "pred_probs.npy")).float()
    noisy = given != true
    y = torch.from_numpy(given).long()
    _, gy = _gamma_y(z, p, y, temperature)
    scores = {"-gamma_y": -gy.numpy(), "-p(y|x)": -p.double().gather(1, y[:, None]).squeeze(1).numpy()}
    n_clean = int((~noisy).sum())
    for name, s in scores.items():
        w = detect.gmm_clean_probability(detect.minmax(s))
        keep = w > 0.5
        top = np.argsort(s, kind="stable")[:n_clean]
        print(f"{name:9s} ROC-AUC {roc_auc_score(noisy, s):.3f}; GMM keeps {keep.sum()} "
              f"({noisy[keep].mean():.1%} wrong, {(keep & ~noisy).sum() / n_clean:.1%} of the clean); "
              f"the {n_clean} best-ranked are {noisy[top].mean():.1%} wrong")
    pred = p.argmax(1).numpy()
    confusion = np.zeros((p.shape[1], p.shape[1]))
    np.add.at(confusion, (true[noisy], pred[noisy]), 1)
    confusion /= np.maximum(confusion.sum(1, keepdims=True), 1)
    print(f"wrongly labelled samples predicted as their given label: {np.mean(pred[noisy] == given[noisy]):.1%} "
          f"(label-blind expectation {np.mean(confusion[true[noisy], given[noisy]]):.1%})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--variant", choices=["official", "truth", "log", "soft", "classifier"], default="official")
    t.add_argument("--epochs", type=int, default=12)
    t.add_argument("--out", required=True)
    t.add_argument("extra", nargs="*", help="more `noisylabels train` flags, after --")
    a = sub.add_parser("analyse")
    a.add_argument("run", type=Path)
    args = p.parse_args()
    if args.cmd == "analyse":
        analyse(args.run)
        return
    patch(args.variant)
    raise SystemExit(cli.main(BASE + ["--epochs", str(args.epochs), "--out", args.out, *args.extra]))


if __name__ == "__main__":
    main()
