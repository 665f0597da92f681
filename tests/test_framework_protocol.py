"""The framework's own bench protocol: CIFAR-10 symmetric-exclusive 0.2-0.8, CE,
ELR and NFL+RCE in the columns Base / Pre-trained / Fine-tuned (Ciortan et al. poster)."""

import json

import pytest

import noisylabels.app.run as app_run
from noisylabels.bench import PROTOCOLS, framework_table, parse_case, parse_method, run_grid
from noisylabels.errors import UserError


def test_framework_method_specs_pick_the_phases():
    assert parse_method("elr") == ("elr", {})
    assert parse_method("framework:elr") == ("framework", {"loss": "elr"})
    assert parse_method("framework:nfl-rce:pretrained") == ("framework", {"loss": "nfl-rce",
                                                                          "phases": "pretrain,classify"})
    with pytest.raises(UserError, match="only ':pretrained'"):
        parse_method("framework:elr:finetuned")


def test_framework_paper_protocol_is_symmetric_exclusive_with_three_columns_per_loss():
    proto = PROTOCOLS["framework-paper"]
    assert proto.dataset == "cifar10"
    assert [parse_case(c) for c in proto.cases] == [("symmetric-exclusive", r) for r in (0.2, 0.4, 0.6, 0.8)]
    specs = {(name, tuple(opts.items())) for name, opts in map(parse_method, proto.methods)}
    assert specs == {variant for loss in ("ce", "elr", "nfl-rce") for variant in (
        (loss, ()), ("framework", (("loss", loss),)), ("framework", (("loss", loss), ("phases", "pretrain,classify"))))}
    assert not set(proto.cases) & set(PROTOCOLS["cifar-paper"].cases)  # not TCL's cases


def test_framework_paper_grid_trains_each_column_as_its_variant_and_tabulates_them(tmp_path, monkeypatch):
    seen = []

    def fake_run_train(cfg, out, resume=False, overwrite=False, log=print):
        seen.append((out.name, out.parent.name, cfg))
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text("{}")
        loss = (cfg.get("method_options") or {}).get("loss", cfg["method"])
        acc = {"ce": 0.5, "elr": 0.6, "nfl-rce": 0.7}.get(loss, 0.0) + 0.1 * ("pretrained" in cfg) \
            + 0.05 * (cfg["method"] == "framework" and "finetune" in (cfg["method_options"].get("phases") or "finetune"))
        (out / "summary.json").write_text(json.dumps({
            "test_accuracy": acc, "best_test_accuracy": acc, "epochs": cfg["epochs"], "device": "cpu",
            "backbone": "preact-resnet18", "torch_version": "x", "num_train": 10, "noise_rate_actual": cfg.get("noise_rate", 0.0)}))

    monkeypatch.setattr(app_run, "run_train", fake_run_train)
    rows = run_grid("framework-paper", [], tmp_path / "b", cases=["symex40"], epochs=1, log=lambda s: None)
    cfgs = {parent: cfg for _, parent, cfg in seen if parent != "_pretrain"}
    assert set(cfgs) == {"ce", "elr", "nfl-rce", "framework-ce", "framework-elr", "framework-nfl-rce",
                         "framework-ce-pretrained", "framework-elr-pretrained", "framework-nfl-rce-pretrained"}
    assert all(c["noise"] == "symmetric-exclusive" and c["noise_rate"] == 0.4 for c in cfgs.values())
    assert "pretrained" not in cfgs["elr"] and cfgs["elr"]["method"] == "elr"
    assert cfgs["framework-elr-pretrained"]["method_options"] == {"loss": "elr", "phases": "pretrain,classify"}
    assert cfgs["framework-elr"]["pretrained"] == cfgs["framework-elr-pretrained"]["pretrained"]  # one SimCLR
    assert sum(1 for _, parent, _ in seen if parent == "_pretrain") == 1
    table = framework_table(rows)
    assert "| loss | case | Base | Pre-trained | Fine-tuned |" in table
    assert "| elr | symex40 | 60.0 | 70.0 | 75.0 |" in table
    md = (tmp_path / "b" / "results.md").read_text()
    assert "| nfl-rce | symex40 | 70.0 | 80.0 | 85.0 |" in md


def test_framework_table_needs_two_columns_of_a_loss():
    assert framework_table([{"method": "ce", "case": "sym20", "test_accuracy": 0.5}]) == []


def test_a_protocol_without_default_methods_asks_for_them(tmp_path):
    with pytest.raises(UserError, match="give --methods"):
        run_grid("digits-mini", [], tmp_path)
