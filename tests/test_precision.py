"""Mixed precision (bf16 autocast on CUDA and on CPUs with bf16 units): under autocast the views stay fp32
and the contrastive similarities are computed in fp32. Checked with CPU bf16 autocast, which casts the same ops."""

import pytest
import torch

from noisylabels import losses
from noisylabels.data.augment import ViewConfig, mixup, plain_view, strong_view, weak_view
from noisylabels.methods import TrainData
from noisylabels.methods.supcon import SupConOptions, WeightedSupCon
from noisylabels.methods.tcl import alignment_loss
from noisylabels.models.backbones import build_backbone
from tests.helpers import FAST, cli, random_train_data, tiny_method, unit_vectors

BF16 = {"device_type": "cpu", "dtype": torch.bfloat16}
CFG = ViewConfig(crop_pad=2, flip=True, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))


def _images(n: int = 16, side: int = 16, channels: int = 3) -> torch.Tensor:
    return torch.randint(0, 256, (n, side, side, channels), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("view", ["plain", "weak", "strong", "mixup"])
def test_views_stay_fp32_and_unchanged_under_bf16_autocast(view):
    x = _images()

    def make():
        g = torch.Generator().manual_seed(3)
        if view == "plain":
            return plain_view(x, CFG)
        if view == "weak":
            return weak_view(x, CFG, g)
        if view == "strong":
            return strong_view(x, CFG, g)
        return mixup(strong_view(x, CFG, g), g, 1.0)[0]

    ref = make()
    with torch.autocast(**BF16):
        got = make()
    assert got.dtype == torch.float32
    assert torch.equal(got, ref)


def test_contrastive_losses_are_fp32_under_bf16_autocast():
    z1, z2 = unit_vectors(24, 32, 0), unit_vectors(24, 32, 1)
    labels = torch.arange(24) % 3
    w = torch.rand(24, generator=torch.Generator().manual_seed(2))
    protos = unit_vectors(3, 32, 4)
    t = torch.softmax(torch.randn(24, 3, generator=torch.Generator().manual_seed(5)), 1)
    fns = {
        "info_nce": lambda: losses.info_nce(z1, z2, 0.07),
        "supcon_poster": lambda: losses.weighted_supcon(z1, z2, labels, w, 0.07, variant="poster"),
        "supcon_code": lambda: losses.weighted_supcon(z1, z2, labels, w, 0.07, variant="code"),
        "alignment": lambda: alignment_loss(z1, protos, t, 0.25),
    }
    for name, fn in fns.items():
        ref = fn()
        with torch.autocast(**BF16):
            got = fn()
        assert got.dtype == torch.float32, name
        assert float(got) == pytest.approx(float(ref), rel=1e-6, abs=1e-6), name
    with torch.autocast(**BF16):  # what bf16 similarities would have given: visibly off at t = 0.07
        z = torch.cat([z1, z2])
        bf = z @ z.t() / 0.07
    assert bf.dtype == torch.bfloat16
    assert (bf.float() - losses.similarities(z, z, 0.07)).abs().max() > 1e-3


def _data() -> TrainData:
    """32 random 16 x 16 RGB images of 3 classes (the first 8 are the test set)."""
    return random_train_data(32, side=16, channels=3, n_test=8, views=CFG)


def _method(name: str):
    """Method ``name`` (or the framework's phase b2, "supcon") on a width-8 small-cnn for ``_data``."""
    if name == "supcon":  # the framework's phase b2
        torch.manual_seed(0)
        m = WeightedSupCon(build_backbone("small-cnn", in_channels=3, image_size=16, width=8), 3, 32, SupConOptions())
        m.weights.fill_(0.7)
        return m
    return tiny_method(name, 32, channels=3, side=16, width=8)


@pytest.mark.parametrize("name", ["tcl", "simclr", "supcon"])
def test_a_step_under_bf16_autocast_feeds_fp32_views_and_matches_fp32(name):
    data = _data()
    method = _method(name)
    method.on_fit_start(4, data)
    method.epoch_start(2, 4, data, torch.Generator().manual_seed(0))
    inputs: list[torch.dtype] = []
    method.encoder.register_forward_pre_hook(lambda mod, args: inputs.append(args[0].dtype))
    idx = torch.arange(16)
    ref, _ = method.training_step(idx, 2, data, torch.Generator().manual_seed(1))
    with torch.autocast(**BF16):
        got, _ = method.training_step(idx, 2, data, torch.Generator().manual_seed(1))
    assert inputs and set(inputs) == {torch.float32}  # the views reach the network in fp32
    assert got.dtype == torch.float32 and torch.isfinite(got)
    assert float(got.detach()) == pytest.approx(float(ref.detach()), rel=0.03)  # only the network's own bf16 error remains


class _HostReads:
    """Counts the calls that read a tensor's value on the host or copy Python data to the device
    (each a device sync / blocking copy on CUDA) while active."""

    NAMES = ("item", "tolist", "__float__", "__int__", "__bool__", "new_tensor")

    def __init__(self, monkeypatch):
        self.calls: list[str] = []
        for name in self.NAMES:
            real = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._wrap(name, real))
        real_tensor = torch.tensor
        monkeypatch.setattr(torch, "tensor", self._wrap("torch.tensor", real_tensor))
        self.active = False

    def _wrap(self, name, real):
        def counted(*args, **kwargs):
            if self.active:
                self.calls.append(name)
            return real(*args, **kwargs)
        return counted


@pytest.mark.parametrize("name", ["tcl", "simclr", "supcon", "ce"])
def test_training_steps_read_nothing_back_from_the_device(monkeypatch, name):
    """No .item()/float()/bool()/tolist() and no tensor made from Python data inside a step (TCL after
    warm-up with scale 'auto', the other contrastive steps and CE): on CUDA each would stall the queue."""
    data = _data()
    method = _method(name)
    if name == "tcl":
        method.options.scale1 = method.options.scale2 = "auto"
    epoch = 4 if name == "tcl" else 2
    method.on_fit_start(8, data)
    method.epoch_start(epoch, 8, data, torch.Generator().manual_seed(0))
    idx = torch.arange(16)
    method.training_step(idx, epoch, data, torch.Generator().manual_seed(1))  # first call fills caches
    reads = _HostReads(monkeypatch)
    reads.active = True
    loss, logs = method.training_step(idx, epoch, data, torch.Generator().manual_seed(2))
    loss.backward()
    reads.active = False
    assert reads.calls == []


def test_precision_resolves_by_device_and_refuses_emulated_bf16(monkeypatch):
    import noisylabels.precision as prec
    from noisylabels.errors import UserError

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: True)
    assert [prec.resolve_precision(p, cpu) for p in ("auto", "fp32", "bf16")] == ["bf16", "fp32", "bf16"]
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: False)
    assert prec.resolve_precision("auto", cpu) == "fp32" and prec.resolve_precision("auto", cuda) == "bf16"
    with pytest.raises(UserError, match="no bf16 units"):
        prec.resolve_precision("bf16", cpu)
    with prec.precision_scope("bf16"):
        assert isinstance(prec.autocast_for(cpu), torch.autocast)
    with prec.precision_scope("fp32"):
        assert not isinstance(prec.autocast_for(cuda), torch.autocast)
    assert not isinstance(prec.autocast_for(cpu), torch.autocast)  # outside a fit: bf16 on CUDA only


def test_the_run_records_its_precision_and_a_given_one_wins_over_the_paper_recipe(tmp_path):
    import json

    import noisylabels.precision as prec
    from noisylabels.app.build import prepare

    assert cli("train", "--dataset", "digits", *FAST, "--epochs", "1", "--precision", "fp32", "--out",
               tmp_path / "r")[0] == 0
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["precision"] == "fp32"
    paper = {"dataset": "digits", "method": "tcl", "epochs": 1, "width": 8, "method_options": {"recipe": "paper"}}
    assert prepare(paper).fit_config.effective_precision == "fp32"  # the official code trains in fp32
    if prec.cpu_has_bf16():
        assert prepare({**paper, "precision": "bf16"}).fit_config.effective_precision == "bf16"
