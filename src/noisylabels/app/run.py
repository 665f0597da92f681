"""One training run into its run folder: the folder and --resume checks, config.yaml, noisy labels, the
engine, the label issues, the summary and the plots."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Mapping

from .. import distributed as ddp
from ..config import RunConfig, _flag, absolute_paths
from ..data._text import shown
from ..data.files import check_out_is_not_the_data
from ..data.noise import describe_noise
from ..engine import train
from ..export import export_model
from ..precision import precision_scope
from ..errors import UserError
from ..report import plot_curves
from ..runs import CONFIG, MODEL, NOISY_LABELS, PASSED_OVER, SKIPPED_IMAGES, SUMMARY, RunFolder, labels_sha256, writer_lock
from .build import prepare
from .summary import build_summary, write_issues

def saved_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The configuration as written to config.yaml (plain YAML types, no runtime-only keys, every path
    absolute: :func:`absolute_paths`)."""
    return {k: v for k, v in absolute_paths(cfg).items() if k not in ("progress",)}


def run_train(
    config: RunConfig | Mapping[str, Any], out: str | Path, *, resume: bool = False, overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train one run into ``out`` and return its summary (also written to summary.json). ``config``: a
    :class:`~noisylabels.config.RunConfig`, or a mapping of the options given (checked into one in
    :func:`~noisylabels.app.build.prepare`). With ``resume``, the options given must match the saved run's
    (``epochs`` may change); a RunConfig states every option, a mapping only those given."""
    with writer_lock(out):
        return _run_train(config, out, resume=resume, overwrite=overwrite, log=log)


def _run_train(config: RunConfig | Mapping[str, Any], out: str | Path, *, resume: bool, overwrite: bool,
               log: Callable[[str], None]) -> dict[str, Any]:
    """:func:`run_train` inside the folder's writer lock."""
    if resume and overwrite:
        raise UserError("give --resume (continue the run in --out) or --overwrite (replace it), not both")
    run = RunFolder(out)
    run.check_writable(resume=resume, overwrite=overwrite)
    ddp.barrier()  # every rank has seen the folder as it was before rank 0 clears or writes it
    if resume:  # the saved run's options, with the given epochs: a new mapping, checked once by prepare
        given = absolute_paths(config.to_dict() if isinstance(config, RunConfig) else dict(config))
        saved = absolute_paths(read_saved_config(run))
        _check_resume_matches(run, saved, given)
        config = {**saved, **{k: v for k, v in given.items() if k in ("epochs", "progress")}}
        done = _finished_epochs(run)
        if given.get("epochs") is not None and done > int(config["epochs"]):
            raise UserError(f"--resume: the run in {run.path} has finished {done} epochs, more than --epochs "
                            f"{config['epochs']}; give --epochs {done} or more (or start a new run)")
    cfg = config.to_dict() if isinstance(config, RunConfig) else dict(config)
    check_out_is_not_the_data(run.path, [str(cfg.get(k) or "") for k in ("dataset", "test_data")])
    prep = prepare(config)  # a RunConfig is used as built; a mapping is built into one there
    sha = labels_sha256(prep.noisy)
    if resume and (run.path / NOISY_LABELS).exists():
        old = run.read_npy(NOISY_LABELS)
        if labels_sha256(old) != sha:
            raise UserError(f"--resume: the noisy labels differ from those saved in {run.path}; use --overwrite")
    if resume:
        run.remove_stale_temporaries()
        return _train_and_write(prep, run, sha, resume=True, log=log)
    aside = run.set_aside() if overwrite else None  # put back if the new run fails: bad input never costs the old
    try:
        run.write_yaml(CONFIG, saved_config(prep.config))
        summary = _train_and_write(prep, run, sha, resume=False, log=log)
    except BaseException:
        if aside is not None:
            run.put_back(aside)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    return summary


def _train_and_write(prep: Any, run: RunFolder, sha: str, *, resume: bool,
                     log: Callable[[str], None]) -> dict[str, Any]:
    """Train the prepared run in ``run`` and write its labels, lists, issues, model, plots and summary."""
    if not (run.path / NOISY_LABELS).exists():
        run.write_npy(NOISY_LABELS, prep.noisy)
    skipped = prep.skipped
    if skipped:
        run.write_text(SKIPPED_IMAGES, "".join(p + "\n" for p in skipped))
        log(f"skipped {len(skipped)} unreadable image file(s); listed in {run.path / SKIPPED_IMAGES}")
    passed_over = prep.passed_over
    if passed_over:
        run.write_text(PASSED_OVER, "".join(p + "\n" for p in passed_over))
        log(f"passed over {len(passed_over)} entries of the data folder that are not images by name or are "
            f"earlier outputs of this tool (e.g. {shown(passed_over[0])}); listed in {run.path / PASSED_OVER}; "
            "give image files an image extension (.jpg, .png) to train on them")
    cfg = prep.config
    noise = describe_noise(cfg["noise"], cfg["noise_rate"], prep.report["noise_rate_actual"], cfg.get("labels"))
    unseen = prep.splits.unseen_classes
    if unseen:  # a --train-size smaller than the classes: the model cannot learn those
        log(f"note: the training set has no sample of {len(unseen)} class(es) ({', '.join(map(repr, unseen[:5]))}"
            f"{', ...' if len(unseen) > 5 else ''}); the model cannot learn them: a larger --train-size includes them")
    h, w, c = prep.splits.train.images.shape[1:]
    sized = " (decoded at this size; --image-size N to change)" if prep.splits.train.paths else ""
    log(f"{cfg['method']} on {prep.splits.name}: {len(prep.splits.train)} train / {len(prep.splits.test)} test "
        f"({prep.splits.test_kind}), {h}x{w}x{c} images{sized}, noise {noise}, {cfg['backbone']} on {cfg['device']}")
    result = train(prep.method, prep.data, prep.fit_config, run, resume=resume, pretrained=bool(cfg["pretrained"]),
                   log=log)
    summary = build_summary(prep, result, sha)
    summary.update(result.get("extra", {}))
    if prep.method.has_classifier:
        with precision_scope(prep.fit_config.effective_precision):  # the final predictions in the precision it trained in
            summary.update(write_issues(prep, run, result["test_accuracy"]))
    if ddp.is_main():  # the other ranks write nothing: they need not draw or serialise either
        if prep.method.has_classifier:
            _export(prep, run, log)
        plot_curves(result["history"], run.path / "plots" / "curves.png", _title(summary))
        run.write_json(SUMMARY, summary)
    return summary


def _export(prep: Any, run: RunFolder, log: Callable[[str], None]) -> None:
    """Write the run's classifier as model.pt2 (:func:`~noisylabels.export.export_model`); a model that
    ``torch.export`` cannot capture is a note, not a failed run (predict then says the file is missing)."""
    train_set = prep.splits.train
    try:
        data = export_model(prep.method, prep.data.views, tuple(train_set.images.shape[1:]),
                            list(train_set.class_names), saved_config(prep.config))
    except Exception as e:  # noqa: BLE001 - a tracing limitation of one model must not lose the finished run
        log(f"note: the trained model could not be exported for predict ({type(e).__name__}: {str(e)[:120]})")
        return
    run.write_bytes(MODEL, data)


def _finished_epochs(run: RunFolder) -> int:
    """Epochs a single-phase run's metrics log records as finished (0 without one, and for a multi-phase
    run, whose phases count their own epochs)."""
    if any(run.path.glob("phase-*")):
        return 0
    try:
        return max((int(r.get("epoch", 0)) for r in run.read_metrics()), default=0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def read_saved_config(run: RunFolder) -> dict[str, Any]:
    """A run folder's config.yaml as a mapping; UserError when it is damaged."""
    try:
        saved = run.read_yaml(CONFIG)
    except UserError:
        saved = None
    if not isinstance(saved, dict):
        raise UserError(f"--resume: {run.path / CONFIG} is damaged (not a mapping of options); "
                        "start again with --overwrite")
    return saved


def _check_resume_matches(run: RunFolder, saved: dict[str, Any], given: dict[str, Any]) -> None:
    """--resume continues the saved run: an option given now that the run was started with otherwise
    (another --method, --noise, ...) is refused rather than silently ignored (--epochs may change)."""
    diffs = [f"{_flag(k)} {saved[k]!r} -> {v!r}" for k, v in given.items()
             if k not in ("epochs", "progress", "method_options") and k in saved and saved[k] != v]
    saved_opts = saved.get("method_options") or {}
    diffs += [f"{_flag(k)} {saved_opts[k]!r} -> {v!r}" if k in saved_opts else f"{_flag(k)} (not an option of "
              f"its method {saved.get('method')!r})" for k, v in (given.get("method_options") or {}).items()
              if saved_opts.get(k, object()) != v]
    if diffs:
        raise UserError(f"--resume: the run in {run.path} was started with other settings ({'; '.join(diffs)}); "
                        "drop them to continue it, or start a new run with --overwrite or another --out")


def _title(s: dict[str, Any]) -> str:
    return f"{s['method']} | {s['dataset']} | {describe_noise(s['noise'], s['noise_rate'], s['noise_rate_actual'], s.get('labels'))}"
