"""``noisylabels bench``: a grid of runs (method x case x seed) under one protocol (README "Benchmarks").

Each cell trains into OUT/<method>/<case>-s<seed>/; a cell with summary.json is skipped and an
interrupted one resumed, so a long grid can be finished over several sittings (run it under nohup).
Framework cells share one SimCLR pre-training per seed (OUT/_pretrain/simclr-s<seed>), as the paper
intends. Afterwards OUT holds results.csv (one row per run), results.md (mean +- std over seeds) and
plots/ (accuracy vs noise rate; detection ROC curves).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .config import RunConfig
from .errors import UserError
from .methods import METHODS
from .methods.tcl import OFFICIAL_TARGETS_AND_VIEWS
from .runs import CONFIG, SUMMARY, RunFolder, atomic_write_bytes


@dataclass(frozen=True)
class Protocol:
    """A benchmark protocol: data, default cases and epochs, and fixed training options."""

    dataset: str
    cases: tuple[str, ...]
    epochs: int
    train: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    method_train: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-method overrides
    methods: tuple[str, ...] = ()  # the default --methods (empty: --methods is required)
    # what the user must give: "data_dir" (--data-dir; a "{data_dir}" in ``dataset`` is replaced by it) or a
    # train option (--set KEY=VALUE), each with what it is
    needs: dict[str, str] = field(default_factory=dict)


# the Ciortan et al. table: each loss from scratch (Base), from the shared SimCLR encoder (Pre-trained:
# phase a2 only) and through the whole framework (Fine-tuned: a2, b1-b3)
FRAMEWORK_LOSSES = ("ce", "elr", "nfl-rce")
FRAMEWORK_COLUMNS = ("Base", "Pre-trained", "Fine-tuned")
FRAMEWORK_COLUMN_SPECS = {spec: (loss, column) for loss in FRAMEWORK_LOSSES for spec, column in (
    (loss, "Base"), (f"framework:{loss}:pretrained", "Pre-trained"), (f"framework:{loss}", "Fine-tuned"))}
# TCL's published settings at the official global batch, 4 x 256 at lr 0.12, as one batch of 1,024 on one
# large GPU (configs/tcl_cifar*_sym90.yaml; tcl.md "Optimisation"); a small GPU: --set batch_size=256
# --set lr=0.03 (configs/tcl_cifar*_sym90_small_gpu.yaml)
_TCL_PAPER = {"batch_size": 1024, "lr": 0.12, "weight_decay": 1e-3, "lr_warmup_epochs": 20,
              "method_options": {"warmup_epochs": 20, "feature_dim": 256, **OFFICIAL_TARGETS_AND_VIEWS}}
# the official CIFAR-100 config (cifar100_90_prer18.yml, the only one published): scale2 1, one GMM per class
_TCL_PAPER_C100 = {**_TCL_PAPER, "method_options": {**_TCL_PAPER["method_options"], "scale2": 1.0,
                                                    "per_class_gmm": True}}
# CIFAR-N label files (Wei et al., ICLR 2022) as they ship, in --data-dir: case name -> (file, key)
CIFAR_N: dict[str, dict[str, tuple[str, str]]] = {
    "cifar10": {"n-aggre": ("CIFAR-10_human.pt", "aggre_label"), "n-rand1": ("CIFAR-10_human.pt", "random_label1"),
                "n-rand2": ("CIFAR-10_human.pt", "random_label2"), "n-rand3": ("CIFAR-10_human.pt", "random_label3"),
                "n-worst": ("CIFAR-10_human.pt", "worse_label")},
    "cifar100": {"n-noisy": ("CIFAR-100_human.pt", "noisy_label")},
}

# The real-noise tables (TCL, CVPR 2023, Sec. 4; DivideMix, Li et al., ICLR 2020, Sec. 4.1, whose networks
# TCL's real-world comparisons share): mini-WebVision (the first 50 classes of WebVision 1.0's Google images)
# on Inception-ResNet-v2 from scratch at 299 px (DivideMix's dataloader_webvision.py: Resize 320, crop 299; here
# the shorter side is scaled to 299), Clothing1M on an ImageNet-pretrained ResNet-50 at 224 px. The optimisation
# figures are DivideMix's code's (Train_webvision.py / Train_clothing1M.py): SGD, momentum 0.9, batch 32
# (64 in its one CE warm-up epoch), 80 epochs after that warm-up, lr 0.01 and weight decay 5e-4
# (mini-WebVision), lr 0.002 and weight decay 1e-3 (Clothing1M), the lr divided by 10 after 40 epochs (here:
# the engine's cosine decay, TCL's schedule); a Clothing1M epoch draws num_batches 1,000 x 32 noisy samples,
# their labels balanced (--epoch-samples 32000 --class-balanced). Both are real noise: case `none` (the given
# labels are the noisy ones; no truth, so no detection figures); evaluation on the clean test sets: WebVision's
# validation set (+ ImageNet's, --set imagenet_val=ROOT), Clothing1M's clean_test.
_WEBVISION_PAPER = {"backbone": "inception-resnet-v2", "image_size": 299, "batch_size": 32, "lr": 0.01,
                    "weight_decay": 5e-4}
_CLOTHING1M_PAPER = {"backbone": "resnet50", "image_size": 224, "batch_size": 32, "lr": 0.002, "weight_decay": 1e-3,
                     "epoch_samples": 1000 * 32, "class_balanced": True}
_TCL_REAL = {"tcl": {"method_options": {"feature_dim": 256, **OFFICIAL_TARGETS_AND_VIEWS}}}  # official TCL targets


def _real_noise(source: str, train: dict[str, Any], note: str, **needs: str) -> Protocol:
    """A real-noise protocol with DivideMix's settings ``train``: the ``source:`` dataset at --data-dir, case
    none, 80 epochs, CE, TCL (official targets and views) and the framework; ``needs``: :attr:`Protocol.needs`."""
    return Protocol(f"{source}:{{data_dir}}", ("none",), 80, train, note, _TCL_REAL, ("ce", "tcl", "framework"),
                    needs)


PROTOCOLS: dict[str, Protocol] = {
    "digits-mini": Protocol("digits", ("none", "sym50", "sym80"), 20, {"batch_size": 64},
                            "scikit-learn's bundled digits (1,437 train / 360 test), seconds per run; for smoke checks"),
    "fmnist-mini": Protocol("fashion-mnist", ("none", "sym50", "sym80", "asym40"), 40, {"train_size": 10000},
                            "10k Fashion-MNIST training images (default_rng(0).permutation(60000)[:10000]), full test set"),
    "fmnist-full": Protocol("fashion-mnist", ("none", "sym50", "sym80", "sym90", "asym40"), 200, {},
                            "all 60k Fashion-MNIST training images; TCL's schedule; for a CUDA GPU"),
    "cifar-paper": Protocol("cifar10", ("sym20", "sym50", "sym80", "sym90", "asym40"), 200, {},
                            "CIFAR-10 from the python pickles in --data-dir (CIFAR-10N cases n-aggre, n-rand1..3, "
                            "n-worst read CIFAR-10_human.pt there); TCL's published settings at the official global batch "
                            "1,024 (one large GPU; --set batch_size=256 --set lr=0.03 for a small one)",
                            {"tcl": _TCL_PAPER}),
    "cifar100-paper": Protocol("cifar100", ("sym20", "sym50", "sym80", "sym90"), 200, {},
                               "CIFAR-100 from the python pickles in --data-dir (CIFAR-100N case n-noisy reads "
                               "CIFAR-100_human.pt there); TCL's published settings at the official global batch "
                               "1,024 (one large GPU; --set batch_size=256 --set lr=0.03 for a small one)",
                               {"tcl": _TCL_PAPER_C100}),
    "framework-paper": Protocol("cifar10", ("symex20", "symex40", "symex60", "symex80"), 200, {},
                                "CIFAR-10 from the python pickles in --data-dir, symmetric-exclusive noise (the "
                                "Ciortan et al. poster's table): CE, ELR and NFL+RCE as Base (from scratch), "
                                "Pre-trained (from one shared SimCLR run) and Fine-tuned (the full framework); "
                                "for a CUDA GPU",
                                methods=tuple(FRAMEWORK_COLUMN_SPECS)),
    "webvision-paper": _real_noise(
        "webvision", _WEBVISION_PAPER,
        "mini-WebVision (the first 50 classes of WebVision 1.0's Google images, DivideMix's convention) from "
        "--data-dir, real noise; Inception-ResNet-v2 from scratch at 299 px, DivideMix's settings (batch 32, lr "
        "0.01, weight decay 5e-4, 80 epochs); test: the WebVision validation set, and ImageNet's with --set "
        "imagenet_val=ROOT; for a GPU",
        data_dir="the WebVision 1.0 root (info/, google/, val_images_256/)"),
    "clothing1m-paper": _real_noise(
        "clothing1m", _CLOTHING1M_PAPER,
        "Clothing1M from --data-dir, real noise; ImageNet-pretrained ResNet-50 (--set weights=PATH) at 224 px, "
        "DivideMix's settings (batch 32, lr 0.002, weight decay 1e-3, 80 epochs of 1,000 class-balanced batches); "
        "test: the clean test set; for a GPU",
        data_dir="the Clothing1M root (images/, noisy_label_kv.txt, ...)",
        weights="a local ImageNet ResNet-50 state dict such as torchvision's resnet50 weights (nothing is "
                "downloaded)"),
}

_CASE = re.compile(r"^(none|sym|symex|asym|pair|inst|cc)(\d{1,3})?$")
_NOISES = {"sym": "symmetric", "symex": "symmetric-exclusive", "asym": "asymmetric", "pair": "pairflip",
           "inst": "instance", "cc": "lookalike"}


def parse_case(case: str, *, dataset: str | None = None, data_dir: str | None = None) -> tuple[str, float]:
    """'sym80' -> ('symmetric', 0.8); 'symex40' -> symmetric-exclusive; asym, pair, inst; 'none';
    on CIFAR, the CIFAR-N names of :data:`CIFAR_N` -> ('file:DATA_DIR/FILE#KEY', 0.0)."""
    if case.startswith("n-"):
        files = CIFAR_N.get(dataset or "", {})
        if case not in files:
            raise UserError(f"bad case {case!r}: CIFAR-N cases are {', '.join(sorted(files)) or 'none'} for "
                            f"{dataset}; they need the cifar-paper or cifar100-paper protocol")
        if not data_dir:
            raise UserError(f"case {case!r} reads {files[case][0]} from --data-dir; give --data-dir")
        name, key = files[case]
        return f"file:{Path(data_dir) / name}#{key}", 0.0
    m = _CASE.match(case)
    if not m or (m.group(1) == "none") != (m.group(2) is None):
        raise UserError(f"bad case {case!r}: use none, or sym|symex|asym|pair|inst|cc followed by a percentage, e.g. sym80")
    if m.group(1) == "none":
        return "none", 0.0
    rate = int(m.group(2)) / 100
    if rate > 1:
        raise UserError(f"bad case {case!r}: the noise rate must be at most 100%")
    return _NOISES[m.group(1)], rate


def parse_method(spec: str) -> tuple[str, dict[str, Any]]:
    """'elr' -> ('elr', {}); 'framework:elr' -> ('framework', {'loss': 'elr'}), the whole framework;
    'framework:elr:pretrained' -> ('framework', {'loss': 'elr', 'phases': 'pretrain,classify'}),
    classification from the pre-trained encoder without the fine-tuning phases."""
    name, _, rest = spec.partition(":")
    loss, _, variant = rest.partition(":")
    if name not in METHODS:
        raise UserError(f"unknown method {name!r} in --methods; choose from: {', '.join(sorted(METHODS))}")
    if loss and name != "framework":
        raise UserError(f"--methods {spec!r}: only framework takes a loss after ':' (e.g. framework:elr)")
    if variant not in ("", "pretrained"):
        raise UserError(f"--methods {spec!r}: after framework:LOSS only ':pretrained' may follow "
                        "(e.g. framework:elr:pretrained)")
    return name, ({"loss": loss} if loss else {}) | ({"phases": "pretrain,classify"} if variant else {})


def _options_of(method: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The method options of ``--set`` that ``method`` has (--set scale1=1 reaches tcl, not ce)."""
    names = {f.name for f in dataclasses.fields(METHODS[method].Options)}
    return {k: v for k, v in (extra.get("method_options") or {}).items() if k in names}


@dataclass
class Cell:
    method: str
    case: str
    seed: int
    path: Path


def run_grid(
    protocol: str, methods: list[str], out: str | Path, *, cases: list[str] | None = None, seeds: list[int] | None = None,
    epochs: int | None = None, data_dir: str | None = None, extra: dict[str, Any] | None = None,
    report_only: bool = False, log: Callable[[str], None] = print, train_sizes: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Run (or skip, or resume) every cell, then write the results; returns the result rows.

    ``train_sizes``: a grid axis of training-set sizes (PROTOCOL's subset rule); each size's cells
    train into OUT/<method>/<case>-n<size>-s<seed>/. Without it, the protocol's own size.

    ``report_only``: train nothing; write the results of the cells that have finished (a grid that
    another process is still running, or one finished over several sittings).
    """
    from .app.run import run_train

    if protocol not in PROTOCOLS:
        raise UserError(f"unknown protocol {protocol!r}; choose one of: {', '.join(PROTOCOLS)}")
    proto = PROTOCOLS[protocol]
    _check_needs(protocol, proto, data_dir, extra or {})
    methods = list(methods or proto.methods)
    if not methods:
        raise UserError(f"protocol {protocol!r} has no default methods: give --methods, e.g. --methods ce,tcl")
    cases = list(cases or proto.cases)
    seeds = list(seeds if seeds is not None else [0])
    parsed = {spec: parse_method(spec) for spec in methods}
    unused = sorted(set((extra or {}).get("method_options") or {})
                    - {k for name, _ in parsed.values() for k in _options_of(name, extra or {})})
    if unused:
        raise UserError(f"--set {', '.join(unused)}: no method in --methods has this option")
    noises = {c: parse_case(c, dataset=proto.dataset, data_dir=data_dir) for c in cases}
    root = Path(out)
    if RunFolder(root).holds_run():
        raise UserError(f"--out {root} holds a training run; give a folder of its own for the grid")
    # precedence: protocol < the method's protocol settings < --set (extra)
    base = {"dataset": proto.dataset.format(data_dir=data_dir), "data_dir": data_dir, "progress": False,
            "epochs": int(proto.epochs if epochs is None else epochs), **proto.train}
    extra = extra or {}
    rows = []
    planned = []
    for size in (train_sizes or [None]):
        sized = base if size is None else {**base, "train_size": int(size)}
        tag = "" if size is None else f"-n{int(size)}"
        for seed in seeds:
            for spec, (name, options) in parsed.items():
                for case in cases:
                    noise, rate = noises[case]
                    cell = Cell(spec, case, seed, root / spec.replace(":", "-") / f"{case}{tag}-s{seed}")
                    own = proto.method_train.get(name, {})
                    cfg = {**sized, **own, **extra, "method": name, "noise": noise, "noise_rate": rate,
                           "seed": seed, "method_options": {**own.get("method_options", {}),
                                                            **_options_of(name, extra), **options}}
                    planned.append((cell, cfg, name, sized, seed, tag))
    if not report_only:  # every cell's options checked before any cell trains
        for cell, cfg, *_ in planned:
            try:
                RunConfig.from_dict({k: v for k, v in cfg.items() if k != "progress"})
            except UserError as e:
                raise UserError(f"cell {cell.method} {cell.case} seed {cell.seed}: {e}") from None
    for cell, cfg, name, sized, seed, tag in planned:
        if report_only:
            if (cell.path / SUMMARY).exists():
                rows.append(_cell_row(cell))
            continue
        if name == "framework":
            pre = {**sized, **extra, "method_options": _options_of("simclr", extra),
                   "imagenet_val": None}  # SimCLR has no classifier to evaluate there
            cfg["pretrained"] = str(_pretraining(root, pre, seed, run_train, log, tag))
            cfg.pop("weights", None)  # the shared pre-training started from them; its encoder goes on
        rows.append(_run_cell(cell, cfg, run_train, log))
    if not rows:
        raise UserError(f"no finished cells in {root} for these methods, cases and seeds")
    write_results(root, protocol, rows)
    return rows


def _check_needs(protocol: str, proto: Protocol, data_dir: str | None, extra: dict[str, Any]) -> None:
    """UserError naming the first of the protocol's :attr:`Protocol.needs` the user has not given."""
    for key, what in proto.needs.items():
        given = data_dir if key == "data_dir" else (extra.get(key) or proto.train.get(key))
        if not given:
            flag = "--data-dir ROOT" if key == "data_dir" else f"--set {key}=PATH"
            raise UserError(f"protocol {protocol} needs {flag}: {what}")


def _pretraining(root: Path, base: dict[str, Any], seed: int, run_train: Callable, log: Callable[[str], None],
                 tag: str = "") -> Path:
    """One SimCLR run per seed (and train size), shared by the framework cells (it never uses labels)."""
    path = root / "_pretrain" / f"simclr{tag}-s{seed}"
    train_in(path, {**base, "method": "simclr", "noise": "none", "seed": seed}, f"pretrain simclr seed {seed}",
             run_train, log)
    return path


def train_in(path: Path, cfg: dict[str, Any], what: str, run_train: Callable, log: Callable[[str], None]) -> None:
    """Train ``cfg`` into ``path``: refused if the folder holds other settings, skipped if finished,
    resumed if interrupted (every cell of a grid; also benchmarks/framework_table.py's runs)."""
    _check_same_settings(path, cfg)
    if (path / SUMMARY).exists():
        log(f"[skip] {what}: finished")
        return
    resume = (path / CONFIG).exists()
    log(f"[{'resume' if resume else 'run'}] {what} -> {path}")
    run_train(cfg, path, resume=resume, overwrite=not resume, log=lambda s: log("  " + s))


def settings_differ(path: Path, cfg: dict[str, Any]) -> list[str]:
    """The settings of ``cfg`` that the run in ``path`` (its config.yaml) was started with otherwise,
    as 'key saved -> wanted' strings; [] when the folder holds no run or the same settings."""
    if not (path / CONFIG).exists():
        return []
    have = _flat(RunFolder(path).read_yaml(CONFIG))
    wanted = _flat({k: v for k, v in cfg.items() if k != "progress"})
    return [f"{k} {have[k]!r} -> {v!r}" for k, v in wanted.items() if k in have and have[k] != v]


def _flat(cfg: dict[str, Any]) -> dict[str, Any]:
    """A run configuration with its method options as 'method_options.NAME' keys."""
    flat = {k: v for k, v in cfg.items() if k != "method_options"}
    flat.update({f"method_options.{k}": v for k, v in (cfg.get("method_options") or {}).items()})
    return flat


def _check_same_settings(path: Path, cfg: dict[str, Any]) -> None:
    diffs = settings_differ(path, cfg)
    if diffs:
        raise UserError(f"{path} holds a run with other settings ({'; '.join(diffs)}); "
                        "give another --out or delete that folder")


def _run_cell(cell: Cell, cfg: dict[str, Any], run_train: Callable, log: Callable[[str], None]) -> dict[str, Any]:
    train_in(cell.path, cfg, f"{cell.method} {cell.case} seed {cell.seed}", run_train, log)
    return _cell_row(cell)


def _cell_row(cell: Cell) -> dict[str, Any]:
    """One results row from a finished cell's summary.json."""
    s = RunFolder(cell.path).read_json(SUMMARY)
    return {"method": cell.method, "case": cell.case, "seed": cell.seed, "path": str(cell.path), **{
        k: s.get(k) for k in RESULT_KEYS}}


RESULT_KEYS = ("dataset", "num_train", "noise", "noise_rate", "noise_rate_actual", "epochs", "test_accuracy",
               "best_test_accuracy", "test_top5_accuracy", "best_test_top5_accuracy", "imagenet_top1_accuracy",
               "best_imagenet_top1_accuracy", "imagenet_top5_accuracy", "best_imagenet_top5_accuracy",
               "detection_auroc", "detection_auprc", "detection_precision", "detection_recall",
               "detection_f1", "noise_rate_estimated", "flagged_to_actual", "train_seconds", "images_per_second",
               "backbone", "device", "torch_version")
# (key, column, scale, decimals); "flagged" is the flagged share of the labels; results.md leaves out a column
# that no row has (ImageNet figures without --imagenet-val, detection figures on real noise: no truth)
SHOWN = (("test_accuracy", "acc (last)", 100, 1), ("best_test_accuracy", "acc (best)", 100, 1),
         ("test_top5_accuracy", "top-5 (last)", 100, 1), ("imagenet_top1_accuracy", "ImageNet top-1", 100, 1),
         ("imagenet_top5_accuracy", "ImageNet top-5", 100, 1),
         ("detection_auroc", "det. AUROC", 1, 3), ("detection_auprc", "det. AUPRC", 1, 3),
         ("detection_f1", "det. F1", 1, 3), ("noise_rate_estimated", "flagged", 1, 3),
         ("noise_rate_actual", "actual noise", 1, 3), ("flagged_to_actual", "flagged / actual", 1, 2),
         ("train_seconds", "seconds", 1, 0), ("images_per_second", "img/s", 1, 0))


def write_results(root: Path, protocol: str, rows: list[dict[str, Any]]) -> None:
    """results.csv, results.md and plots/ in ``root``."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["method", "case", "seed", *RESULT_KEYS, "path"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(root / "results.csv", buf.getvalue().encode())
    atomic_write_bytes(root / "results.md", results_markdown(protocol, rows).encode())
    from .report import plot_accuracy_vs_noise, plot_detection_rocs

    plot_accuracy_vs_noise(rows, root / "plots" / "accuracy_vs_noise.png", protocol)
    plot_detection_rocs(rows, root / "plots" / "detection_roc.png", protocol)


def _cell_text(values: list[float], scale: float, digits: int) -> str:
    vals = [float(v) * scale for v in values if v not in (None, "") and np.isfinite(float(v))]
    if not vals:
        return "–"
    if digits == 0 and max(vals) < 100:
        digits = 1
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{np.mean(vals):.{digits}f} ± {np.std(vals, ddof=1):.{digits}f}"


def results_markdown(protocol: str, rows: list[dict[str, Any]]) -> str:
    """Mean +- sample std over seeds per method x case; every row states its n."""
    proto = PROTOCOLS[protocol]
    devices = sorted({str(r["device"]) for r in rows})
    shown = [c for c in SHOWN if _cell_text([_shown_value(r, c[0]) for r in rows], 1, 1) != "–"]
    lines = [f"# Benchmark `{protocol}`", "", f"{proto.note}.", "",
             f"Hardware: {', '.join(devices)}; torch {rows[0]['torch_version'] if rows else torch.__version__}; "
             f"Python {platform.python_version()}; backbone {', '.join(sorted({str(r['backbone']) for r in rows}))}.",
             "Accuracy in %, test set, last epoch unless marked best; mean ± std over n seeds.", "",
             "| method | case | train | epochs | n | " + " | ".join(label for _, label, _, _ in shown) + " |",
             "|---|---|---|---|---|" + "---|" * len(shown)]
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["case"], str(r.get("num_train") or "–")), []).append(r)
    for (method, case, size), rs in groups.items():
        cells = [_cell_text([_shown_value(r, k) for r in rs], scale, digits) for k, _, scale, digits in shown]
        epochs = ",".join(sorted({str(r["epochs"]) for r in rs}))
        lines.append(f"| {method} | {case} | {size} | {epochs} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines + framework_table(rows)) + "\n"


def _shown_value(row: dict[str, Any], key: str) -> Any:
    """A row's figure as results.md shows it: case ``none`` trains on the given labels as they are, whose own
    error rate is unknown (real noise), so it has no actual noise rate to show (0 is only the added noise)."""
    return None if key == "noise_rate_actual" and row.get("noise") == "none" else row.get(key)


def framework_table(rows: list[dict[str, Any]]) -> list[str]:
    """The Ciortan et al. layout, test accuracy (last epoch, %) per loss x case in the columns Base /
    Pre-trained / Fine-tuned (``FRAMEWORK_COLUMN_SPECS``); [] unless some loss has two of the columns."""
    acc: dict[tuple[str, str, str], list[float]] = {}
    for r in rows:
        if r["method"] in FRAMEWORK_COLUMN_SPECS:
            loss, column = FRAMEWORK_COLUMN_SPECS[r["method"]]
            acc.setdefault((loss, str(r["case"]), column), []).append(r.get("test_accuracy"))
    keys = sorted({(loss, case) for loss, case, _ in acc}, key=lambda k: (FRAMEWORK_LOSSES.index(k[0]), k[1]))
    if not any(sum((k[0], k[1], c) in acc for c in FRAMEWORK_COLUMNS) >= 2 for k in keys):
        return []
    lines = ["", "Contrastive framework (Ciortan et al.): test accuracy in %, last epoch, mean ± std over seeds.", "",
             "| loss | case | " + " | ".join(FRAMEWORK_COLUMNS) + " |", "|---|---|" + "---|" * len(FRAMEWORK_COLUMNS)]
    for loss, case in keys:
        cells = [_cell_text(acc.get((loss, case, c), []), 100, 1) for c in FRAMEWORK_COLUMNS]
        lines.append(f"| {loss} | {case} | " + " | ".join(cells) + " |")
    return lines
