"""One detection suite for every detector: published model outputs, our own runs, and cases derived from them.

Cases (each tagged with the half that chose the defaults, "choose", or the half that confirms them, "confirm"):
  published   K-fold out-of-sample probabilities with known wrong labels from a local checkout of the public
              cleanlab/label-error-detection-benchmarks repository (``src/experiments/<set>/<..._cv_MODEL>/``:
              pred_probs.npy with noisy_labels.npy + true_labels.npy, or labels.npy + label_errors_mask.npy).
              resnet18 and efficientnet_b1 choose; resnet50d, twins_pcpvt_base and swin-base confirm.
  low-noise   each CIFAR-10N aggregate case with all its clean rows and a seeded draw of its wrong rows, so
              that 1.5% of the labels are wrong (half of its model).
  long-tail   each CIFAR-10N worst case subsampled by true class to sizes n_max * 10^(-k / (C - 1)) (a ratio
              of 10 between the largest and the smallest class; half of its model).
  verified    test sets with few wrong labels from a local snapshot of the public cleanlab/label-errors
              repository (``--verified``): cross-validated probabilities, crowd votes on an early cleanlab's
              candidates only (a flag elsewhere cannot be confirmed); confirm only.
  class-noise K-fold (4-fold) ResNet-50 probabilities of CIFAR-10's 50,000 training images under class-conditional
              noise from a local snapshot of the public cgnorthcutt/confidentlearning-reproduce repository
              (``--class-noise``; Northcutt et al., JAIR 2021, Table 2): noise 20/40/70% x sparsity 0, 0.2, 0.4,
              0.6 of the noise matrix, the true label being the image's class folder; sparsity 0 and 0.4 choose,
              0.2 and 0.6 confirm. Its noise-free run is a clean case (the share flagged; confirm).
  run         finished training runs (``--runs``; pred_probs.npy, features.npy and the truth): in-sample
              probabilities of our own training. Runs of 3,000 images choose, the others confirm.

Detectors, on the same inputs:
  ours        the product's detector as ``noisylabels detect`` runs it (out-of-sample arrays), or as the run did
              (in-sample, with the run's features and ranking);
  cleanlab    cleanlab's defaults (``find_label_issues``, ``get_label_quality_scores``), if installed;
  knn-vote    SimiFeat-style (Zhu, Dong, Liu, ICML 2022), where features exist: leave-one-out votes of the 10
              most similar samples' given labels; flagged where the vote's majority is another class; ranked
              by the vote share of the given label;
  simifeat-v  SimiFeat-V (Zhu, Dong, Liu, ICML 2022, as the Docta library runs it; ``simifeat.py``), where
              features exist: the votes of the 10 most similar samples (itself included), weighted by
              similarity, in 21 random subsets of 90%; flagged where the votes' majority is another class in
              most of its subsets; ranked by the mean log vote of the given label;
  simifeat-r  SimiFeat-R, the same votes: flagged where it ranks, in most of its subsets, within the share
              1 - P(true = c | given = c) of the samples given class c with the lowest vote of c, the noise
              transition matrix estimated by HOC (Zhu, Song, Liu, ICML 2021);
  knn-ours    the kNN votes' probabilities (``probe.knn_probs``, k 20) through the product's out-of-sample
              detector (``detect --labels L --features F``);
  aum         AUM-style (Pleiss et al., NeurIPS 2020), where a run recorded its margins (margins.npy): the
              mean logit margin of the given label over training, ranked lowest first, flagged below zero.
  aum-ts      AUM with threshold samples (Pleiss et al., NeurIPS 2020, as asappresearch/aum runs it;
              ``aum_threshold.py``), where ``--aum-dir DIR`` holds ``DIR/<method>/<run folder name>/`` with
              aum.npy and flags.npy for the run (``aum_threshold.py RUN --out DIR/<method>/<run folder
              name>``): two (K + 1)-way retrainings with disjoint fake-class sets; flagged below the 99th
              percentile of the fake class's AUM, ranked by the AUM of the run(s) where the sample was real.

Per case and detector: ROC-AUC, AUPRC, F1 at the detector's own count, precision at the true count,
flagged / actual, and the lowest per-class recall; for long-tailed cases the false-flag rate among the clean
samples of the three rarest classes over that of the others.

    python benchmarks/detection_suite.py --published /path/to/label-error-detection-benchmarks \\
        --verified /path/to/label-errors --class-noise /path/to/confidentlearning-reproduce \\
        --runs 'bench/grid/*/*' --json bench/detection_suite.json
    python benchmarks/detection_suite.py --runs 'bench/gridm/ce/*-n3000-s0' --detectors ours,aum,aum-ts \\
        --aum-dir bench/aumts
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from noisylabels.data.sources import load_run_splits
from noisylabels.issues import detect_issues, run_context_ranking, run_provenance
from noisylabels.probe import knn_probs, knn_votes
from noisylabels.runs import RunFolder

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: its siblings, also when imported
from simifeat import simifeat  # noqa: E402

CHOOSE_MODELS = ("resnet18", "efficientnet_b1")
LOW_NOISE = 0.015
TAIL_RATIO = 10.0


@dataclass
class Case:
    """One detection problem: given labels (N,), probabilities (N, C), the truly wrong mask (N,), optional
    features (N, D), where the probabilities come from, the half it belongs to and (runs) its config."""

    name: str
    kind: str
    half: str
    labels: np.ndarray
    probs: np.ndarray
    wrong: np.ndarray
    features: np.ndarray | None = None
    provenance: str = "out-of-sample"
    true: np.ndarray | None = None
    cfg: dict[str, Any] = field(default_factory=dict)
    margins: np.ndarray | None = None
    warnings: tuple[str, ...] = ()
    aum_threshold: tuple[np.ndarray, np.ndarray] | None = None  # aum_threshold.py's (aum, flags), --aum-dir
    count_probs: np.ndarray | None = None  # a TCL run's count_probs.npy: the probabilities that count its flags


def published_cases(root: Path) -> list[Case]:
    """The 4 sets x 5 models of the benchmark repository under ``root`` (N = 50,000 or 2,831 each)."""
    out = []
    for probs_file in sorted(root.glob("**/pred_probs.npy")):
        d = probs_file.parent
        model = d.name.split("_cv_")[-1]
        labels = np.load(d / ("noisy_labels.npy" if (d / "noisy_labels.npy").exists() else "labels.npy"))
        if (d / "true_labels.npy").exists():
            true = np.load(d / "true_labels.npy").astype(np.int64)
            wrong = labels != true
        else:
            wrong, true = np.load(d / "label_errors_mask.npy").astype(bool), None
        p = np.load(probs_file).astype(np.float64)
        out.append(Case(f"{d.parent.name}/{model}", "published", "choose" if model in CHOOSE_MODELS else "confirm",
                        labels.astype(np.int64), p / p.sum(1, keepdims=True), wrong, true=true))
    return out


VERIFIED_SETS = ("mnist", "cifar10", "cifar100", "20news", "imdb")


def verified_cases(root: Path) -> list[Case]:
    """The test sets of a local snapshot of cleanlab/label-errors whose probabilities it holds (files stored
    as Git LFS pointers or missing are skipped): cross_validated_predicted_probabilities/<set>_test_set_pyx.npy,
    original_test_labels/<set>_test_set_original_labels.npy and mturk/<set>_mturk.json, five workers' votes on
    the samples an early cleanlab flagged. Wrong: at least 3 of 5 votes for the suggested label or neither (text:
    neutral or off-topic); every other sample counts as right, so a flag outside those candidates cannot be
    confirmed and F1 favours cleanlab. IMDB's ids are file names, matched through dataset_indexing/."""
    out = []
    for name in VERIFIED_SETS:
        probs_file = root / "cross_validated_predicted_probabilities" / f"{name}_test_set_pyx.npy"
        try:
            p = np.load(probs_file).astype(np.float64)
            labels = np.load(root / "original_test_labels" / f"{name}_test_set_original_labels.npy").astype(np.int64)
            votes = json.loads((root / "mturk" / f"{name}_mturk.json").read_text())
        except (OSError, ValueError, EOFError):  # absent, empty or an LFS pointer
            continue
        where: dict[Any, int] | None = None
        if name == "imdb":
            files = json.loads((root / "dataset_indexing" / "imdb_test_set_index_to_filename.json").read_text())
            where = {"test/" + f.removesuffix(".txt"): i for i, f in enumerate(files)}
        wrong = np.zeros(len(labels), dtype=bool)
        for v in votes:
            i = int(v["id"]) if where is None else where[v["id"]]
            m = v["mturk"]
            wrong[i] = sum(m.get(k, 0) for k in ("guessed", "neither", "neutral", "off-topic")) >= 3
        out.append(Case(f"label-errors/{name}", "verified", "confirm", labels, p / p.sum(1, keepdims=True), wrong))
    return out


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CLASS_NOISE_CHOOSE = ("0.0", "0.4")  # sparsities whose cases choose


def class_noise_cases(root: Path) -> list[Case]:
    """The 13 runs of a local snapshot of cgnorthcutt/confidentlearning-reproduce whose probabilities it holds:
    ``cifar10/cifar10_noisy_labels__frac_zero_noise_rates__S__noise_amount__A/cifar10__train__model_resnet50__pyx.npy``
    (50,000 x 10, rows in file-path order) with the given labels of
    ``cifar10/cifar10_noisy_labels/cifar10_noisy_labels__frac_zero_noise_rates__S__noise_amount__A.json`` (file path
    -> label; S and A written with a dot there) and the true class from each path's folder."""
    base = root / "cifar10" if (root / "cifar10").is_dir() else root
    out = []
    for probs_file in sorted(base.glob("cifar10_noisy_labels__*/cifar10__train__model_resnet50__pyx.npy")):
        sparsity, amount = (v.replace("_", ".") for v in
                            probs_file.parent.name.split("frac_zero_noise_rates__")[1].split("__noise_amount__"))
        labels_file = base / "cifar10_noisy_labels" / (f"cifar10_noisy_labels__frac_zero_noise_rates__{sparsity}"
                                                      f"__noise_amount__{amount}.json")
        try:
            given = json.loads(labels_file.read_text())
            p = np.load(probs_file).astype(np.float64)
        except (OSError, ValueError, EOFError):  # absent, empty or an LFS pointer
            continue
        paths = sorted(given)
        labels = np.array([given[k] for k in paths], dtype=np.int64)
        true = np.array([CIFAR10_CLASSES.index(Path(k).parent.name) for k in paths], dtype=np.int64)
        if p.shape != (len(labels), len(CIFAR10_CLASSES)):
            continue
        half = "choose" if sparsity in CLASS_NOISE_CHOOSE and float(amount) > 0 else "confirm"
        out.append(Case(f"class-noise/sparsity {sparsity} noise {amount}", "class-noise", half, labels,
                        p / p.sum(1, keepdims=True), labels != true, true=true))
    return out


def subset(case: Case, keep: np.ndarray, kind: str, suffix: str) -> Case:
    """``case`` restricted to the rows ``keep`` (sorted indices)."""
    return Case(f"{case.name} {suffix}", kind, case.half, case.labels[keep], case.probs[keep], case.wrong[keep],
                true=None if case.true is None else case.true[keep])


def low_noise_case(case: Case, seed: int = 0) -> Case:
    """All clean rows of ``case`` and a seeded draw of its wrong rows: ``LOW_NOISE`` of the labels wrong."""
    clean, wrong = np.flatnonzero(~case.wrong), np.flatnonzero(case.wrong)
    k = int(round(LOW_NOISE * len(clean) / (1 - LOW_NOISE)))
    picked = np.random.default_rng(seed).choice(wrong, size=min(k, len(wrong)), replace=False)
    return subset(case, np.sort(np.concatenate([clean, picked])), "low-noise", f"{LOW_NOISE:.1%} noise")


def long_tail_case(case: Case, seed: int = 0) -> Case:
    """``case`` subsampled by true class c (largest first by its index) to n_max * ratio^(-c / (C - 1))."""
    assert case.true is not None
    c = case.probs.shape[1]
    rng = np.random.default_rng(seed)
    n_max = np.bincount(case.true, minlength=c).min()
    keep = []
    for k in range(c):
        idx = np.flatnonzero(case.true == k)
        size = int(round(n_max * TAIL_RATIO ** (-k / (c - 1))))
        keep.append(rng.choice(idx, size=size, replace=False))
    return subset(case, np.sort(np.concatenate(keep)), "long-tail", f"long-tailed x{TAIL_RATIO:g}")


def run_case(path: Path) -> Case:
    """A finished run: its given labels, in-sample probabilities, features and the truth of its data."""
    cfg = RunFolder(path).read_yaml("config.yaml")
    labels = np.load(path / "noisy_labels.npy").astype(np.int64)
    true = np.asarray(load_run_splits(cfg).train.labels, dtype=np.int64)
    p = np.load(path / "pred_probs.npy").astype(np.float64)
    z = np.load(path / "features.npy").astype(np.float32) if (path / "features.npy").exists() else None
    m = np.load(path / "margins.npy") if (path / "margins.npy").exists() else None
    cp = np.load(path / "count_probs.npy") if (path / "count_probs.npy").exists() else None
    size = int(cfg.get("train_size") or len(labels))
    return Case(f"{cfg.get('method')}/{path.name}", "run", "choose" if size == 3000 else "confirm", labels,
                p / p.sum(1, keepdims=True), labels != true, features=z, provenance=run_provenance(cfg), true=true,
                cfg=cfg, margins=m, count_probs=cp)


Verdict = tuple[np.ndarray, np.ndarray]  # (quality (N,), higher = more likely right; flags (N,) bool)


def ours(case: Case) -> Verdict | None:
    ranking = run_context_ranking(case.cfg) if case.cfg else None
    kw = {"ranking": ranking} if ranking is not None else {}
    issues = detect_issues(case.labels, case.probs, features=case.features if case.cfg else None,
                           provenance=case.provenance, count_probs=case.count_probs, **kw)
    case.warnings = issues.evidence.warnings if issues.evidence else ()
    return issues.quality, issues.flags


def cleanlab_defaults(case: Case) -> Verdict | None:
    try:
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores
    except ImportError:
        return None
    return get_label_quality_scores(case.labels, case.probs), find_label_issues(case.labels, case.probs)


def knn_vote(case: Case, k: int = 10) -> Verdict | None:
    if case.features is None:
        return None
    z = torch.nn.functional.normalize(torch.from_numpy(case.features).float(), dim=1)
    y = torch.from_numpy(case.labels)
    c = case.probs.shape[1]
    votes = torch.cat([knn_votes(z[s:s + 1024], z, y, c, k=k, temperature=1e6, self_offset=s)
                       for s in range(0, len(z), 1024)]).double().numpy()  # near-uniform weights: a plain count
    share = votes / votes.sum(1, keepdims=True)
    ar = np.arange(len(y))
    return share[ar, case.labels], share.argmax(1) != case.labels


def simifeat_v(case: Case) -> Verdict | None:
    if case.features is None:
        return None
    return simifeat(case.features, case.labels, case.probs.shape[1], method="vote")


def simifeat_r(case: Case) -> Verdict | None:
    if case.features is None:
        return None
    return simifeat(case.features, case.labels, case.probs.shape[1], method="rank")


def knn_ours(case: Case) -> Verdict | None:
    if case.features is None:
        return None
    p = knn_probs(torch.from_numpy(case.features), torch.from_numpy(case.labels), case.probs.shape[1]).double().numpy()
    issues = detect_issues(case.labels, p)
    return issues.quality, issues.flags


def aum(case: Case) -> Verdict | None:
    if case.margins is None:
        return None
    return case.margins, case.margins < 0


def load_aum_threshold(case: Case, aum_dir: Path) -> None:
    """Attach ``aum_dir/<case name>/`` (case name ``<method>/<run folder name>``): aum.npy (N,) and flags.npy
    (N,) bool from ``aum_threshold.py``, where both exist."""
    d = aum_dir / case.name
    if not (d / "aum.npy").exists() or not (d / "flags.npy").exists():
        return
    score, flags = np.load(d / "aum.npy").astype(np.float64), np.load(d / "flags.npy").astype(bool)
    if score.shape != case.labels.shape or flags.shape != case.labels.shape:
        raise ValueError(f"{d}: aum.npy {score.shape} / flags.npy {flags.shape} do not match the run's "
                         f"{len(case.labels)} labels")
    case.aum_threshold = score, flags


def aum_ts(case: Case) -> Verdict | None:
    """AUM with threshold samples, where ``--aum-dir`` held this run's (:func:`load_aum_threshold`)."""
    return case.aum_threshold


DETECTORS: dict[str, Callable[[Case], Verdict | None]] = {
    "ours": ours, "cleanlab": cleanlab_defaults, "knn-vote": knn_vote, "simifeat-v": simifeat_v,
    "simifeat-r": simifeat_r, "knn-ours": knn_ours, "aum": aum, "aum-ts": aum_ts}


def score(case: Case, quality: np.ndarray, flags: np.ndarray) -> dict[str, float]:
    """The suite's figures of one verdict on one case (NaN where undefined: no wrong label)."""
    w, flags = case.wrong, np.asarray(flags, dtype=bool)
    n_wrong = int(w.sum())
    out = {"flagged_share": float(flags.mean()), "actual_share": float(w.mean())}
    if 0 < n_wrong < len(w):
        order = np.lexsort((np.arange(len(w)), quality))
        tp = float((flags & w).sum())
        out.update(auroc=float(roc_auc_score(w, -quality)), auprc=float(average_precision_score(w, -quality)),
                   f1=2 * tp / (flags.sum() + n_wrong), precision_at_true=float(w[order[:n_wrong]].mean()),
                   flagged_to_actual=float(flags.sum() / n_wrong))
        by = case.labels if case.true is None else case.true
        recalls = [float(flags[w & (by == k)].mean()) for k in np.unique(by[w]) if (w & (by == k)).sum() >= 5]
        out["min_class_recall"] = min(recalls) if recalls else float("nan")
    sizes = np.bincount(case.labels if case.true is None else case.true, minlength=case.probs.shape[1])
    if sizes.max() >= TAIL_RATIO * max(1, sizes.min()) and case.true is not None:
        rare = np.isin(case.true, np.argsort(sizes, kind="stable")[:3])
        clean = ~w
        rate = lambda m: float(flags[clean & m].mean()) if (clean & m).any() else float("nan")  # noqa: E731
        out["rare_false_flag_ratio"] = rate(rare) / max(rate(~rare), 1e-12)
    return out


def evaluate(cases: list[Case], detectors: list[str]) -> list[dict[str, Any]]:
    """One row per (case, detector) that applies, with the figures of :func:`score`."""
    rows = []
    for case in cases:
        for name in detectors:
            verdict = DETECTORS[name](case)
            if verdict is not None:
                rows.append({"case": case.name, "kind": case.kind, "half": case.half, "detector": name,
                             **score(case, *verdict), **({"warnings": list(case.warnings)} if name == "ours" else {})})
        print(f"  {case.name}: done", file=sys.stderr)
    return rows


def fmt(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def print_table(rows: list[dict[str, Any]]) -> None:
    cols = ["auroc", "auprc", "f1", "precision_at_true", "flagged_to_actual", "min_class_recall", "flagged_share",
            "rare_false_flag_ratio"]
    print("| case | half | detector | " + " | ".join(cols) + " |")
    print("|" + "---|" * (len(cols) + 3))
    for r in rows:
        print(f"| {r['case']} | {r['half']} | {r['detector']} | " + " | ".join(fmt(r.get(c, '')) for c in cols) + " |")


def print_halves(rows: list[dict[str, Any]], peer: str = "cleanlab") -> None:
    """Per kind and half: the mean F1 and AUPRC of ours and the peers, ours' F1 at least the peer's, and
    flagged / actual within 0.67-1.5x."""
    by = {(r["case"], r["detector"]): r for r in rows}
    for kind in sorted({r["kind"] for r in rows}):
        for half in ("choose", "confirm"):
            names = sorted({r["case"] for r in rows if r["kind"] == kind and r["half"] == half and "f1" in r})
            if not names:
                continue
            line = f"{kind:10s} {half:8s} n={len(names):2d}"
            for det in DETECTORS:
                f = [by[(c, det)]["f1"] for c in names if (c, det) in by]
                a = [by[(c, det)]["auprc"] for c in names if (c, det) in by]
                if f:
                    line += f" | {det} F1 {np.mean(f):.3f} AUPRC {np.mean(a):.3f}"
            wins = sum(by[(c, "ours")]["f1"] >= by[(c, peer)]["f1"] for c in names if (c, peer) in by)
            in_range = sum(0.67 <= by[(c, "ours")]["flagged_to_actual"] <= 1.5 for c in names)
            print(f"{line} | ours F1 >= {peer} {wins}/{len(names)} | ours flagged/actual in 0.67-1.5x {in_range}/{len(names)}")
    for r in rows:
        for w in r.get("warnings", []):
            print(f"ours on {r['case']}: {w}")
    clean = [r for r in rows if r["actual_share"] == 0]
    for r in clean:
        print(f"clean {r['case']}: {r['detector']} flags {r['flagged_share']:.2%}")


def print_grid(rows: list[dict[str, Any]]) -> None:
    """Per grid cell (case and size): ours on the ce and tcl runs against the best peer on the same cell:
    cleanlab's defaults on cleanlab-retrain's K-fold probabilities, AUM on the ce run's recorded margins,
    AUM with threshold samples on the ce run's retrainings (``--aum-dir``), and the kNN vote and SimiFeat-V
    and -R on the ce run's features. F1 and AUPRC, and whether ours reaches the best peer's."""
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        if r["kind"] != "run" or "/" not in r["case"]:
            continue
        method, cell = r["case"].split("/", 1)
        cells.setdefault(cell, {})[f"{r['detector']}@{method}"] = r
    peers = ("cleanlab@cleanlab-retrain", "aum@ce", "aum-ts@ce", "knn-vote@ce", "simifeat-v@ce",
             "simifeat-r@ce")
    print("\n| cell | ours ce F1 / AUPRC | ours tcl F1 / AUPRC | best peer F1 / AUPRC (which) | ce >= best | tcl >= best |")
    print("|---|---|---|---|---|---|")
    for cell, by in sorted(cells.items()):
        if "f1" not in by.get("ours@ce", {"f1": None}) and "ours@ce" in by:
            flagged = {k: v["flagged_share"] for k, v in by.items() if k.startswith("ours")}
            print(f"| {cell} (clean) | flagged {flagged} | | | | |")
            continue
        found = [(by[p]["f1"], by[p]["auprc"], p) for p in peers if p in by and "f1" in by[p]]
        best_f1 = max((f for f, _, _ in found), default=float("nan"))
        best_ap = max((a for _, a, _ in found), default=float("nan"))
        which = "/".join(p for f, a, p in found if f == best_f1 or a == best_ap)

        def mine(m: str) -> tuple[str, str]:
            r = by.get(f"ours@{m}")
            if r is None or "f1" not in r:
                return "–", "–"
            return f"{r['f1']:.3f} / {r['auprc']:.3f}", str(r["f1"] >= best_f1 and r["auprc"] >= best_ap)

        (ce, ce_ok), (tcl, tcl_ok) = mine("ce"), mine("tcl")
        print(f"| {cell} | {ce} | {tcl} | {best_f1:.3f} / {best_ap:.3f} ({which}) | {ce_ok} | {tcl_ok} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--published", help="a local checkout of cleanlab/label-error-detection-benchmarks (or its "
                    "src/experiments folder)")
    ap.add_argument("--verified", help="a local snapshot of cleanlab/label-errors: its test sets' probabilities "
                    "with crowd-verified wrong labels among an early cleanlab's candidates (confirm only)")
    ap.add_argument("--class-noise", help="a local snapshot of cgnorthcutt/confidentlearning-reproduce: CIFAR-10 "
                    "4-fold probabilities under class-conditional noise")
    ap.add_argument("--runs", action="append", default=[], help="glob of finished run folders (repeatable)")
    ap.add_argument("--detectors", default=",".join(DETECTORS), help="comma list of " + ", ".join(DETECTORS))
    ap.add_argument("--json", help="write every row here")
    ap.add_argument("--aum-dir", help="aum-ts: a folder with one aum_threshold.py output per run, at "
                    "<method>/<run folder name>/ (aum.npy, flags.npy)")
    args = ap.parse_args()
    cases: list[Case] = []
    if args.published:
        pub = published_cases(Path(args.published))
        cases += pub
        cases += [low_noise_case(c) for c in pub if "aggre" in c.name]
        cases += [long_tail_case(c) for c in pub if "worst" in c.name]
    if args.verified:
        cases += verified_cases(Path(args.verified))
    if args.class_noise:
        cases += class_noise_cases(Path(args.class_noise))
    for pattern in args.runs:
        cases += [run_case(Path(p)) for p in sorted(glob.glob(pattern)) if (Path(p) / "pred_probs.npy").exists()]
    if args.aum_dir:
        for case in cases:
            if case.kind == "run":
                load_aum_threshold(case, Path(args.aum_dir))
    if not cases:
        ap.error("no cases: give --published, --verified, --class-noise and/or --runs")
    rows = evaluate(cases, args.detectors.split(","))
    print_table(rows)
    print()
    print_halves(rows)
    print_grid(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
