"""RunConfig (issue 20): built once from the merged options, frozen, typed; to_dict() is config.yaml's mapping."""

from __future__ import annotations

import dataclasses

import pytest

from noisylabels.config import TRAIN_DEFAULTS, RunConfig, check_config, resolve_method_options
from noisylabels.errors import UserError
from noisylabels.methods import get_method


def legacy_dict(config: dict) -> dict:
    """The merge that prepare() did on a plain dict before RunConfig."""
    method_cls = get_method(config.get("method", "ce"))
    options = resolve_method_options(method_cls, dict(config.get("method_options") or {}))
    cfg = {**TRAIN_DEFAULTS, **method_cls.fit_defaults(options, int(config.get("epochs", 20))), **config,
           "method_options": options}
    check_config(cfg)
    return cfg


def test_fields_follow_train_defaults():
    names = [f.name for f in dataclasses.fields(RunConfig) if f.name != "extra"]
    assert names == list(TRAIN_DEFAULTS)
    assert RunConfig().to_dict() == {**TRAIN_DEFAULTS, "method_options": {}}


@pytest.mark.parametrize("config", [
    {},
    {"method": "tcl", "epochs": "3", "noise": "symmetric", "noise_rate": "0.4", "progress": False},
    {"method": "gce", "method_options": {"q": 0.5}, "lr": 0.1, "seed": 7},
])
def test_from_dict_matches_the_old_merge_in_keys_order_and_types(config):
    rc = RunConfig.from_dict(config)
    old = legacy_dict(dict(config))
    assert list(rc.to_dict().items()) == list(old.items())
    assert isinstance(rc.epochs, int) and isinstance(rc.lr, float) and isinstance(rc.noise_rate, float)


def test_frozen_and_method_options_read_only():
    rc = RunConfig.from_dict({"method": "tcl"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        rc.epochs = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        rc.method_options["temperature"] = 1.0  # type: ignore[index]
    assert rc.replace(backbone="small-cnn").backbone == "small-cnn" and rc.backbone == "auto"
    assert type(rc.to_dict()["method_options"]) is dict  # plain YAML types


@pytest.mark.parametrize("config, flag", [
    ({"epochs": 0}, "--epochs"), ({"noise_rate": 2.0, "noise": "symmetric"}, "--noise-rate"),
    ({"lr": "abc"}, "--lr"), ({"method": "gce", "method_options": {"q": 0}}, "--q"), ({"flip": 3}, "--flip"),
])
def test_errors_name_the_flag(config, flag):
    with pytest.raises(UserError, match=flag):
        RunConfig.from_dict(config)


def test_prepare_takes_a_run_config_or_a_dict():
    from noisylabels.app.build import prepare

    config = {"dataset": "digits", "noise": "symmetric", "noise_rate": 0.4, "epochs": 1, "train_size": 200,
              "device": "cpu", "progress": False}
    a, b = prepare(config), prepare(RunConfig.from_dict(config))
    assert a.config == b.config and a.fit_config == b.fit_config and (a.noisy == b.noisy).all()
    assert a.run_config.backbone == "small-cnn" and a.run_config.device == "cpu"
    assert a.config == a.run_config.to_dict()


@pytest.mark.slow
def test_run_train_writes_the_same_config_yaml_from_a_run_config(tmp_path):
    from noisylabels.app.run import run_train

    config = {"dataset": "digits", "noise": "symmetric", "noise_rate": 0.4, "epochs": 1, "train_size": 200,
              "device": "cpu", "method": "ce", "progress": False}
    quiet = lambda s: None  # noqa: E731
    run_train(config, tmp_path / "dict", log=quiet)
    run_train(RunConfig.from_dict(config), tmp_path / "typed", log=quiet)
    for name in ("config.yaml", "noisy_labels.npy"):
        assert (tmp_path / "dict" / name).read_bytes() == (tmp_path / "typed" / name).read_bytes()
