"""AUM with threshold samples (Pleiss, Zhang, Elenberg, Weinberger, "Identifying mislabeled data using the
area under the margin ranking", NeurIPS 2020; reference code github.com/asappresearch/aum) for a finished
ce run of the product, as a peer detector of ``detection_suite.py`` (``aum-ts``).

    python benchmarks/aum_threshold.py bench/gridm/ce/sym20-n3000-s0 --out bench/aumts/ce/sym20-n3000-s0

The run's training images (``load_run_splits(config)``, in the run's order) and its given labels
(``noisy_labels.npy``) are trained on twice more through the product's Python API (``noisylabels.train``,
method ce, the run's epochs, seed, batch size, backbone, optimiser, augmentation and precision), each time
with N // (K + 1) samples relabelled to a fake class K (a (K + 1)-way network); the two threshold sets are
disjoint slices of one seeded permutation. Every training sample is trained on (the run's own test split is
given as the test data, so nothing is held out), in the run's order.

AUM of a sample: the mean over the training steps from the second epoch on of its margin, the logit of its
given label minus the largest other logit, on the step's augmented input in train mode, as the product's ce
runs record it (``margins.npy``: ``CrossEntropy.record_margins``, the first epoch's margins dropped when a
second follows, as the reference code starts counting after epoch 0).

Flags of one run (the reference's ``generate_aum_details``): a sample is flagged when more than 1% of the
threshold samples have a larger AUM, i.e. its AUM lies below the 99th percentile of the threshold samples'
AUM. Combined (the reference's ``aum_wtr`` weighting): a sample is flagged when it is flagged in a run where
it is not a threshold sample, so a threshold sample of one run by the other run, a sample in neither set
when either run flags it. Score (the reference's ``subset``): the mean AUM over the runs where the sample is
not a threshold sample.

Writes to OUT: ``aum.npy`` (N,) float64 score (higher = more likely right), ``flags.npy`` (N,) bool,
``aum.json`` (the two cuts, the count flagged, the settings, the run times) and the two runs ``run1/``,
``run2/`` (finished runs are reused when their labels match; ``--overwrite`` trains them again).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

TAIL = 0.01  # a sample is flagged when more than this share of threshold samples has a larger AUM (99th pct)
FIRST_EPOCH = 2  # AUM averages the margins of the steps from this epoch on (the reference: after epoch 0)
FAKE_CLASS_NAME = "aum-threshold-class"
# options of the run that do not carry over: the data source (given as arrays here), its noise (the given
# labels are passed), and those set explicitly
NOT_CARRIED = ("dataset", "data_dir", "train_size", "test_data", "test_fraction", "imagenet_val", "image_size",
               "skip_bad_images", "stream", "noise", "noise_rate", "method", "epochs", "seed", "labels",
               "exclude", "method_options", "progress")


class Refused(Exception):
    """The run folder lacks what the threshold runs need (one line for the user)."""


# ---------------------------------------------------------------------------------------------- pure parts
def threshold_sets(n: int, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The two disjoint threshold sets of n samples of num_classes classes: the first and the second
    n // (num_classes + 1) indices of ``default_rng(seed).permutation(n)`` (Pleiss et al. 2020, Sec. 3:
    N / (c + 1) samples, so the fake class is about as large as a real one; the reference code slices one
    seeded permutation the same way, ``_Dataset.__init__``). Returns two sorted int64 arrays of that size."""
    m = n // (num_classes + 1)
    if m < 1:
        raise ValueError(f"{n} samples of {num_classes} classes give no threshold samples")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[:m]).astype(np.int64), np.sort(perm[m:2 * m]).astype(np.int64)


def threshold_labels(labels: np.ndarray, idx: np.ndarray, num_classes: int) -> np.ndarray:
    """The given labels (N,) with the rows ``idx`` relabelled to the fake class ``num_classes``; int64 (N,)."""
    out = np.asarray(labels, dtype=np.int64).copy()
    out[idx] = num_classes
    return out


def flag_rule(aum: np.ndarray, threshold_idx: np.ndarray, tail: float = TAIL) -> tuple[np.ndarray, float]:
    """Flags (N,) bool of one run and the cut: a sample is flagged when the share of threshold samples with a
    strictly larger AUM exceeds ``tail`` (the reference's ``generate_aum_details``: AUM below the 99th
    percentile of the threshold samples' AUM). Equivalently AUM < cut, the r-th largest threshold AUM with r
    the smallest count whose share exceeds ``tail`` (-inf when none does). NaN AUM (no step saw the sample)
    is never flagged, and threshold samples without one are left out of the M.
    aum: (N,) float; threshold_idx: (M,) int indices of the threshold samples (their own rows get flags too)."""
    thr = np.sort(np.asarray(aum, dtype=np.float64)[threshold_idx])
    thr = thr[~np.isnan(thr)]
    if len(thr) == 0:
        raise ValueError("no threshold sample has an AUM (no step recorded their margins)")
    m = len(thr)
    a = np.asarray(aum, dtype=np.float64)
    above = m - np.searchsorted(thr, np.nan_to_num(a, nan=np.inf), side="right")  # threshold AUMs > a
    flags = (above / m > tail) & ~np.isnan(a)
    r = next((k for k in range(1, m + 1) if k / m > tail), None)
    cut = float(thr[m - r]) if r is not None else float("-inf")
    return flags, cut


def combine(aum1: np.ndarray, aum2: np.ndarray, flags1: np.ndarray, flags2: np.ndarray, set1: np.ndarray,
            set2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two runs' verdicts as one (the reference's ``aum_wtr`` and ``subset``): per sample, the runs where
    it is not a threshold sample count. Score (N,) float64: the mean AUM over those runs (the other run's for
    a threshold sample, the mean of both for one in neither set); flags (N,) bool: flagged in any of them.
    aum*, flags*: (N,) of run 1 and 2; set1, set2: the disjoint threshold indices of run 1 and 2."""
    n = len(aum1)
    in1, in2 = np.zeros(n, bool), np.zeros(n, bool)
    in1[set1], in2[set2] = True, True
    if (in1 & in2).any():
        raise ValueError("the threshold sets overlap: a sample would have no run to judge it")
    use1, use2 = ~in1, ~in2
    a1, a2 = np.asarray(aum1, np.float64), np.asarray(aum2, np.float64)
    total = np.where(use1, np.nan_to_num(a1), 0.0) + np.where(use2, np.nan_to_num(a2), 0.0)
    count = (use1 & ~np.isnan(a1)).astype(np.float64) + (use2 & ~np.isnan(a2))
    score = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    flags = (use1 & np.asarray(flags1, bool)) | (use2 & np.asarray(flags2, bool))
    return score, flags


# ------------------------------------------------------------------------------------------ training part
def carried_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """The run's training options for ``noisylabels.train`` (backbone, batch size, optimiser, augmentation,
    device, precision, ...). ``flip: auto`` is resolved as the run resolved it (from its dataset name, which
    the arrays lose); a run saved before the ``precision`` option trained in fp32 on the CPU (bf16 autocast
    on CUDA only), so it gets fp32 on the CPU and ``auto`` elsewhere."""
    from noisylabels.config import TRAIN_DEFAULTS

    opts = {k: cfg[k] for k in TRAIN_DEFAULTS if k in cfg and k not in NOT_CARRIED}
    if str(opts.get("flip", "auto")) == "auto":
        opts["flip"] = "false" if cfg.get("dataset") == "digits" else "true"
    if "precision" not in cfg:
        device = str(cfg.get("device", "auto"))
        on_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        opts["precision"] = "auto" if on_cuda else "fp32"
    return opts


def check_run(path: Path) -> dict[str, Any]:
    """The run's config, or :class:`Refused` naming what is missing."""
    from noisylabels.runs import RunFolder

    if not path.is_dir():
        raise Refused(f"{path} is not a run folder")
    for name in ("config.yaml", "noisy_labels.npy", "summary.json"):
        if not (path / name).exists():
            raise Refused(f"{path} lacks {name} (a finished run of `noisylabels train` is needed)")
    cfg = RunFolder(path).read_yaml("config.yaml")
    if cfg.get("method") != "ce":
        raise Refused(f"{path} is a {cfg.get('method')!r} run; the threshold runs repeat a ce run's settings")
    if int(cfg.get("epochs") or 0) < FIRST_EPOCH:
        raise Refused(f"{path} trained {cfg.get('epochs')} epoch(s); AUM needs at least {FIRST_EPOCH}")
    if cfg.get("exclude"):
        raise Refused(f"{path} left samples out (exclude: {cfg['exclude']}); its N is not the source's")
    return cfg


def train_threshold_run(images: np.ndarray, labels: np.ndarray, test_images: np.ndarray, test_labels: np.ndarray,
                        class_names: list[str], cfg: dict[str, Any], out: Path,
                        overwrite: bool) -> tuple[np.ndarray, float]:
    """One (K + 1)-way ce run on all N training images (N, H, W[, C]) uint8 with ``labels`` (N,) (fake class
    K = len(class_names) - 1), the run's test split as its test data. Returns its AUM (N,) float64 (epochs
    2.. of ``margins.npy``) and its wall seconds (0 when a finished run with these labels was reused).
    Checks that it trained on exactly these N labels in this order and that no first-epoch step counts."""
    import noisylabels
    from noisylabels.runs import RunFolder

    done = out / "summary.json"
    if not overwrite and done.exists() and (out / "margins.npy").exists() \
            and np.array_equal(np.load(out / "noisy_labels.npy"), labels):
        seconds = 0.0
    else:
        t0 = time.perf_counter()
        data = {"images": images, "labels": labels, "test_images": test_images, "test_labels": test_labels,
                "class_names": np.array(class_names)}
        noisylabels.train(data, method="ce", epochs=int(cfg["epochs"]), out=out, noise="none",
                          seed=int(cfg.get("seed", 0)), overwrite=True,
                          method_options=dict(cfg.get("method_options") or {}), **carried_options(cfg))
        seconds = time.perf_counter() - t0
    given = np.load(out / "noisy_labels.npy")
    if len(given) != len(labels) or not np.array_equal(given, labels):
        raise RuntimeError(f"{out}: the run trained on other labels than given ({len(given)} vs {len(labels)})")
    aum = np.load(out / "margins.npy").astype(np.float64)
    if aum.shape != labels.shape:
        raise RuntimeError(f"{out}: margins.npy holds {aum.shape}, expected {labels.shape}")
    count = RunFolder(out).load_checkpoint()["method"]["margin_count"].numpy()
    if count.max() > int(cfg["epochs"]) - FIRST_EPOCH + 1:
        raise RuntimeError(f"{out}: a sample has {count.max():.0f} recorded margins, more than the epochs "
                           f"{FIRST_EPOCH}..{cfg['epochs']}: the first epoch was not left out")
    return aum, seconds


def aum_threshold(run: Path, out: Path, threshold_seed: int | None = None, overwrite: bool = False) -> dict[str, Any]:
    """The whole procedure for one finished ce run folder; writes aum.npy, flags.npy, aum.json to ``out``
    and returns what aum.json holds."""
    from noisylabels.data.sources import load_run_splits

    cfg = check_run(run)
    splits = load_run_splits(cfg)
    labels = np.load(run / "noisy_labels.npy").astype(np.int64)
    images = np.asarray(splits.train.images)
    if len(images) != len(labels):
        raise Refused(f"{run}: {len(labels)} given labels but the config rebuilds {len(images)} training images")
    k = splits.train.num_classes
    names = [str(c) for c in splits.train.class_names] + [FAKE_CLASS_NAME]
    seed = int(cfg.get("seed", 0)) if threshold_seed is None else threshold_seed
    sets = threshold_sets(len(labels), k, seed)
    out.mkdir(parents=True, exist_ok=True)
    aums, flags, per_run = [], [], []
    for r, idx in enumerate(sets, 1):
        y = threshold_labels(labels, idx, k)
        aum, seconds = train_threshold_run(images, y, np.asarray(splits.test.images),
                                           np.asarray(splits.test.labels, dtype=np.int64), names, cfg,
                                           out / f"run{r}", overwrite)
        f, cut = flag_rule(aum, idx)
        others = np.ones(len(y), bool)
        others[idx] = False
        per_run.append({"folder": str(out / f"run{r}"), "threshold_samples": int(len(idx)), "cut": cut,
                        "numpy_percentile_99": float(np.nanpercentile(aum[idx], 99)),
                        "flagged_not_threshold": int((f & others).sum()), "nan_aum": int(np.isnan(aum).sum()),
                        "seconds": round(seconds, 1)})
        aums.append(aum)
        flags.append(f)
        print(f"run {r}: {seconds:.0f} s, cut {cut:.3f}, {int((f & others).sum())} of {int(others.sum())} "
              "non-threshold samples flagged", file=sys.stderr)
    score, flagged = combine(aums[0], aums[1], flags[0], flags[1], *sets)
    np.save(out / "aum.npy", score)
    np.save(out / "flags.npy", flagged)
    summary = {"run": str(run), "n": int(len(labels)), "num_classes": int(k), "threshold_seed": seed,
               "tail": TAIL, "first_epoch": FIRST_EPOCH, "num_flagged": int(flagged.sum()),
               "runs": per_run, "epochs": int(cfg["epochs"]), "seed": int(cfg.get("seed", 0)),
               "options": {k2: v for k2, v in carried_options(cfg).items()},
               "method_options": dict(cfg.get("method_options") or {})}
    (out / "aum.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a finished ce run folder (config.yaml, noisy_labels.npy, summary.json)")
    ap.add_argument("--out", required=True, help="folder for aum.npy, flags.npy, aum.json and the two runs")
    ap.add_argument("--threshold-seed", type=int, help="seed of the threshold sets (default: the run's seed)")
    ap.add_argument("--overwrite", action="store_true", help="train the two runs again even if finished")
    args = ap.parse_args()
    try:
        s = aum_threshold(Path(args.run), Path(args.out), args.threshold_seed, args.overwrite)
    except Refused as e:
        sys.exit(f"aum_threshold: {e}")
    print(f"{s['num_flagged']} of {s['n']} flagged; cuts {[round(r['cut'], 3) for r in s['runs']]}; {args.out}")


if __name__ == "__main__":
    main()
