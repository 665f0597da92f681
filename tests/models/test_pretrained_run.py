"""A run started from --weights : the network's ImageNet normalisation and input size
by default, grey images as 3 channels, and --freeze-encoder (a linear probe) keeping the encoder as
loaded while the head trains. Tiny settings: resnet18 at width 4 on 32 px digits."""

import pytest
import torch

from noisylabels.data.augment import ViewConfig, plain_view
from noisylabels.models.backbones import IMAGENET_MEAN, IMAGENET_STD, INCEPTION_MEAN, build_backbone
from noisylabels.models.freeze import FrozenBatchNorm2d, freeze_encoder
from noisylabels.models.weights import pretrained_views
from noisylabels.engine import fit
from noisylabels.app.build import prepare
from noisylabels.runs import RunFolder, sub_state
from tests.helpers import QUIET, cli, digits_config, user_error

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def weights_file(tmp_path):
    """A resnet18 (width 4, 3 channels) state dict with random weights, as torch.save writes it."""
    torch.manual_seed(123)
    path = tmp_path / "resnet18-w4.pth"
    torch.save({"state_dict": build_backbone("resnet18", in_channels=3, image_size=32, width=4).state_dict()}, path)
    return path


def _config(weights, **overrides):
    return digits_config(backbone="resnet18", width=4, weights=str(weights), train_size=64, epochs=1, lr=0.1,
                         **overrides)


def test_weights_default_to_imagenet_statistics_and_input_size_with_grey_repeated(weights_file):
    prep = prepare(_config(weights_file))
    views = prep.data.views
    assert views.mean == IMAGENET_MEAN and views.std == IMAGENET_STD and views.size == 224
    assert prep.config["image_size"] == 224
    assert prep.method.model.encoder.conv1.in_channels == 3  # digits are 8 x 8 grey
    x = plain_view(prep.data.images[:4], views)
    assert x.shape == (4, 3, 224, 224)
    raw = x * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    assert torch.allclose(raw[:, 0], raw[:, 1], atol=1e-5) and torch.allclose(raw[:, 0], raw[:, 2], atol=1e-5)


def test_image_size_overrides_the_input_size_and_inception_uses_its_own_statistics():
    base = ViewConfig(crop_pad=1, flip=False, mean=(0.3,), std=(0.2,))
    assert pretrained_views(base, "resnet50", 64).size == 64
    irv2 = pretrained_views(base, "inception-resnet-v2", None)
    assert irv2.size == 299 and irv2.mean == INCEPTION_MEAN
    assert pretrained_views(base, "small-cnn", None) == base  # our own networks keep the data's statistics


def test_freeze_encoder_keeps_the_loaded_encoder_while_the_head_trains(weights_file):
    prep = prepare(_config(weights_file, image_size=32, freeze_encoder=True))
    head_before = prep.method.model.fc.weight.detach().clone()
    fit(prep.method, prep.data, prep.fit_config, None, **QUIET)  # one epoch (one step), in train mode
    encoder = prep.method.model.encoder.state_dict()
    loaded = torch.load(weights_file)["state_dict"]
    assert encoder.keys() == loaded.keys()
    assert all(torch.equal(encoder[k], loaded[k]) for k in loaded)  # weights and BN statistics alike
    assert not torch.equal(prep.method.model.fc.weight, head_before)


def test_freeze_encoder_replaces_batch_norm_but_keeps_the_state_dict_names():
    net = build_backbone("resnet18", in_channels=3, image_size=32, width=4)
    names = list(net.state_dict())
    freeze_encoder(net).train()
    assert list(net.state_dict()) == names
    assert isinstance(net.bn1, FrozenBatchNorm2d) and not any(p.requires_grad for p in net.parameters())
    before = net.bn1.running_mean.clone()
    net(torch.randn(2, 3, 32, 32) + 5)
    assert torch.equal(net.bn1.running_mean, before)


def test_weights_option_errors_are_one_line(tmp_path, weights_file):
    out = tmp_path / "run"
    user_error(["train", "--weights", tmp_path / "none.pth", "--backbone", "resnet18", "--out", out], "no such file")
    user_error(["train", "--weights", weights_file, "--pretrained", tmp_path, "--out", out], "not both")
    user_error(["train", "--freeze-encoder", "--out", out], "needs --weights")
    user_error(["train", "--dataset", "digits", "--weights", weights_file, "--backbone", "resnet34", "--width", "4",
                "--out", out],
               "does not fit --backbone resnet34: missing")
    assert not out.exists()


def test_frozen_batch_norm_matches_batch_norm_in_eval_and_escapes_sync_bn_conversion():
    bn = torch.nn.BatchNorm2d(3)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 2)
    frozen = FrozenBatchNorm2d(bn).train()
    x = torch.randn(2, 3, 4, 4)
    assert torch.allclose(frozen(x), bn.eval()(x), atol=1e-6)
    assert isinstance(torch.nn.SyncBatchNorm.convert_sync_batchnorm(torch.nn.Sequential(frozen))[0], FrozenBatchNorm2d)


@pytest.mark.slow
def test_cli_run_from_weights_with_a_frozen_encoder(weights_file, tmp_path):
    out = tmp_path / "run"
    rc, _, err = cli("train", "--dataset", "digits", "--train-size", "64", "--backbone", "resnet18", "--width", "4",
                     "--weights", weights_file, "--freeze-encoder", "--image-size", "32", "--epochs", "1",
                     "--batch-size", "64", "--quiet", "--out", out)
    assert rc == 0, err
    saved = RunFolder(out).read_yaml("config.yaml")
    assert saved["weights"] == str(weights_file) and saved["freeze_encoder"] is True and saved["image_size"] == 32
    encoder = sub_state(RunFolder(out).load_checkpoint()["method"], "model.encoder.")
    loaded = torch.load(weights_file)["state_dict"]
    assert all(torch.equal(encoder[k], loaded[k]) for k in loaded)


def test_a_run_started_from_a_weights_run_keeps_its_imagenet_input(tmp_path, weights_file):
    """--pretrained RUN: the encoder descends from --weights when RUN (or the run RUN started from) had them."""
    from noisylabels.app.build import started_from_weights

    for name, saved in (("a", {"weights": str(weights_file)}), ("b", {"pretrained": str(tmp_path / "a")}),
                        ("c", {"pretrained": str(tmp_path / "b")}), ("own", {"weights": None})):
        RunFolder(tmp_path / name).write_yaml("config.yaml", saved)
    assert started_from_weights(str(tmp_path / "a")) and started_from_weights(str(tmp_path / "c"))
    assert not started_from_weights(str(tmp_path / "own")) and not started_from_weights(None)
    assert not started_from_weights(str(tmp_path / "nothing-there"))
