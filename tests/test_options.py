"""The training options' one declaration (noisylabels.options): every declared option has a flag with its
default in the help, a YAML key (read from --config, written to config.yaml), a check naming its flag and a
README row; and nothing else does."""

from __future__ import annotations

import argparse
import dataclasses
import math

import pytest
import yaml

import noisylabels.cli as cli_module
import noisylabels.config as config_module
from noisylabels.app.run import saved_config
from noisylabels.cli import _add_options, _read_yaml_config, build_parser
from noisylabels.config import TRAIN_DEFAULTS, RunConfig, check_option, validate_config
from noisylabels.errors import UserError
from noisylabels.options import GROUPS, OPTIONS_BY_NAME, TRAIN_OPTIONS, TrainOption, markdown_table
from noisylabels.schedule import FitConfig
from tests.helpers import ROOT

NAMES = [o.name for o in TRAIN_OPTIONS]
RUN_FLAGS = {"config", "resume", "overwrite", "quiet", "nproc", "out"}  # the run's own, not options of it


def _actions(command: str) -> dict[str, argparse.Action]:
    """The flags of a subcommand by dest (help and method options left out)."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices[command]
    return {a.dest: a for a in parser._actions if a.dest != "help" and not a.dest.startswith("opt_")}


def test_run_config_fields_are_the_declared_options_in_order_with_their_defaults():
    fields = [f for f in dataclasses.fields(RunConfig) if f.name not in ("method_options", "extra")]
    assert [f.name for f in fields] == NAMES
    assert {f.name: f.default for f in fields} == {o.name: o.default for o in TRAIN_OPTIONS}
    assert TRAIN_DEFAULTS == {**{o.name: o.default for o in TRAIN_OPTIONS}, "method_options": {}}


def test_fit_config_defaults_are_the_declared_ones():
    fit = FitConfig(epochs=1)
    for f in dataclasses.fields(FitConfig):
        if f.name in OPTIONS_BY_NAME and f.name != "epochs":
            assert getattr(fit, f.name) == OPTIONS_BY_NAME[f.name].default, f.name


def test_declarations_are_well_formed():
    assert len(set(NAMES)) == len(NAMES)
    for o in TRAIN_OPTIONS:
        assert o.type in (str, int, float, bool) and o.group in GROUPS and o.help, o.name
        assert "train" in o.commands and set(o.required) <= set(o.commands), o.name
        assert o.default is None or o.nullable or o.type is bool or isinstance(o.default, o.type), o.name


def test_every_declared_option_is_a_train_flag_with_its_default_and_every_train_flag_is_declared():
    actions = _actions("train")
    for o in TRAIN_OPTIONS:
        action = actions[o.name]
        assert action.option_strings == [o.flag] and action.default is None, o.name  # absent unless given
        assert ("(required" if "train" in o.required else f"(default: {o.shown_default()})") in action.help, o.name
    assert set(actions) - set(NAMES) == RUN_FLAGS


@pytest.mark.parametrize("method", [None, "tcl"])
def test_train_help_shows_every_default(capsys, method):
    """Every flag of `train --help`, with or without --method, states its default (or that it is required)."""
    sub = next(a for a in build_parser(method)._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub.choices["train"]._actions:
        if action.dest != "help" and action.help != argparse.SUPPRESS:
            assert "(default: " in action.help or "(required" in action.help, action.option_strings
    with pytest.raises(SystemExit):
        cli_module.main(["train", "--help"] + (["--method", method] if method else []))
    text = " ".join(capsys.readouterr().out.split())
    for group in GROUPS:
        assert f"{group}: {GROUPS[group]}" in text
    assert "--epochs E training epochs (default: 20)" in text and "--out DIR run folder (required)" in text


@pytest.mark.parametrize("command", ["noise", "detect"])
def test_the_shared_data_flags_are_the_declared_ones(command):
    actions = _actions(command)
    for o in TRAIN_OPTIONS:
        if command in o.commands:
            assert actions[o.name].option_strings == [o.flag], o.name


def test_every_declared_option_is_a_yaml_key_read_and_written(tmp_path):
    """A --config YAML of every option is read as given; config.yaml holds exactly the declared keys."""
    given = {**{o.name: o.default for o in TRAIN_OPTIONS if o.default is not None}, "epochs": 2}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(given))
    assert {k: v for k, v in _read_yaml_config(str(tmp_path / "c.yaml")).items() if k != "method_options"} == given
    saved = saved_config(RunConfig.from_dict(given).to_dict())
    assert list(saved) == [*NAMES, "method_options"]
    assert saved["epochs"] == 2


def _wrong_values(o: TrainOption) -> list:
    """Values the check of ``o`` must refuse: a wrong type, and each end of its range just outside."""
    bad: list = [[1]]
    if o.type in (int, float) and not o.choices:
        if o.low is not None:
            bad.append(o.low if o.low_open else o.low - 1)
        if o.high is not None and not math.isinf(o.high):
            bad.append(o.high if o.high_open else o.high + 1)
    if o.choices:
        bad.append("sometimes")
    return bad


@pytest.mark.parametrize("option", TRAIN_OPTIONS, ids=NAMES)
def test_every_declared_option_is_checked_by_its_flag(option):
    for value in _wrong_values(option):
        with pytest.raises(UserError, match="^" + option.flag + " "):
            validate_config({**TRAIN_DEFAULTS, option.name: value})
    assert check_option(option, option.default) == option.default


def test_readme_holds_the_option_table_exactly():
    readme = (ROOT / "README.md").read_text()
    table = markdown_table()
    assert table in readme, "regenerate README's table: python -c 'from noisylabels.options import markdown_table; " \
                            "print(markdown_table())'"
    rows = [line for line in readme.splitlines() if any(line.startswith(f"| {g} | `--") for g in GROUPS)]
    assert rows == table.splitlines()[2:]  # no other row of an option anywhere
    assert [r.split(" | ")[2] for r in rows] == [f"`{o.name}`" for g in GROUPS for o in TRAIN_OPTIONS if o.group == g]


def test_an_option_declared_once_is_a_flag_a_yaml_key_a_check_and_a_readme_row(monkeypatch, tmp_path):
    """A new declaration reaches the four places without another line (RunConfig then needs its field: the
    first test of this file names the missing one)."""
    new = TrainOption("label_smoothing", float, 0.0, "weight of the uniform target", "optimisation", low=0.0,
                      high=1.0, high_open=True, metavar="X")
    options = (*TRAIN_OPTIONS, new)
    monkeypatch.setattr(cli_module, "TRAIN_OPTIONS", options)
    monkeypatch.setattr(cli_module, "OPTIONS_BY_NAME", {o.name: o for o in options})
    monkeypatch.setattr(config_module, "TRAIN_OPTIONS", options)

    parser = argparse.ArgumentParser()
    _add_options(parser, "train")
    assert parser.parse_args(["--label-smoothing", "0.1"]).label_smoothing == 0.1
    assert "weight of the uniform target (default: 0)" in parser.format_help()
    assert parser.parse_args([]).label_smoothing is None

    (tmp_path / "c.yaml").write_text("label_smoothing: 0.2\n")
    assert _read_yaml_config(str(tmp_path / "c.yaml"))["label_smoothing"] == 0.2

    with pytest.raises(UserError, match=r"--label-smoothing must be a finite number in \[0, 1\), got 1.0"):
        validate_config({**TRAIN_DEFAULTS, "label_smoothing": 1})
    cfg = {**TRAIN_DEFAULTS, "label_smoothing": "0.1"}
    validate_config(cfg)
    assert cfg["label_smoothing"] == 0.1

    row = "| optimisation | `--label-smoothing` | `label_smoothing` | 0 | number in [0, 1) | weight of the uniform target |"
    assert row in markdown_table(options)
