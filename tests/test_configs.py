"""The shipped YAML configs: the paper's TCL settings at the official global batch
for one large GPU, and the small-GPU variant at the same lr per sample; the cifar-paper protocols use
the large one."""

import pytest

from noisylabels.bench import PROTOCOLS
from noisylabels.cli import _read_yaml_config
from tests.helpers import ROOT

CONFIGS = ROOT / "configs"


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_one_gpu_config_is_the_official_global_batch_and_small_gpu_keeps_lr_per_sample(name):
    big = _read_yaml_config(str(CONFIGS / f"tcl_{name}_sym90.yaml"))
    small = _read_yaml_config(str(CONFIGS / f"tcl_{name}_sym90_small_gpu.yaml"))
    assert (big["batch_size"], big["lr"]) == (1024, 0.12)  # 4 GPUs x 256, lr 0.03 x 1024 / 256
    assert (small["batch_size"], small["lr"]) == (256, 0.03)
    assert big["lr"] / big["batch_size"] == pytest.approx(small["lr"] / small["batch_size"])
    rest = {k: v for k, v in big.items() if k not in ("batch_size", "lr")}
    assert rest == {k: v for k, v in small.items() if k not in ("batch_size", "lr")}
    protocol = PROTOCOLS["cifar-paper" if name == "cifar10" else "cifar100-paper"].method_train["tcl"]
    assert (protocol["batch_size"], protocol["lr"]) == (big["batch_size"], big["lr"])
    for key, value in protocol["method_options"].items():
        assert big["method_options"][key] == value, key


@pytest.mark.parametrize("name", ["cifar10", "cifar10_sym90_small_gpu", "cifar100", "cifar100_sym90_small_gpu"])
def test_paper_configs_set_every_option_the_paper_recipe_decides(name):
    from noisylabels.methods.tcl_recipe import PAPER_OPTIONS, TUNED_OPTIONS

    file = CONFIGS / (f"tcl_{name}.yaml" if name.endswith("gpu") else f"tcl_{name}_sym90.yaml")
    cfg = _read_yaml_config(str(file))
    paper = PAPER_OPTIONS[cfg["dataset"]]
    assert {k: cfg["method_options"].get(k) for k in paper} == paper
    protocol_name = {"cifar10": "cifar-paper", "cifar100": "cifar100-paper"}[cfg["dataset"]]
    protocol = PROTOCOLS[protocol_name].method_train["tcl"]["method_options"]
    assert {k: protocol.get(k, TUNED_OPTIONS.get(k)) for k in paper} == paper  # unset: the tuned value
