"""The training loop shared by every method: schedule, precision, evaluation, checkpoint and resume.

:func:`train` drives every method: :func:`fit` (the loop) for a single-phase one, and for a multi-phase
one (``Method.phases``) each phase it yields, as its own :func:`fit` (:class:`PhaseRunner`). The engine
imports the methods, never the reverse (``FitConfig`` and the schedule are in ``schedule.py``, autocast in
``precision.py``, eval-mode inference in ``inference.py``).

Determinism: every epoch draws its batch order and augmentation parameters from a generator seeded
by (seed, epoch), and re-seeds torch's global RNG (dropout) the same way, so a run resumed from the
checkpoint of epoch k continues exactly as the uninterrupted run would (bit-identical on CPU).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor
from tqdm import tqdm

from . import distributed as ddp
from .data.store import prefetch
from .errors import UserError
from .methods.base import Method, TrainData
from .precision import autocast_for, precision_scope
from .runs import RunFolder
from .schedule import FitConfig, epoch_batch, epoch_indices, epoch_seed, epoch_size, lr_at

CHECKPOINT_FORMAT = 1


def compile_modules(method: Method[Any]) -> list[nn.Module]:
    """``--compile``: ``nn.Module.compile`` (in place: parameter names and checkpoints unchanged) on each
    of the method's top-level modules (encoder, heads); returns them for :func:`uncompile_modules`.
    Per-epoch hooks and evaluation run under :func:`eager`, so only the training steps are compiled;
    that needs ``torch.compiler.set_stance`` (torch >= 2.6), checked before anything is compiled."""
    if not hasattr(torch.compiler, "set_stance"):
        raise UserError(f"compiling needs torch >= 2.6 (torch.compiler.set_stance); this is torch {torch.__version__}: "
                        "upgrade torch or train without compile")
    modules = [m for m in method.children() if any(True for _ in m.parameters())]
    for m in modules:
        m.compile(backend=os.environ.get("NOISYLABELS_COMPILE_BACKEND", "inductor"))  # test hook: aot_eager
    return modules


def uncompile_modules(modules: list[nn.Module]) -> None:
    """Undo :func:`compile_modules` (label issues and exports after training run eagerly)."""
    for m in modules:
        m._compiled_call_impl = None  # what nn.Module.compile set; None is the eager call


def eager(compiled: bool) -> contextlib.AbstractContextManager:
    """Run compiled modules eagerly inside (E-step, evaluation: other batch sizes and no_grad graphs)."""
    return torch.compiler.set_stance("force_eager") if compiled else contextlib.nullcontext()


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@torch.no_grad()
def share_step_rows(method: Method[Any], idx: Tensor, global_idx: Tensor) -> None:
    """After a data-parallel step: every rank's rows of the method's per-sample step buffers."""
    for name in method.step_buffers:
        buf = getattr(method, name)
        buf[global_idx] = ddp.gather_equal(buf[idx])


def rng_state() -> dict[str, Any]:
    """The global RNG states (torch CPU and CUDA, numpy, random). Every epoch re-seeds from (seed, epoch),
    so resuming does not need them; they are saved so that code outside the engine resumes exactly too."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def restore_rng(saved: dict[str, Any] | None) -> None:
    """Restore :func:`rng_state` (checkpoints written before it existed hold none)."""
    if not saved:
        return
    torch.set_rng_state(saved["torch"].cpu())
    np.random.set_state(saved["numpy"])
    random.setstate(saved["python"])
    if saved.get("cuda") is not None and torch.cuda.is_available():
        # one state per GPU visible when saved (eight under torchrun); a resume may see fewer or more
        for device, state in enumerate(saved["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(state.cpu(), device)


def epoch_order(labels_cpu: Tensor, num_classes: int, device: torch.device, gen: torch.Generator, seed: int,
                cfg: FitConfig) -> Tensor:
    """One epoch's sample order (:func:`~noisylabels.schedule.epoch_indices`) on ``device``, drawn on the
    host and copied once: on the CPU from the epoch's generator ``gen`` (as always), elsewhere from a CPU
    generator seeded with the epoch's ``seed``, so that no step waits for the device to hand indices back.
    labels_cpu: int64 (N,) on the CPU."""
    order_gen = gen if device.type == "cpu" else torch.Generator().manual_seed(seed)
    perm = epoch_indices(labels_cpu, num_classes, order_gen, samples=cfg.epoch_samples, balanced=cfg.class_balanced)
    return perm.to(device, non_blocking=True)


def make_optimizer(method: Method[Any], cfg: FitConfig) -> torch.optim.Optimizer:
    """SGD over all trainable parameters; no weight decay on biases and norm layers unless ``cfg.decay_all``
    (the official TCL code decays every parameter)."""
    decay, no_decay = [], []
    for p in method.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": cfg.weight_decay if cfg.decay_all else 0.0}]
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


def train(
    method: Method[Any],
    data: TrainData,
    cfg: FitConfig,
    run: RunFolder | None = None,
    *,
    resume: bool = False,
    pretrained: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train any method: a single-phase one with :func:`fit`; a multi-phase one (``method.phases``)
    phase by phase, each with :func:`fit` into ``DIR/phase-<name>/`` (:class:`PhaseRunner`).

    Returns :func:`fit`'s totals; for a multi-phase method those of its last classifier phase, with
    the training time of all phases and ``extra`` (per-phase figures and the method's own)."""
    plan = method.phases(data, cfg, pretrained=pretrained, log=log)
    if plan is None:
        return fit(method, data, cfg, run, resume=resume, log=log)
    runner = PhaseRunner(run, resume, log)
    while True:
        try:
            phase = next(plan)
        except StopIteration as done:
            runner.extra.update(done.value or {})
            break
        runner.fit(phase.name, phase.method, phase.data, phase.cfg)
    return runner.totals(has_classifier=method.has_classifier)


class PhaseRunner:
    """Runs phases into DIR/phase-<name>/ (own checkpoint and metrics; a finished phase is reloaded,
    an interrupted one resumed, so ``--resume`` works at any moment of any phase) and keeps the
    combined metrics in DIR/metrics.jsonl."""

    def __init__(self, run: RunFolder | None, resume: bool, log: Callable[[str], None]) -> None:
        self.run, self.resume, self.log = run, resume, log
        self.history: list[dict[str, Any]] = []
        self.results: dict[str, dict[str, Any]] = {}
        self.extra: dict[str, Any] = {}

    def fit(self, name: str, method: Method[Any], data: TrainData, cfg: FitConfig) -> dict[str, Any]:
        """One phase: :func:`fit` into DIR/phase-``name``/; its epochs join the run's metrics."""
        sub = RunFolder(self.run.path / f"phase-{name}") if self.run is not None else None
        self.log(f"phase {name}: {method.name}, {cfg.epochs} epochs, lr {cfg.lr}")
        result = fit(method, data, cfg, sub, resume=self.resume, log=lambda s: self.log(f"  [{name}] {s}"))
        offset = len(self.history)
        self.history += [{**r, "phase": name, "phase_epoch": r["epoch"], "epoch": offset + r["epoch"]}
                         for r in result["history"]]
        if self.run is not None:
            self.run.write_metrics(self.history)
        self.results[name] = {**{k: v for k, v in result.items() if k != "history"}, "epochs": cfg.epochs,
                              "method": method.name, "has_classifier": method.has_classifier}
        return result

    def totals(self, *, has_classifier: bool) -> dict[str, Any]:
        """fit-style totals: accuracy of the last classifier phase (or the last phase's kNN)."""
        runs = [r for r in self.results.values() if r["has_classifier"] == has_classifier] or list(self.results.values())
        last = runs[-1]
        seconds = sum(r["train_seconds"] for r in self.results.values())
        images = sum(r["train_seconds"] * r["images_per_second"] for r in self.results.values())
        self.extra["phases"] = {k: {m: v[m] for m in ("method", "epochs", "test_accuracy", "best_test_accuracy",
                                                      "train_seconds", "images_per_second")}
                                for k, v in self.results.items()}
        return {"test_accuracy": last["test_accuracy"], "best_test_accuracy": last["best_test_accuracy"],
                "best_epoch": last["best_epoch"], **{k: v for k, v in last.items() if is_topk(k)},
                "train_seconds": seconds,
                "images_per_second": images / max(seconds, 1e-9), "history": self.history, "extra": self.extra}


def fit(
    method: Method[Any],
    data: TrainData,
    cfg: FitConfig,
    run: RunFolder | None = None,
    *,
    resume: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train ``method`` for ``cfg.epochs`` epochs, evaluating and checkpointing after each.

    Every epoch trains on :func:`~noisylabels.schedule.epoch_indices` (all samples, or ``cfg.epoch_samples``
    of them, class-balanced with ``cfg.class_balanced``), in full batches.

    Returns the run's totals: test_accuracy (last epoch), best_test_accuracy, best_epoch,
    train_seconds (steps and per-epoch hooks, evaluation excluded), images_per_second, history.
    """
    n = epoch_size(data.labels, data.num_classes, cfg.epoch_samples, cfg.class_balanced)
    ctx = ddp.current()
    if cfg.batch_size < 2 * ctx.world:
        raise UserError(f"--batch-size must be at least {2 * ctx.world} (batch norm needs two samples per process)")
    if n < 2 * ctx.world:
        raise UserError(f"an epoch of {n} sample(s) gives {ctx.world} process(es) fewer than two each (batch norm "
                        "needs two); raise --epoch-samples or use fewer processes (--nproc)")
    batch = epoch_batch(n, cfg.batch_size, ctx.world)  # equal shards, one per rank
    plain = min(cfg.batch_size, n)
    plain -= plain % ctx.world  # the batch without the small-epoch floor, for the note
    if batch < plain and ctx.is_main:
        log(f"note: batches of {batch} (not {cfg.batch_size}), so that an epoch of {n} samples holds "
            f"{n // batch} steps, not {n // plain}")
    steps_per_epoch = max(1, n // batch)
    warmup_steps = int(round(cfg.lr_warmup_epochs * steps_per_epoch))
    method.to(memory_format=torch.channels_last)  # measured: 1.5x faster training on 2 CPU cores too
    opt = make_optimizer(method, cfg)
    compiled = compile_modules(method) if cfg.compile else []
    try:
        with precision_scope(cfg.effective_precision):
            return _fit_epochs(method, data, cfg, run, opt, resume=resume, log=log, compiled=bool(compiled),
                               batch=batch, steps_per_epoch=steps_per_epoch, warmup_steps=warmup_steps)
    finally:
        uncompile_modules(compiled)


def _fit_epochs(
    method: Method[Any], data: TrainData, cfg: FitConfig, run: RunFolder | None, opt: torch.optim.Optimizer, *,
    resume: bool, log: Callable[[str], None], compiled: bool, batch: int, steps_per_epoch: int, warmup_steps: int,
) -> dict[str, Any]:
    """The epochs of :func:`fit` (resume, steps, hooks, evaluation, checkpoints)."""
    device = data.device
    ctx = ddp.current()
    total_steps = steps_per_epoch * cfg.epochs

    state = {"epoch": 0, "train_seconds": 0.0, "images_seen": 0, "best_test_accuracy": -1.0, "best_epoch": 0}
    history: list[dict] = []
    if resume and run is not None and run.has_checkpoint():
        # on the CPU: load_state_dict moves weights and optimiser state to the parameters' device, and the
        # RNG states must stay CPU ByteTensors (mapped to CUDA, torch.set_rng_state refuses them)
        ckpt = run.load_checkpoint(map_location="cpu")
        method.load_state_dict(ckpt["method"])
        opt.load_state_dict(ckpt["optimizer"])
        state.update({k: ckpt[k] for k in state})
        restore_rng(ckpt.get("rng"))
        history = list(ckpt["history"])  # the log of the epochs the checkpoint holds, no more, no less
        run.write_metrics(history)
        if ctx.is_main:
            log(f"resumed from epoch {state['epoch']} of {cfg.epochs}")

    ddp.broadcast_state(method)
    labels_cpu = data.labels.cpu()  # the epoch order is drawn on the host: no sync inside an epoch
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed batch shapes: pick the fastest convolutions once
    with eager(compiled):
        method.on_fit_start(cfg.epochs, data)
    wall_start, first_epoch = time.perf_counter(), state["epoch"] + 1
    for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
        gen = torch.Generator(device=device).manual_seed(epoch_seed(cfg.seed, epoch))
        # the global stream (dropout masks, ...): per rank, rank 0's as a single process's
        torch.manual_seed(epoch_seed(cfg.seed, epoch) + 1 + 7_777_777 * (ctx.rank if ctx.enabled else 0))
        method.train()
        t0 = time.perf_counter()
        record: dict[str, Any] = {"epoch": epoch}
        with eager(compiled):
            record.update(method.epoch_start(epoch, cfg.epochs, data, gen))
        perm = epoch_order(labels_cpu, data.num_classes, device, gen, epoch_seed(cfg.seed, epoch), cfg)
        # a store (streamed from disk) decodes this epoch's batches ahead; tensors need nothing
        prefetch(data.images, [ddp.shard(perm[s * batch:(s + 1) * batch]) for s in range(steps_per_epoch)])
        # augmentations: one stream per rank (ranks see different samples), the shared one alone
        step_gen = gen if not ctx.enabled else torch.Generator(device=device).manual_seed(
            epoch_seed(cfg.seed, epoch) + 7_777_777 * (ctx.rank + 1))
        sums: dict[str, torch.Tensor] = {}
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{cfg.epochs}", leave=False,
                   disable=not cfg.progress or not ctx.is_main, dynamic_ncols=True)
        for s in bar:
            step = (epoch - 1) * steps_per_epoch + s
            lr = lr_at(step, total_steps, warmup_steps, cfg.lr, cfg.final_lr_ratio, all_steps=cfg.cosine_all_steps)
            for group in opt.param_groups:
                group["lr"] = lr
            global_idx = perm[s * batch:(s + 1) * batch]
            idx = ddp.shard(global_idx)
            with autocast_for(device):
                loss, logs = method.training_step(idx, epoch, data, step_gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            ddp.average_gradients(method)
            opt.step()
            if ctx.enabled:
                share_step_rows(method, idx, global_idx)
            for k, v in logs.items():
                sums[k] = sums[k] + v.float() if k in sums else v.float()
        means = {k: float(v) / steps_per_epoch for k, v in ddp.all_mean(sums).items()}
        ddp.average_norm_statistics(method)
        with eager(compiled):
            record.update(method.epoch_end(epoch, cfg.epochs, data))
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        if not all(math.isfinite(v) for v in means.values()):
            bad = ", ".join(k for k, v in means.items() if not math.isfinite(v))
            kept = f"the checkpoint of epoch {epoch - 1} is kept" if epoch > 1 else "no epoch had finished"
            raise TrainingDiverged(
                f"training diverged at epoch {epoch} ({bad} is NaN/inf); {kept}; lower --lr or check the input images"
            )
        evaluated = epoch % max(1, cfg.eval_every) == 0 or epoch == cfg.epochs
        with eager(compiled):
            evaluation = method.evaluate(data) if evaluated else {}
        test_acc = evaluation.get("test_accuracy", -1.0)
        images = steps_per_epoch * batch
        state["train_seconds"] += seconds
        state["images_seen"] += images
        if test_acc > state["best_test_accuracy"]:
            state["best_test_accuracy"], state["best_epoch"] = test_acc, epoch
        state["epoch"] = epoch
        record.update(means)
        record.update(evaluation)
        record.update({"lr": lr, "epoch_seconds": seconds, "images_per_second": images / max(seconds, 1e-9)})
        history.append(record)
        if run is not None:
            run.save_checkpoint({"format": CHECKPOINT_FORMAT, "method": method.state_dict(),
                                 "optimizer": opt.state_dict(), "history": history, "rng": rng_state(), **state})
            run.write_metrics(history)
        if ctx.is_main:
            per_epoch = (time.perf_counter() - wall_start) / (epoch - first_epoch + 1)  # steps, hooks, evaluation
            log(_epoch_line(record, cfg.epochs) + (f", {format_duration(per_epoch * (cfg.epochs - epoch))} to go"
                                                   if epoch < cfg.epochs else ""))

    return {
        "test_accuracy": history[-1].get("test_accuracy", float("nan")) if history else float("nan"),
        "best_test_accuracy": state["best_test_accuracy"],
        "best_epoch": state["best_epoch"],
        **topk_totals(history),
        "train_seconds": state["train_seconds"],
        "images_per_second": state["images_seen"] / max(state["train_seconds"], 1e-9),
        "history": history,
    }


def is_topk(key: str) -> bool:
    """Whether ``key`` names a top-k accuracy that some evaluations log and others do not: top-5 on the
    test set (>= 5 classes), top-1 and top-5 on a further test set (``imagenet_top1_accuracy``, ...),
    and their ``best_`` totals."""
    return key.endswith(("_top1_accuracy", "_top5_accuracy"))


def topk_totals(history: list[dict[str, Any]]) -> dict[str, float]:
    """For every top-k figure the epochs logged (:func:`is_topk`), in the order first logged: its value at
    the last epoch (NaN when the last epoch did not log it) and ``best_<figure>``, the highest over the
    evaluated epochs. Empty when none logged one. From the history alone, so a resumed run gives the
    same totals."""
    out: dict[str, float] = {}
    for key in dict.fromkeys(k for r in history for k in r if is_topk(k)):
        out[key] = history[-1].get(key, float("nan"))
        out[f"best_{key}"] = max(r[key] for r in history if key in r)
    return out


def format_duration(seconds: float) -> str:
    """``seconds`` as '42s', '3m05s' or '2h07m'."""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _epoch_line(r: dict[str, Any], epochs: int) -> str:
    extra = "".join(
        f" {k}={r[k]:.3f}" for k in ("loss", "train_acc_given", "noise_rate_estimated", "detection_auroc") if k in r
    )
    acc = f" test_acc={r['test_accuracy']:.4f}" if "test_accuracy" in r else ""
    return (f"epoch {r['epoch']:>3}/{epochs}{acc}{extra} "
            f"{r['epoch_seconds']:.1f}s {r['images_per_second']:.0f} img/s")
