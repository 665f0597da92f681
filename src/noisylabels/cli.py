"""The `noisylabels` command: noise, train, detect, review, apply-review, bench, demo.

Only this module turns flags and YAML into plain arguments (DESIGN.md style rule 3). Every user error
is printed as one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from .app.run import run_train
from .bench import PROTOCOLS
from .config import TRAIN_DEFAULTS, RunConfig, check_config
from .errors import UserError
from .methods import METHODS
from .options import GROUPS, OPTIONS_BY_NAME, TRAIN_OPTIONS, TrainOption

DEMO_CONFIG: dict[str, Any] = {
    "dataset": "digits", "noise": "symmetric", "noise_rate": 0.4, "method": "tcl", "epochs": 20, "batch_size": 64,
    "seed": 0,
}


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage block) with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"noisylabels: error: {message} (see '{self.prog} --help')\n")


def _bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _float_or_word(text: str) -> float | str:
    """A number, or a word that the option itself checks (TCL's --scale1 auto)."""
    try:
        return float(text)
    except ValueError:
        return text


def _option_type(f: dataclasses.Field) -> Any:
    """The argparse type of a method option, from its annotation ('int | None' -> int,
    'float | str' -> a number or a word such as 'auto')."""
    text = str(f.type)
    if text in ("float | str", "float | str | None"):
        return _float_or_word
    for name, kind in (("bool", _bool), ("int", int), ("float", float)):
        if text.startswith(name):
            return kind
    return str


def _method_option_fields() -> dict[str, dataclasses.Field]:
    """Every option of every method, by name (one flag each; defaults come from the chosen method)."""
    fields: dict[str, dataclasses.Field] = {}
    for cls in METHODS.values():
        for f in dataclasses.fields(cls.Options):
            fields.setdefault(f.name, f)
    return fields


def _add_option(container: Any, option: TrainOption, *, help: str | None = None, note: str | None = None) -> None:
    """The flag of one declared training option on ``container`` (a parser or an argument group): typed as
    declared, its help ending in ``note`` (by default the default it stands for: "default: ..."). The parsed
    value is None when the flag is left out, so that a --config YAML and the method's defaults apply."""
    text = f"{help or option.help} ({note or 'default: ' + option.shown_default()})"
    text = argparse.SUPPRESS if help == argparse.SUPPRESS else text.replace("%", "%%")
    if option.type is bool and not option.choices:  # a bare flag means true
        container.add_argument(option.flag, dest=option.name, action="store_true", default=None, help=text)
        return
    kind = {int: int, float: float}.get(option.type, str)
    choices = option.choices if option.choices and option.type is str else None  # --flip's words: the check's
    container.add_argument(option.flag, dest=option.name, type=kind, choices=choices, default=None, help=text,
                           metavar=option.metavar)


def _add_options(p: argparse.ArgumentParser, command: str, *, into: Any = None, helps: dict[str, str] | None = None,
                 notes: dict[str, str] | None = None) -> dict[str, Any]:
    """The flags of the declared training options that ``command`` has, in one argument group per option
    group that has any (:data:`~noisylabels.options.GROUPS`' order), or all in ``into``; returns the groups by
    name. ``helps`` and ``notes``: other texts for some flags' help and its closing note (:func:`_add_option`)."""
    helps, notes = helps or {}, notes or {}
    mine = [o for o in TRAIN_OPTIONS if command in o.commands]
    groups = {name: into or p.add_argument_group(name, about) for name, about in GROUPS.items()
              if any(o.group == name for o in mine)}
    for option in mine:
        note = notes.get(option.name, "required" if command in option.required else None)
        _add_option(groups[option.group], option, help=helps.get(option.name), note=note)
    return groups


def _chosen_method(argv: Sequence[str]) -> str | None:
    """The value of ``--method`` in argv (for help that shows that method's options), if any."""
    for i, a in enumerate(argv):
        if a == "--method" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--method="):
            return a.split("=", 1)[1]
    return None


def _finite(value: Any) -> bool:
    """A number that can be printed as a figure (not None, NaN or inf)."""
    return isinstance(value, (int, float)) and math.isfinite(value)


def _shown(value: Any) -> str:
    """A method option's default as help shows it."""
    if value is None:
        return "set by the method"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _one_paragraph(text: str | None) -> str:
    return " ".join((text or "").split())


def _add_method_options(p: argparse.ArgumentParser, method: str | None) -> None:
    """One flag per method option name. With a known ``method``: only its options, with its defaults
    (and its own train defaults); otherwise every option, naming the methods that have it and their defaults."""
    owners: dict[str, dict[str, str]] = {}  # option -> method -> its default, as shown
    for cls in METHODS.values():
        for name, value in dataclasses.asdict(cls.Options()).items():
            owners.setdefault(name, {})[cls.name] = _shown(value)
    chosen = METHODS.get(method) if method else None
    if chosen is None:
        group = p.add_argument_group("method options", "each method's options and defaults: "
                                     "'noisylabels train --method M --help'")
        defaults: dict[str, Any] = {}
    else:
        defaults = dataclasses.asdict(chosen.Options())
        try:
            fit = chosen.fit_defaults(defaults, int(TRAIN_DEFAULTS["epochs"]))
        except UserError:
            fit = {}
        trained = "; ".join(f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else f"--{k.replace('_', '-')} {v}"
                            for k, v in fit.items())
        note = f" Train defaults of this method: {trained}." if trained else ""
        group = p.add_argument_group(f"options of --method {chosen.name}",
                                     _one_paragraph(chosen.Options.__doc__) + note)
    for name, f in _method_option_fields().items():
        kind = _option_type(f)
        flag = {"nargs": "?", "const": True} if kind is _bool else {}  # a bare --per-class-gmm means true
        if chosen is None:
            by_default: dict[str, list[str]] = {}
            for m, v in owners[name].items():
                by_default.setdefault(v, []).append(m)
            text = "option of " + "; ".join(f"{', '.join(ms)} (default: {v})" for v, ms in by_default.items())
        elif name in defaults:
            text = f"(default: {_shown(defaults[name])})" if defaults[name] is not None else \
                "(default: set by the method, see above)"
        else:
            text = argparse.SUPPRESS  # another method's option: accepted, and refused by name if given
        metavar = {_bool: "BOOL", int: "N", float: "X", _float_or_word: "X|WORD"}.get(kind, "TEXT")
        group.add_argument("--" + name.replace("_", "-"), dest="opt_" + name, type=kind, default=None,
                           help=text, metavar=metavar, **flag)


def _add_train_parser(sub: Any, method: str | None) -> None:
    """``train``: the declared options by group, the run's own flags, then the method's options."""
    p = sub.add_parser("train", help="train a model on noisy labels into a run folder",
                       description="Train a model on noisy labels into a run folder. Options come from their "
                       "defaults < --config FILE < flags; --dataset is required (dataset: in --config FILE counts, "
                       "and --resume reads the run's saved options).")
    groups = _add_options(p, "train", helps={"method": f"the training method, one of: {', '.join(sorted(METHODS))}"},
                          notes={"dataset": "required, or dataset: in --config FILE"})
    run = groups["run"]
    run.add_argument("--config", metavar="FILE", help="YAML file of options, keys as in a run's config.yaml; flags "
                     "override it (default: none)")
    run.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch, with its "
                     "saved options (default: off)")
    run.add_argument("--overwrite", action="store_true", help="replace a run already in --out (default: off)")
    run.add_argument("--quiet", action="store_true", help="no progress bar (default: off: a bar on a terminal)")
    run.add_argument("--nproc", type=int, metavar="K", help="data-parallel processes on this machine (gloo on CPU, "
                     "nccl on CUDA, one GPU each); same as torchrun --nproc_per_node=K -m noisylabels train "
                     "(default: 1)")
    run.add_argument("--out", required=True, metavar="DIR", help="run folder (required)")
    _add_method_options(p, method)


def _add_detect_parser(sub: Any) -> None:
    """``detect``: one argument group per mode (a run folder, your arrays, a dataset with an encoder)."""
    p = sub.add_parser(
        "detect", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="rank suspect labels from a run folder, from your own predictions, or from a pretrained encoder "
             "without training (--dataset SRC --weights W)",
        description="Rank suspect labels into label_issues.csv, in one of three modes:\n"
                    "  1. a finished training run:      --run DIR\n"
                    "  2. your own arrays:              --labels FILE with --pred-probs FILE and/or --features FILE\n"
                    "  3. a dataset and an encoder:     --dataset SRC --weights FILE|RUN (no training)",
        epilog="examples:\n"
               "  noisylabels detect --run runs/pets\n"
               "  noisylabels detect --labels labels.npy --pred-probs probs.npy --out issues\n"
               "  noisylabels detect --dataset folder:photos --weights resnet50.pth --backbone resnet50 --out issues")
    by_run = p.add_argument_group("mode 1: a finished training run")
    by_run.add_argument("--run", metavar="DIR", help="a finished training run folder (uses its pred_probs.npy, "
                        "features.npy and, for tcl, count_probs.npy)")
    by_run.add_argument("--no-features", action="store_true", help="ignore the run's features.npy (loss GMM)")
    arrays = p.add_argument_group("mode 2: your own arrays")
    arrays.add_argument("--labels", metavar="FILE", help="given labels, .npy or .csv (N,)")
    arrays.add_argument("--pred-probs", metavar="FILE", help="predicted probabilities, .npy or .csv (N, C): "
                        "out-of-sample (K-fold or held-out predictions, as cleanlab asks) unless --in-sample")
    arrays.add_argument("--in-sample", action="store_true", help="--pred-probs are a model's predictions of its own "
                        "training images: count the flags as a training run does (anchor points)")
    arrays.add_argument("--features", metavar="FILE", help="embeddings (N, D) of your own: with --pred-probs they "
                        "add the context to the ranking; without, leave-one-out kNN votes of --k neighbours are the "
                        "probabilities")
    arrays.add_argument("--true-labels", metavar="FILE", help="optional true labels (N,), to measure detection")
    arrays.add_argument("--images", metavar="FILE", help="optional uint8 images .npy (N, H, W[, C]) for the "
                        "suspects grid")
    encoder = p.add_argument_group("mode 3: a dataset and a pretrained encoder, without training")
    helps = {"dataset": "the data to examine: " + OPTIONS_BY_NAME["dataset"].help,
             "test_data": argparse.SUPPRESS, "test_fraction": argparse.SUPPRESS}  # these two: refused by name
    _add_options(p, "detect", into=encoder, helps=helps, notes={"dataset": "required in this mode"})
    _add_option(encoder, OPTIONS_BY_NAME["weights"], help="the encoder: a local weights file (with --backbone) or a "
                "finished run folder (e.g. a simclr run)", note="required in this mode")
    own = "default: a run's own"
    _add_option(encoder, OPTIONS_BY_NAME["backbone"], help="the network of --weights FILE (resnet18 | resnet34 | "
                "resnet50 | inception-resnet-v2 | small-cnn | preact-resnet18 | timm:NAME)", note=own)
    _add_option(encoder, OPTIONS_BY_NAME["width"], help="backbone base width of --weights FILE", note=own)
    _add_option(encoder, OPTIONS_BY_NAME["device"])
    encoder.add_argument("--probe", choices=("linear", "knn"), default="linear",
                         help="out-of-sample probabilities from the embeddings: a linear probe cross-fitted over "
                              "--folds folds, or leave-one-out kNN votes of --k neighbours (default: linear)")
    encoder.add_argument("--folds", type=int, default=5, metavar="K", help="folds of the linear probe (default: 5)")
    votes = p.add_argument_group("modes 2 and 3: kNN votes")
    votes.add_argument("--k", type=int, default=20, help="neighbours of the kNN votes: --features without "
                       "--pred-probs, or --probe knn (default: 20)")
    output = p.add_argument_group("output")
    output.add_argument("--out", metavar="DIR", help="output folder (default: RUN/detect with --run; required "
                       "otherwise)")


def build_parser(method: str | None = None) -> argparse.ArgumentParser:
    """The command line; ``method``: the ``--method`` given, whose options ``train --help`` shows."""
    parser = _Parser(prog="noisylabels", description="Train image classifiers on noisy labels and find the wrong labels.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p_noise = sub.add_parser("noise", help="write noisy training labels to a .npy file",
                             description="Write the noisy training labels that 'train' with the same data and "
                             "noise flags would train on.")
    noise_run = _add_options(p_noise, "noise")["run"]
    noise_run.add_argument("--out", required=True, metavar="FILE.npy", help="output .npy file (required)")
    noise_run.add_argument("--overwrite", action="store_true", help="replace an existing --out file (default: off)")

    _add_train_parser(sub, method)
    _add_detect_parser(sub)

    p_predict = sub.add_parser("predict", help="a finished run's model on new images -> a CSV of classes and "
                               "probabilities", description="Reads the images at the model's own size and channels "
                               "and writes one row per image: index, path, predicted_label, predicted_class, "
                               "probability, the top-5 classes and their probabilities, and the source's own class "
                               "where it has one (then the accuracy is printed).")
    p_predict.add_argument("model", metavar="RUN", help="a finished run folder (it holds model.pt2) or the model file")
    p_predict.add_argument("--images", required=True, metavar="SOURCE",
                           help="a dataset spec as --dataset takes (fashion-mnist, folder:PATH, csv:PATH, npz:PATH, "
                           "...), a plain folder (every image under it) or one image file (required)")
    p_predict.add_argument("--split", choices=("auto", "train", "test"), default="auto",
                           help="which part of a dataset spec: auto = its test split where it has one, else all "
                           "(default: auto)")
    p_predict.add_argument("--out", required=True, help="the CSV to write (required; kept unless --overwrite)")
    p_predict.add_argument("--overwrite", action="store_true", help="replace an existing --out (default: off)")
    p_predict.add_argument("--skip-bad-images", action="store_true",
                           help="leave unreadable image files out instead of stopping (default: off)")

    p_review = sub.add_parser("review", help="a static review page of the suspects (opens from file://, no server)")
    p_review.add_argument("run", metavar="RUN", help="a finished training run or a detect output folder")
    p_review.add_argument("--out", help="folder of the page (default RUN/review)")
    p_review.add_argument("--images", help="uint8 images .npy (N, H, W[, C]) indexed like the 'index' column, "
                          "for a detect folder of your own predictions")
    p_review.add_argument("--no-thumbnails", action="store_true", help="build the page without images")

    p_apply = sub.add_parser("apply-review", help="turn the review page's review_decisions.csv into corrected "
                             "labels (train --labels) and an exclusion list (train --exclude)")
    p_apply.add_argument("run", metavar="RUN", help="the run (or detect folder) that was reviewed")
    p_apply.add_argument("decisions", metavar="DECISIONS", help="review_decisions.csv exported from the page")
    p_apply.add_argument("--out", required=True, help="folder for corrected_labels.csv/.npy and excluded.txt")

    p_bench = sub.add_parser("bench", help="run a protocol's grid of methods x noise cases x seeds, then tabulate")
    p_bench.add_argument("--protocol", required=True, help=" | ".join(PROTOCOLS))
    p_bench.add_argument("--methods", help="comma list, e.g. ce,elr,tcl,cleanlab-retrain,framework:elr,"
                         "framework:elr:pretrained (default: the protocol's, where it has them: framework-paper, "
                         "webvision-paper, clothing1m-paper)")
    p_bench.add_argument("--cases", help="comma list, e.g. none,sym50,sym80,asym40,symex80 (default: the protocol's)")
    p_bench.add_argument("--seeds", default="0", help="comma list of seeds (default 0)")
    _add_option(p_bench, OPTIONS_BY_NAME["epochs"], help="epochs of every run", note="default: the protocol's")
    p_bench.add_argument("--train-sizes", help="comma list of training-set sizes, a grid axis (e.g. 10000,3000; "
                                               "default: the protocol's)")
    _add_option(p_bench, OPTIONS_BY_NAME["data_dir"], help="dataset folder (CIFAR pickles and CIFAR-N .pt files; the "
                "WebVision or Clothing1M root; fashion-mnist if not the Debian path)")
    p_bench.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="a train option for every run, or a method option for the methods that have it, "
                              "e.g. --set width=32 --set batch_size=64 --set scale1=1 --set imagenet_val=ROOT "
                              "--set weights=PATH")
    p_bench.add_argument("--report-only", action="store_true",
                         help="train nothing: write results.csv/.md and plots from the finished cells")
    p_bench.add_argument("--out", required=True, help="grid folder (finished cells are skipped, unfinished resumed)")

    p_demo = sub.add_parser("demo", help="TCL on the bundled digits with 40%% label noise, with a report")
    p_demo.add_argument("--out", default="runs/demo", help="run folder (an earlier demo there is replaced; default "
                        "runs/demo)")
    p_demo.add_argument("--overwrite", action="store_true", help="replace a run there that is not a demo")
    p_demo.add_argument("--epochs", type=int, default=DEMO_CONFIG["epochs"], metavar="E",
                        help=f"training epochs (default: {DEMO_CONFIG['epochs']})")
    p_demo.add_argument("--quiet", action="store_true", help="no progress bar (default: off: a bar on a terminal)")
    return parser


def _given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The declared training options given as flags; flags left out are absent."""
    return {o.name: value for o in TRAIN_OPTIONS if (value := getattr(args, o.name, None)) is not None}


def _require_dataset(given: dict[str, Any], command: str) -> None:
    """UserError unless ``given`` (flags, and for ``train`` a --config YAML) names the dataset: the library's
    default data would otherwise stand in for a forgotten --dataset. The values given are checked first, so
    that a wrong one is named before the missing one."""
    if "dataset" in given:
        return
    if command == "train":
        RunConfig.from_dict(given)
        raise UserError("--dataset is required: give --dataset SRC (e.g. digits, cifar10, folder:PATH, csv:PATH, "
                        "npz:PATH) or dataset: in --config FILE ('noisylabels demo' runs on the bundled digits)")
    raise UserError("--dataset is required: give --dataset SRC (e.g. digits, cifar10, folder:PATH, csv:PATH, "
                    "npz:PATH)")


def _train_config(args: argparse.Namespace) -> dict[str, Any]:
    """defaults < YAML file < flags. Unknown YAML keys are a user error."""
    cfg: dict[str, Any] = {}
    if args.config:
        cfg = _read_yaml_config(args.config)
    cfg.update(_given_options(args))
    opts = dict(cfg.get("method_options") or {})
    for name in _method_option_fields():
        value = getattr(args, "opt_" + name, None)
        if value is not None:
            opts[name] = value
    cfg["method_options"] = opts
    cfg["progress"] = not args.quiet and sys.stderr.isatty()
    return cfg


def _read_yaml_config(path: str) -> dict[str, Any]:
    from .runs import load_yaml_file

    loaded = load_yaml_file(Path(path), "--config")
    if not isinstance(loaded, dict):
        raise UserError(f"--config: {path} must hold a mapping of option: value")
    option_names = set(_method_option_fields())
    given_options = loaded.pop("method_options", None) or {}
    if not isinstance(given_options, dict):
        raise UserError(f"--config: method_options in {path} must be a mapping of option: value, got {given_options!r}")
    cfg: dict[str, Any] = {"method_options": dict(given_options)}
    for key, value in loaded.items():
        k = str(key).replace("-", "_")
        if k in OPTIONS_BY_NAME:
            cfg[k] = value
        elif k in option_names:
            cfg["method_options"][k] = value
        else:
            raise UserError(f"--config: unknown key {key!r} in {path}; see 'noisylabels train --help'")
    return cfg


def cmd_noise(args: argparse.Namespace) -> int:
    """The noisy training labels that ``train`` with the same data and noise flags would train on."""
    from .data.noise import describe_noise
    from .data.sources import load_run_splits
    from .app.build import noisy_training_labels
    from .data.keyed import held_out

    cfg = {**TRAIN_DEFAULTS, **_given_options(args)}
    check_config(cfg)  # the same checks as train (--seed -1, --test-fraction 0, ...)
    _require_dataset(_given_options(args), "noise")
    if Path(args.out).suffix != ".npy":
        raise UserError(f"--out must end in .npy, got {args.out}")
    if Path(args.out).is_dir() or any(p.exists() and not p.is_dir() for p in Path(args.out).parents):
        raise UserError(f"--out {args.out}: not a file path inside a folder; give a path such as labels/noisy.npy")
    if Path(args.out).exists() and not args.overwrite:  # a run's own noisy_labels.npy among the files it could be
        raise UserError(f"--out {args.out} exists; pass --overwrite to replace it or choose another file")
    splits = load_run_splits(cfg)
    noisy, report = noisy_training_labels(cfg, splits.train, held_out(splits))
    out = Path(args.out)
    from .runs import RunFolder

    RunFolder(out.parent).write_npy(out.name, noisy)
    noise = describe_noise(cfg["noise"], cfg["noise_rate"], report["noise_rate_actual"], cfg.get("labels"))
    print(f"wrote {len(noisy)} labels to {out}; noise {noise}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from . import distributed as ddp

    if args.nproc is not None and args.nproc < 1:
        raise UserError(f"--nproc must be at least 1, got {args.nproc}")
    if args.nproc and args.nproc > (most := max(os.cpu_count() or 1, torch.cuda.device_count())):
        raise UserError(f"--nproc {args.nproc} exceeds this machine's {most} CPU cores / GPUs; use at most {most}")
    config = _train_config(args)
    if not args.resume:  # a resumed run reads its saved options
        _require_dataset(config, "train")
    if args.nproc and args.nproc > 1 and not ddp.launched_by_torchrun():
        argv, skip = [], False
        for a in args.argv:  # the same command without --nproc, once per rank
            if skip or a.startswith("--nproc="):
                skip = False
                continue
            skip = a == "--nproc"
            if not skip:
                argv.append(a)
        return ddp.launch(argv, args.nproc)
    if ddp.launched_by_torchrun():
        ddp.setup(args.device or "auto")
    main_rank, finished = ddp.is_main(), False
    try:
        summary = run_train(config, args.out, resume=args.resume, overwrite=args.overwrite,
                            log=print if main_rank else _silent)
        finished = True
    finally:
        ddp.shutdown(finished)
    if not main_rank:
        return 0
    print(f"test accuracy {summary['test_accuracy']:.4f} (best {summary['best_test_accuracy']:.4f}), "
          f"{summary['train_seconds']:.1f}s, {summary['images_per_second']:.0f} img/s -> {args.out}")
    if "num_label_issues" in summary:
        print_issue_report(Path(args.out), summary)
        print(f"next: noisylabels review {args.out}   (look at the suspects, decide, then apply-review)")
    return 0


def print_issue_report(folder: Path, summary: dict[str, Any], top: int = 5) -> None:
    """The flagged count and share, the count's warnings and the ``top`` most suspect labels of a folder
    holding label_issues.csv."""
    n = int(summary.get("num_train") or summary.get("num_samples") or 0)
    flagged = int(summary["num_label_issues"])
    print(f"label issues: {flagged} of {n} labels flagged ({flagged / max(1, n):.1%}); ranked list in "
          f"{folder / 'label_issues.csv'}")
    for warning in summary.get("count_warnings") or []:
        print(f"note: {warning}")
    with open(folder / "label_issues.csv", newline="") as f:
        rows = [r for _, r in zip(range(top), csv.DictReader(f))]
    if rows:
        print("most suspect (index: given -> suggested, quality):")
    for r in rows:
        given, suggested = (r.get(f"{k}_name") or r[f"{k}_label"] for k in ("given", "suggested"))
        where = f"  {r['path']}" if r.get("path") else ""
        print(f"  #{r['index']}: {given} -> {suggested}  ({float(r['label_quality']):.3f}){where}")


def _silent(line: str) -> None:
    """The log of ranks other than 0."""


def cmd_detect(args: argparse.Namespace) -> int:
    from .data._images import image_array
    from .app.encoder_detect import DATA_OPTIONS, detect_with_encoder
    from .data._text import shown
    from .data.keyed import label_vector
    from .issues import detect_from_run, detect_to_folder, feature_vote_probs, load_array
    from .runs import CONFIG

    encoder = {k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k, None) is not None}
    data_flags = bool(encoder) or args.test_data is not None or args.test_fraction is not None
    modes = [bool(args.run), bool(args.labels or args.pred_probs or args.features), bool(args.weights) or data_flags]
    if sum(modes) != 1:
        raise UserError("give either --run DIR, or --labels FILE with --pred-probs FILE and/or --features FILE, or "
                        "--dataset SRC --weights W")
    if args.in_sample and not args.pred_probs:
        raise UserError("--in-sample describes --pred-probs; give --pred-probs FILE or drop --in-sample")
    out = Path(args.out) if args.out else (Path(args.run) / "detect" if args.run else None)
    if out is None:
        raise UserError("--out is required with --labels/--pred-probs and with --weights")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the detection")
    if (out / CONFIG).exists():
        raise UserError(f"--out {out} holds a training run; choose another folder for the detection")
    if args.run:
        s = detect_from_run(args.run, out, use_features=not args.no_features)
    elif modes[2]:
        if not args.weights or not args.dataset:
            raise UserError("detect from a pretrained encoder needs both --dataset SRC and --weights FILE|RUN")
        if args.test_data or args.test_fraction is not None:
            raise UserError("detect --weights examines every sample of --dataset: drop --test-data/--test-fraction")
        s = detect_with_encoder(encoder, args.weights, out, probe=args.probe, folds=args.folds, k=args.k)
    else:
        if not args.labels or not (args.pred_probs or args.features):
            raise UserError("--labels and one or both of --pred-probs and --features are needed")
        images = None
        if args.images:
            images = image_array(load_array(args.images, "images"), "--images")
        labels = label_vector(load_array(args.labels, "labels"), f"--labels {shown(args.labels)}")
        true = label_vector(load_array(args.true_labels, "true-labels"), f"--true-labels {shown(args.true_labels)}") \
            if args.true_labels else None
        feats = load_array(args.features, "features") if args.features else None
        if images is not None and len(images) != len(labels):
            raise UserError(f"--images has {len(images)} images but there are {len(labels)} labels")
        extra = {}
        if args.pred_probs:
            probs = load_array(args.pred_probs, "pred-probs")
        else:
            probs, extra = feature_vote_probs(labels, feats, k=args.k)
        s = detect_to_folder(out, labels, probs, features=feats, true_labels=true, images=images, extra=extra,
                             provenance="in-sample" if args.in_sample else "out-of-sample")
    line = f"{s['num_label_issues']} of {s['num_samples']} labels flagged ({s['detector']})"
    if _finite(s.get("detection_auroc")):  # None or NaN: the truth holds no wrong label, nothing to rank
        line += (f"; detection ROC-AUC {s['detection_auroc']:.3f}, AUPRC {s['detection_auprc']:.3f}, "
                 f"F1 {s['detection_f1']:.3f}")
    print(f"{line} -> {out / 'label_issues.csv'}")
    for warning in s.get("count_warnings", []):
        print(f"note: {warning}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .app.predict import predict_to_csv

    pred = predict_to_csv(args.model, args.images, args.out, split=args.split, skip_bad=args.skip_bad_images,
                          overwrite=args.overwrite)
    acc = pred.accuracy
    scored = f"; accuracy {acc:.2%} against the source's labels" if acc is not None else ""
    print(f"{len(pred.probs)} images -> {args.out}{scored}")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from .review.page import build_review

    r = build_review(args.run, args.out, images_file=args.images, thumbnails=not args.no_thumbnails)
    note = f"; {r['note']}" if r["note"] else ""
    print(f"review page of {r['rows']} rows ({r['flagged']} flagged, {r['thumbnails']} thumbnails){note} "
          f"-> open {Path(r['page']).resolve().as_uri()}")
    return 0


def cmd_apply_review(args: argparse.Namespace) -> int:
    from .review.apply import apply_review, retrain_command

    r = apply_review(args.run, args.decisions, args.out)
    c = r["counts"]
    print(f"{c['relabel']} relabelled ({r['num_changed']} labels changed), {c['exclude']} excluded "
          f"({r['num_excluded']} in {r['exclude_file']}), {c['keep']} kept, {c['unsure']} unsure -> {r['labels_file']}")
    print(f"train again: {retrain_command(r)}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_grid

    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:  # every rank would train the whole grid on one GPU
        raise UserError("bench trains its grid cell by cell in one process; under torchrun run each cell with "
                        "'noisylabels train' (or bench without torchrun)")
    extra: dict[str, Any] = {}
    method_options: dict[str, Any] = {}
    option_names = _method_option_fields()
    for item in args.set:
        key, eq, value = item.partition("=")
        key = key.replace("-", "_")
        if not eq or (key not in TRAIN_DEFAULTS and key not in option_names) or key == "method_options":
            raise UserError(f"--set {item!r}: expected KEY=VALUE with KEY a train or method option, "
                            "e.g. width=32 or scale1=1")
        (extra if key in TRAIN_DEFAULTS else method_options)[key] = yaml.safe_load(value)
    if method_options:
        extra["method_options"] = method_options
    try:
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--seeds must be a comma list of integers, got {args.seeds!r}") from None
    if not seeds or min(seeds) < 0 or max(seeds) > 2**32 - 1:
        raise UserError(f"--seeds must list integers in 0..{2**32 - 1}, got {args.seeds!r}")
    if args.epochs is not None and args.epochs < 1:
        raise UserError(f"--epochs must be at least 1, got {args.epochs}")
    try:
        sizes = [int(x) for x in args.train_sizes.split(",") if x.strip()] if args.train_sizes else None
    except ValueError:
        raise UserError(f"--train-sizes must be a comma list of integers, got {args.train_sizes!r}") from None
    if sizes is not None and (not sizes or min(sizes) < 2):
        raise UserError(f"--train-sizes must list sizes of at least 2 samples, got {args.train_sizes!r}")
    methods = [m.strip() for m in (args.methods or "").split(",") if m.strip()]
    cases = [c.strip() for c in args.cases.split(",") if c.strip()] if args.cases else None
    run_grid(args.protocol, methods, args.out, cases=cases, seeds=seeds, epochs=args.epochs,
             data_dir=args.data_dir, extra=extra, report_only=args.report_only, train_sizes=sizes)
    print((Path(args.out) / "results.md").read_text())
    return 0


def _holds_demo(folder: Path) -> bool:
    """Whether ``folder`` holds no run, or an earlier demo (which the demo replaces without --overwrite)."""
    from .runs import CONFIG, RunFolder

    run = RunFolder(folder)
    if not run.holds_run():
        return True
    try:
        cfg = run.read_yaml(CONFIG)
    except Exception:  # noqa: BLE001 - an unreadable config is not a demo's
        return False
    return all(cfg.get(k) == DEMO_CONFIG[k] for k in ("dataset", "method", "noise", "noise_rate"))


def cmd_demo(args: argparse.Namespace) -> int:
    cfg = {**DEMO_CONFIG, "epochs": args.epochs, "progress": not args.quiet and sys.stderr.isatty()}
    print(f"demo: {cfg['method']} on the bundled digits with {cfg['noise_rate']:.0%} {cfg['noise']} label noise")
    s = run_train(cfg, args.out, overwrite=args.overwrite or _holds_demo(Path(args.out)))
    print("\n== report ==")
    print(f"test accuracy (last epoch): {s['test_accuracy']:.4f}   best: {s['best_test_accuracy']:.4f}")
    print(f"noise rate: actual {s['noise_rate_actual']:.3f}, estimated {s['noise_rate_estimated']:.3f}")
    if _finite(s.get("detection_auroc")):
        print(f"label-issue detection: ROC-AUC {s['detection_auroc']:.3f}, AUPRC {s['detection_auprc']:.3f}, "
              f"precision {s['detection_precision']:.3f}, recall {s['detection_recall']:.3f}")
    print(f"training: {s['train_seconds']:.1f}s, {s['images_per_second']:.0f} images/s on {s['device']}")
    with open(Path(args.out) / "label_issues.csv") as f:
        rows = list(csv.DictReader(f))
    print("\nmost suspect labels (index: given -> suggested, true, quality):")
    for r in rows[:10]:
        print(f"  #{r['index']:>4}: {r['given_label']} -> {r['suggested_label']}  (true {r['true_label']}, "
              f"quality {float(r['label_quality']):.3f})")
    flagged = np.array([r["is_label_issue"] == "True" for r in rows])
    print(f"\n{flagged.sum()} of {len(rows)} labels flagged; full ranked list: {Path(args.out) / 'label_issues.csv'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_chosen_method(argv)).parse_args(argv)
    args.argv = argv
    commands = {"noise": cmd_noise, "train": cmd_train, "detect": cmd_detect, "predict": cmd_predict, "review": cmd_review,
                "apply-review": cmd_apply_review, "bench": cmd_bench, "demo": cmd_demo}
    try:
        return commands[args.command](args)
    except UserError as e:
        print(f"noisylabels: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("noisylabels: interrupted; continue with 'noisylabels train --resume --out DIR'", file=sys.stderr)
        return 130
    except OSError as e:
        print(f"noisylabels: error: {e.strerror or e} ({e.filename or ''})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
