"""Multi-phase runs (the framework, cleanlab-retrain): each phase is one engine ``fit`` with its own
optimiser, schedule and checkpoint in ``DIR/phase-<name>/``; a finished phase is reloaded from its
checkpoint and an interrupted one resumed, so ``--resume`` works at any moment of any phase."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..runs import RunFolder
from .base import Method, TrainData

if TYPE_CHECKING:  # the engine imports the methods package: import it lazily at run time
    from ..engine import FitConfig


class PhaseRunner:
    """Runs phases into DIR/phase-<name>/ (own checkpoint and metrics; a finished phase is reloaded,
    an interrupted one resumed) and keeps the combined metrics in DIR/metrics.jsonl."""

    def __init__(self, run: RunFolder | None, resume: bool, log: Callable[[str], None]) -> None:
        self.run, self.resume, self.log = run, resume, log
        self.history: list[dict[str, Any]] = []
        self.results: dict[str, dict[str, Any]] = {}
        self.extra: dict[str, Any] = {}

    def fit(self, name: str, method: Method, data: TrainData, cfg: FitConfig) -> dict[str, Any]:
        from ..engine import fit

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
                "best_epoch": last["best_epoch"], "train_seconds": seconds,
                "images_per_second": images / max(seconds, 1e-9), "history": self.history, "extra": self.extra}
