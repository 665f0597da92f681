"""``--recipe paper`` for tcl and tcl-plus: every switchable setting resolves to the official code's and
configs' value for the dataset; options the user gives win; the default recipe is unchanged; the run's
summary names the recipe."""

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from noisylabels.config import RunConfig
from noisylabels.engine import make_optimizer
from noisylabels.methods.tcl import TCL, TCLOptions
from noisylabels.methods.tcl_plus import TCLPlus
from noisylabels.models.backbones import build_backbone
from tests.helpers import QUIET, cli, digits_config, user_error

# The official values (github.com/Hzzone/TCL), each with the file it comes from.
_CIFAR10 = {
    # models/tcl/configs/cifar10_20_prer18.yml and cifar10_90_prer18.yml (identical but for label_file)
    "batch_size": 256 * 4,  # batch_size 256 per GPU x num_devices 4 (our --batch-size is the global batch)
    "lr": 0.03 * (256 * 4) / 256,  # learning_rate 0.03 x total batch / 256 (models/basic_template.py __init__)
    "weight_decay": 0.001, "final_lr_ratio": 0.01,  # weight_decay, learning_eta_min
    "lr_warmup_epochs": 20, "epochs": 200,  # warmup_epochs, epochs
    "feature_dim": 256, "temperature": 0.25, "mixup_alpha": 1.0, "strong_crop_min": 0.2,  # feat_dim, temp, ..., resized_crop_scale
    "sync_bn": True,  # syncbn
    "scale1": "auto", "scale2": "auto",  # unset: the estimated clean ratio (models/tcl/tcl.py evaluate)
    "per_class_gmm": False,  # sep_gmm unset
    "momentum": 0.9,  # models/basic_template.py build_default_options
    "decay_all": True,  # models/tcl/tcl.py set_model: SGD(params=list(tcl.parameters()), weight_decay=...)
    "cosine_all_steps": True,  # models/basic_template.py cosine_annealing_LR: (epoch - warmup) pi / epochs
    "autocast": False,  # models/basic_template.py: amp off by default; tcl.py train() calls backward() in fp32
    "solarize": 0.5, "jitter": "torchvision",  # models/tcl/tcl.py train_transform: RandomSolarize p=0.5, ColorJitter
    "selection": "gmm",  # models/tcl/tcl.py noise_detect: GaussianMixture(2).fit, no prior
    "weight_weak": 0.0,  # models/tcl/tcl_wrapper.py forward_cls_loss: w_logits unused
    "dropout": 0.25,  # models/tcl/tcl_wrapper.py create_classifier
    "weight_contrastive": 1.0, "weight_cls": 1.0, "weight_align": 1.0, "weight_entropy": 1.0,
    "weight_marginal": 1.0,  # models/tcl/tcl.py build_options (*_loss_weight 1.0) and train()
}
OFFICIAL_TCL = {
    "cifar10": _CIFAR10,
    # models/tcl/configs/cifar100_90_prer18.yml: the same, and sep_gmm true, scale2 1.
    "cifar100": {**_CIFAR10, "per_class_gmm": True, "scale2": 1.0},
}
# models/tcl/tcl_plus.py with models/basic_template.py's defaults (the repository has no TCL+ config)
OFFICIAL_TCL_PLUS = {
    "batch_size": 256, "lr": 0.05 * 256 / 256,  # batch_size 256, learning_rate 0.05 x batch / 256
    "weight_decay": 1e-4, "momentum": 0.9,  # weight_decay, momentum defaults
    "final_lr_ratio": 1.0, "lr_warmup_epochs": 0.0,  # adjust_learning_rate overridden: lr constant
    "decay_all": True, "autocast": False,  # SGD(encoder.parameters(), weight_decay=...); amp off
    "start_label_correction": 30, "high_th": 0.5, "ema": 0.0, "mixup_alpha": 1.0,  # build_options defaults
}
# the default recipe's resolved settings, as they were before recipes existed (digits, width 8, batch 64)
TUNED_DIGITS = {"batch_size": 64, "lr": 0.05, "weight_decay": 1e-3, "final_lr_ratio": 0.01, "lr_warmup_epochs": 1,
                "momentum": 0.9, "decay_all": False, "cosine_all_steps": False, "autocast": True,
                "warmup_epochs": None, "feature_dim": None, "temperature": 0.25, "mixup_alpha": 1.0, "scale1": 1.0,
                "scale2": 1.0, "per_class_gmm": False, "dropout": 0.25, "weight_contrastive": 1.0, "weight_cls": 1.0,
                "weight_align": 1.0, "weight_entropy": 1.0, "weight_marginal": 1.0, "strong_crop_min": 0.35,
                "solarize": 0.0, "selection": "capped", "weight_weak": 1.0, "jitter": "fixed"}


class _Reached(Exception):
    """Raised instead of training: the arguments training got (method, data, FitConfig)."""


@pytest.fixture
def reach_fit(monkeypatch):
    """``go(*argv)``: the (method, data, FitConfig) that ``noisylabels ARGV`` would train with (nothing trains)."""
    import noisylabels.app.run as app_run

    def stop(method, data, cfg, run, **kwargs):
        raise _Reached(method, data, cfg)

    monkeypatch.setattr(app_run, "train", stop)

    def go(*argv):
        with pytest.raises(_Reached) as reached:
            cli(*argv)
        return reached.value.args

    return go


def _settings(rc: RunConfig, method: object, fit: object | None = None) -> dict:
    """Every resolved setting of a run: its training options, its FitConfig behaviours and method options."""
    fit_fields = dataclasses.asdict(fit) if fit is not None else {"epochs": rc.epochs, **method.fit_settings()}
    return {**rc.to_dict(), **fit_fields, **dataclasses.asdict(method.options)}


def _tcl(options: dict) -> TCL:
    return TCL(build_backbone("small-cnn", in_channels=3, image_size=8, width=4), 10, 32, TCLOptions(**options))


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_paper_resolves_every_setting_to_the_official_config_of_the_dataset(dataset):
    """The run's options as ``prepare`` resolves them (RunConfig, then the method's run options for the
    dataset, then the method's FitConfig behaviours), at the official 200 epochs."""
    rc = RunConfig.from_dict({"dataset": dataset, "method": "tcl", "epochs": 200, "method_options": {"recipe": "paper"}})
    method = _tcl(TCL.run_options(rc.method_options, dataset=dataset))
    got = _settings(rc, method)
    assert {k: got[k] for k in OFFICIAL_TCL[dataset]} == OFFICIAL_TCL[dataset]
    method.on_fit_start(200, None)  # type: ignore[arg-type]
    assert method.warmup == 19  # plain CE while cur_epoch < warmup_epochs (models/tcl/tcl.py train)


def test_paper_on_digits_switches_every_setting(reach_fit, tmp_path):
    """A digits run: CIFAR-10's values (the official code has no digits config), at the lr rule's 0.12 for
    the official global batch of 1,024; the optimiser decays every parameter."""
    method, data, fit = reach_fit("train", "--dataset", "digits", "--method", "tcl", "--recipe", "paper",
                                  "--epochs", "1", "--width", "8", "--quiet", "--out", tmp_path / "r")
    want = {**_CIFAR10, "epochs": 1, "lr_warmup_epochs": 0}  # round(1 / 10) warm-up epochs
    rc = RunConfig.from_dict({"dataset": "digits", "method": "tcl", "epochs": 1, "method_options": {"recipe": "paper"}})
    got = _settings(rc, method, fit)
    assert {k: got[k] for k in want} == want
    assert all(g["weight_decay"] == 1e-3 for g in make_optimizer(method, fit).param_groups)
    assert method.projector.net[3].out_features == 256


def test_options_given_win_over_the_paper_recipe(reach_fit, tmp_path):
    method, _, fit = reach_fit("train", "--dataset", "digits", "--method", "tcl", "--recipe", "paper", "--epochs", "2",
                               "--selection", "capped", "--scale1", "1", "--jitter", "fixed", "--feature-dim", "64",
                               "--batch-size", "64", "--lr", "0.01", "--warmup-epochs", "1", "--width", "8", "--quiet",
                               "--out", tmp_path / "r")
    o = method.options
    assert (o.selection, o.scale1, o.jitter, o.feature_dim, o.scale2, o.solarize) == ("capped", 1.0, "fixed", 64, "auto", 0.5)
    assert (fit.batch_size, fit.lr, fit.lr_warmup_epochs, fit.decay_all) == (64, 0.01, 1, True)


def test_paper_lr_follows_a_given_batch_and_epochs_default_to_200_where_the_given_options_are_known():
    opts = dataclasses.asdict(TCLOptions(recipe="paper"))
    assert TCL.fit_defaults(opts, 20, given={"batch_size": 64, "epochs": 20})["lr"] == pytest.approx(0.03 * 64 / 256)
    known = TCL.fit_defaults(opts, 20, given={})
    assert (known["epochs"], known["lr_warmup_epochs"], known["batch_size"], known["lr"]) == (200, 20, 1024, 0.12)
    assert "epochs" not in TCL.fit_defaults(opts, 20)  # the given options unknown: the run's epochs stand
    plus = dataclasses.asdict(TCLPlus.Options(recipe="paper"))
    assert TCLPlus.fit_defaults(plus, 5, given={"batch_size": 64})["lr"] == pytest.approx(0.05 * 64 / 256)


def test_tcl_plus_paper_takes_the_official_defaults():
    """Resolved as ``prepare`` does (a TCL+ method needs a finished tcl run; its fit settings read only its
    options)."""
    rc = RunConfig.from_dict({"dataset": "digits", "method": "tcl-plus", "epochs": 2,
                              "method_options": {"recipe": "paper"}})
    options = TCLPlus.run_options(rc.method_options, dataset="digits")
    behaviours = TCLPlus.fit_settings(SimpleNamespace(options=TCLPlus.Options(**options)))  # type: ignore[arg-type]
    got = {**rc.to_dict(), **options, **behaviours}
    assert {k: got[k] for k in OFFICIAL_TCL_PLUS} == OFFICIAL_TCL_PLUS
    assert TCLPlus.fit_settings(SimpleNamespace(options=TCLPlus.Options())) == {}  # type: ignore[arg-type]


def test_default_recipe_resolves_the_settings_it_always_had(reach_fit, tmp_path):
    method, _, fit = reach_fit("train", "--dataset", "digits", "--method", "tcl", "--epochs", "1", "--width", "8",
                               "--batch-size", "64", "--quiet", "--out", tmp_path / "r")
    got = _settings(RunConfig.from_dict({"dataset": "digits", "method": "tcl", "epochs": 1, "batch_size": 64}),
                    method, fit)
    assert {k: got[k] for k in TUNED_DIGITS} == TUNED_DIGITS and got["recipe"] == "tuned"
    method.on_fit_start(20, None)  # type: ignore[arg-type]
    assert method.warmup == 6  # ceil(0.3 x 20), every warm-up epoch plain CE


@pytest.mark.parametrize("method", ["tcl", "tcl-plus"])
def test_a_bad_recipe_is_one_line(tmp_path, method):
    user_error(["train", "--dataset", "digits", "--method", method, "--recipe", "papr", "--epochs", "1",
                "--out", tmp_path / "r"], "--recipe must be one of tuned, paper, got 'papr'")


def test_the_probe_trains_only_under_the_selections_that_use_it():
    """selection gmm (paper): no probe loss in the total or the logs, no gradient to the probe."""
    from tests.helpers import random_train_data
    from noisylabels.data.augment import ViewConfig

    data = random_train_data(64, side=8, channels=1, n_test=16,
                             views=ViewConfig(crop_pad=1, flip=False, mean=(0.5,), std=(0.3,)))
    torch.manual_seed(0)
    tcl = TCL(build_backbone("small-cnn", in_channels=1, image_size=8, width=4), 3, 64,
              TCLOptions(recipe="paper", warmup_epochs=1))
    loss, parts = tcl.training_step(torch.arange(16), 1, data, torch.Generator().manual_seed(1))
    loss.backward()
    assert "loss_probe" not in parts and all(p.grad is None for p in tcl.probe.parameters())
    total = sum(float(parts[k]) for k in ("loss_contrastive", "loss_cls", "loss_align", "loss_entropy", "loss_marginal"))
    assert float(parts["loss"]) == pytest.approx(total, rel=1e-5)


def _avx512() -> bool:
    """Whether this CPU has AVX-512 (the kernels the pinned losses below were measured with)."""
    try:
        return " avx512f " in f" {Path('/proc/cpuinfo').read_text()} ".replace("\n", " ")
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not _avx512(), reason="losses pinned on AVX-512 kernels; AVX2's float sums round otherwise and "
                                          "one epoch's GMM on them estimates another noise rate")
def test_default_recipe_first_epoch_loss_is_unchanged(tmp_path, one_thread):
    """A 1-epoch tcl run on digits (40% symmetric noise, batch 64, width 8, seed 0, one thread, fp32): the
    first epoch's losses as measured before recipes existed, and the summary names the recipe."""
    from noisylabels.app.run import run_train

    summary = run_train(digits_config(method="tcl", epochs=1, noise="symmetric", noise_rate=0.4, precision="fp32"),
                        tmp_path / "r", **QUIET)
    first = json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[0])
    before = {"loss": 17.536199396306817, "loss_cls": 9.1239970814098, "loss_contrastive": 4.06132715398615,
              "loss_probe": 2.3086688301780005, "noise_rate_estimated": 0.6263048052787781}
    assert {k: first[k] for k in before} == pytest.approx(before, rel=1e-5)
    assert summary["recipe"] == "tuned"


@pytest.mark.slow
def test_a_paper_run_on_digits_trains_and_its_summary_names_the_recipe(tmp_path):
    out = tmp_path / "r"
    rc, _, err = cli("train", "--dataset", "digits", "--method", "tcl", "--recipe", "paper", "--epochs", "1",
                     "--width", "8", "--quiet", "--out", out)
    assert rc == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["recipe"] == "paper" and 0.0 <= summary["test_accuracy"] <= 1.0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all("loss_probe" not in r for r in rows) and all(r["loss"] == r["loss"] for r in rows)


def test_a_paper_step_reads_nothing_back_from_the_device(monkeypatch):
    """The paper recipe's step (torchvision jitter, scales 'auto', no probe) after warm-up: no host read and
    no tensor made from Python data (each a stall on CUDA), as the tuned step."""
    from tests.test_precision import _HostReads, _data

    data = _data()
    torch.manual_seed(0)
    tcl = TCL(build_backbone("small-cnn", in_channels=3, image_size=16, width=4), 3, len(data.labels),
              TCLOptions(recipe="paper", warmup_epochs=1))
    tcl.on_fit_start(8, data)
    tcl.epoch_start(4, 8, data, torch.Generator().manual_seed(0))
    idx = torch.arange(16)
    tcl.training_step(idx, 4, data, torch.Generator().manual_seed(1))  # the first call fills caches
    reads = _HostReads(monkeypatch)
    reads.active = True
    loss, _ = tcl.training_step(idx, 4, data, torch.Generator().manual_seed(2))
    loss.backward()
    reads.active = False
    assert reads.calls == []


def test_the_paper_recipe_through_the_run_configuration_given_values_winning():
    from noisylabels.config import RunConfig

    paper = {"dataset": "digits", "method": "tcl", "method_options": {"recipe": "paper"}}
    r = RunConfig.from_dict(paper)
    assert (r.epochs, r.batch_size, r.lr) == (200, 1024, pytest.approx(0.12))
    r = RunConfig.from_dict({**paper, "epochs": 3, "batch_size": 64})
    assert (r.epochs, r.batch_size, r.lr) == (3, 64, pytest.approx(0.03 * 64 / 256))
    assert RunConfig.from_dict({**paper, "batch_size": 64, "lr": 0.5}).lr == 0.5
