"""Key and numeric compatibility of our ImageNet backbones with torchvision's and timm's.

Needs torchvision and timm, which the package never depends on: run it once, in a separate venv
that has them, with this tree first on the path.

    PYTHONPATH=src /work/tvenv/bin/python benchmarks/dump_backbone_keys.py          # write the fixtures
    PYTHONPATH=src /work/tvenv/bin/python benchmarks/dump_backbone_keys.py --check  # numeric check

Default: write tests/fixtures/keys_<backbone>.json, the reference network's state-dict names and
shapes ``{"source": ..., "dropped": [...], "keys": {name: shape}}``, without its classifier
(torchvision ``fc.*``, timm ``classif.*``: our encoders have no head; ``--weights`` drops it). The
test tests/models/test_imagenet_backbones.py checks our encoders against these files without
torchvision or timm installed.

--check: build each reference network with random weights (BN statistics randomised too), load its
state dict into ours with ``strict=True`` (after dropping the head), run the same random input in
eval mode and print the largest absolute difference of the pooled features (must be <= 1e-5); then
``--backbone timm:NAME`` for a few timm models, loaded through ``--weights`` from timm's own state dict.

Recorded 2026-12-05 on the CPU (2 shared cores), torch 2.14.1 (CUDA build, run on the CPU),
torchvision 0.29.1, timm 1.0.31, float32, seed 0, batch 2 (mean |reference feature| beside, to show
the features are not trivially zero; the differences are exactly 0: the same operations in the same order):
    resnet18             224 px   (2, 512)    mean |ref| 4.83     max |ours - reference| = 0.00e+00
    resnet34             224 px   (2, 512)    mean |ref| 500      max |ours - reference| = 0.00e+00
    resnet50             224 px   (2, 2048)   mean |ref| 194      max |ours - reference| = 0.00e+00
    inception-resnet-v2  299 px   (2, 1536)   mean |ref| 0.0733   max |ours - reference| = 0.00e+00
    timm:resnet18         64 px   (2, 512)    via --weights       max |ours - timm| = 0.00e+00
    timm:convnext_atto    64 px   (2, 320)    via --weights       max |ours - timm| = 0.00e+00
    timm:efficientnet_b0  64 px   (2, 1280)   via --weights       max |ours - timm| = 0.00e+00
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn as nn

from noisylabels.models.backbones import build_backbone

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
HEADS = {"resnet18": "fc.", "resnet34": "fc.", "resnet50": "fc.", "inception-resnet-v2": "classif."}
TIMM_NAMES = ("resnet18", "convnext_atto", "efficientnet_b0")  # --backbone timm:NAME
SIZES = {"resnet18": 224, "resnet34": 224, "resnet50": 224, "inception-resnet-v2": 299}


def reference(name: str) -> tuple[nn.Module, str]:
    """The library's network with random weights, and a description of its source."""
    if name == "inception-resnet-v2":
        import timm

        return timm.create_model("inception_resnet_v2", pretrained=False), f"timm {timm.__version__} inception_resnet_v2"
    import torchvision

    return getattr(torchvision.models, name)(weights=None), f"torchvision {torchvision.__version__} models.{name}"


def encoder_state(model: nn.Module, name: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The reference state dict without its classifier head, and the names dropped."""
    sd = model.state_dict()
    dropped = [k for k in sd if k.startswith(HEADS[name])]
    return {k: v for k, v in sd.items() if k not in dropped}, dropped


def dump(name: str) -> None:
    model, source = reference(name)
    sd, dropped = encoder_state(model, name)
    out = {"source": source, "dropped": dropped, "keys": {k: list(v.shape) for k, v in sd.items()}}
    FIXTURES.mkdir(parents=True, exist_ok=True)
    path = FIXTURES / f"keys_{name.replace('-', '_')}.json"
    path.write_text(json.dumps(out, indent=0) + "\n")
    print(f"{path}: {len(sd)} keys ({path.stat().st_size / 1024:.0f} KB), dropped {dropped}")


def randomise_bn(model: nn.Module, gen: torch.Generator) -> None:
    """Random BN affine parameters and running statistics, so that eval mode tests them too."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = torch.rand(m.weight.shape, generator=gen) + 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=gen) * 0.1
            m.running_mean = torch.randn(m.running_mean.shape, generator=gen) * 0.1
            m.running_var = torch.rand(m.running_var.shape, generator=gen) + 0.5


def check(name: str) -> float:
    gen = torch.Generator().manual_seed(0)
    model, _ = reference(name)
    randomise_bn(model, gen)
    model.eval()
    ours = build_backbone(name, in_channels=3, image_size=SIZES[name]).eval()
    sd, _ = encoder_state(model, name)
    ours.load_state_dict(sd, strict=True)
    x = torch.randn(2, 3, SIZES[name], SIZES[name], generator=gen)
    with torch.no_grad():
        theirs = model.forward_head(model.forward_features(x), pre_logits=True) if hasattr(model, "forward_head") \
            else torch.flatten(model.avgpool(_torchvision_trunk(model, x)), 1)
        mine = ours(x)
    diff = (mine - theirs).abs().max().item()
    print(f"{name:20s} {SIZES[name]} px   features {tuple(mine.shape)}, mean |reference| {theirs.abs().mean():.3g}   "
          f"max |ours - reference| = {diff:.2e}")
    return diff


def check_timm(name: str) -> float:
    """``--backbone timm:NAME`` against timm itself: its state dict (classifier included) through our
    ``--weights`` loader, then the pooled features of the same input (64 px, batch 2)."""
    import tempfile

    import timm

    from noisylabels.models.weights import load_weights

    ref = timm.create_model(name, pretrained=False).eval()
    ours = build_backbone("timm:" + name, in_channels=3, image_size=64).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.pth"
        torch.save(ref.state_dict(), path)
        load_weights(ours, path, "timm:" + name)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (ours(x) - ref.forward_head(ref.forward_features(x), pre_logits=True)).abs().max().item()
    print(f"timm:{name:15s} 64 px   features (2, {ours.feature_dim}) via --weights   max |ours - timm| = {diff:.2e}")
    return diff


def _torchvision_trunk(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    return m.layer4(m.layer3(m.layer2(m.layer1(x))))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="numeric check instead of writing the fixtures")
    p.add_argument("names", nargs="*", default=list(HEADS))
    args = p.parse_args(argv)
    torch.manual_seed(0)
    if not args.check:
        for name in args.names:
            dump(name)
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32")
    worst = max(check(name) for name in args.names)
    worst = max(worst, *(check_timm(name) for name in TIMM_NAMES))
    return 0 if worst <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
