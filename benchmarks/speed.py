"""Training speed: images/s of every method's step, and TCL against an official-style pipeline, in fp32 and
in bf16 autocast (where the device has bf16 units: CUDA, or a CPU with AVX512-BF16 or AMX).

Part 1 times each single-phase method's training step (views, forward, backward, optimiser) on
Fashion-MNIST images on the training device, as ``engine.fit`` runs it. Part 2 drives the same TCL
network, losses and batch with the views the official code makes: torchvision PIL transforms in
DataLoader worker processes (weak: pad-crop + flip; strong: RandomResizedCrop + flip + ColorJitter
(0.4, 0.4, 0.4, 0.1) p 0.8 + grayscale p 0.2 + solarize p 0.5), in fp32 with the network in PyTorch's
default NCHW layout as the official code trains (and, for comparison, in our channels_last), and prints
our images/s over theirs: the median and range of ``--repeats`` interleaved rounds, and each round's
ratio. Part 3 times the two view pipelines alone, without the network: where the network's forward and
backward bound both pipelines (a CPU), part 2's ratio cannot show what the data path saves; part 3 does.
Samples per second: one sample = its 6 TCL views (part 3: its 3 augmented views, before mixup).

torchvision is not a dependency of the package: run part 2 in a separate environment that has it
(its wheels need the CUDA build of torch, about 5 GB; it runs on the CPU), with the package on the
path:

    PYTHONPATH=src python benchmarks/speed.py                        # both parts; part 2 needs torchvision
    python benchmarks/speed.py --parts methods --steps 30            # part 1 only
    PYTHONPATH=src python benchmarks/speed.py --parts official --compile   # and our step compiled
"""

from __future__ import annotations

import argparse
import platform
from typing import Any, Callable

import numpy as np
import torch

import noisylabels.methods.tcl as tcl_module
from noisylabels.engine import compile_modules, make_optimizer
from noisylabels.app.build import prepare
from noisylabels.precision import cpu_has_bf16, precision_scope
from steptimer import time_calls, time_training_steps  # benchmarks/, the script's folder

METHODS = ("ce", "gce", "sce", "nce-rce", "nfl-rce", "elr", "mixup-bootstrap", "simclr", "tcl")


def _prepared(method: str, args: argparse.Namespace) -> Any:
    cfg = {"dataset": "fashion-mnist", "train_size": args.train_size, "noise": "symmetric", "noise_rate": 0.4,
           "method": method, "epochs": 2, "batch_size": args.batch_size, "device": args.device, "seed": 0,
           "progress": False}
    if args.data_dir:
        cfg["data_dir"] = args.data_dir
    if args.backbone:
        cfg["backbone"] = args.backbone
    return prepare(cfg)


def _time_steps(p: Any, steps: int, next_batch: Callable[[int], None] | None = None,
                memory_format: torch.memory_format = torch.channels_last) -> float:
    """Samples/s of ``steps`` training steps after 3 warm-up steps (epoch 2: TCL past a 1-epoch warm-up),
    with the run's optimiser; ``next_batch(i)`` runs before step i inside the timing. The network's weights
    in ``memory_format``: channels_last as engine.fit, torch.contiguous_format as PyTorch's default."""
    method, data = p.method, p.data
    method.to(memory_format=memory_format)
    method.train()
    if hasattr(method, "warmup"):
        method.warmup = 1
    gen = torch.Generator(device=data.device).manual_seed(0)
    n, b = len(data.images), p.fit_config.batch_size
    perm = torch.randperm(n, generator=gen, device=data.device)

    def batch(i: int) -> torch.Tensor:
        if next_batch is not None:
            next_batch(i)
        return perm[(i * b) % (n - b + 1):][:b]

    _, seconds = time_training_steps(method, data, make_optimizer(method, p.fit_config), gen, batch, steps)
    return steps * b / seconds


def precisions(args: argparse.Namespace) -> list[str]:
    """The precisions to time: fp32, and bf16 where the device has bf16 units (``--precisions`` narrows)."""
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    here = ["fp32"] + (["bf16"] if cuda or cpu_has_bf16() else [])
    return [x for x in here if x in args.precisions.split(",")]


def _timed(method: str, args: argparse.Namespace, precision: str, **kw: Any) -> float:
    """:func:`_time_steps` of a fresh ``method`` with every step under ``precision`` (the run's autocast)."""
    with precision_scope(precision):
        return _time_steps(_prepared(method, args), args.steps, **kw)


def part_methods(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    modes = precisions(args)
    print("\n## Training step, samples/s (views, forward, backward, optimiser)\n\n| method | "
          + " | ".join(modes) + " |" + (" bf16 / fp32 |" if len(modes) == 2 else "") + "\n|---|"
          + "---|" * (len(modes) + (len(modes) == 2)), flush=True)
    out: dict[str, dict[str, float]] = {}
    for m in METHODS:
        out[m] = {x: _timed(m, args, x) for x in modes}
        ratio = f" {out[m]['bf16'] / out[m]['fp32']:.2f}x |" if len(modes) == 2 else ""
        print(f"| {m} | " + " | ".join(f"{out[m][x]:.0f}" for x in modes) + " |" + ratio, flush=True)
    return out


class _OfficialViews(torch.utils.data.Dataset):
    """The official TCL views of one sample from a PIL image: (weak, strong 1, strong 2) tensors."""

    def __init__(self, images: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...], pad: int) -> None:
        from torchvision import transforms as T  # the optional peer; see the module docstring

        self.images = images
        size = images.shape[1]
        norm = [T.ToTensor(), T.Normalize(mean, std)]
        self.weak = T.Compose([T.RandomCrop(size, padding=pad), T.RandomHorizontalFlip(), *norm])
        self.strong = T.Compose([T.RandomResizedCrop(size, scale=(0.2, 1.0)), T.RandomHorizontalFlip(),
                                 T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                                 T.RandomGrayscale(p=0.2), T.RandomSolarize(128, p=0.5), *norm])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from PIL import Image

        arr = self.images[i]
        img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
        return self.weak(img), self.strong(img), self.strong(img)


def _official_rate(args: argparse.Namespace, memory_format: torch.memory_format) -> float:
    """Samples/s of our TCL step fed by the official-style views (PIL transforms in DataLoader workers), fp32,
    the network's weights in ``memory_format``."""
    p = _prepared("tcl", args)
    data = p.data
    ds = _OfficialViews(data.images.cpu().numpy(), data.views.mean, data.views.std, data.views.crop_pad)
    loader = torch.utils.data.DataLoader(ds, batch_size=p.fit_config.batch_size, shuffle=True, drop_last=True,
                                         num_workers=args.workers, persistent_workers=args.workers > 0,
                                         pin_memory=data.device.type == "cuda")
    batches = iter(loader)
    views: list[torch.Tensor] = []

    def next_batch(_: int) -> None:
        nonlocal batches
        try:
            w, s1, s2 = next(batches)
        except StopIteration:
            batches = iter(loader)
            w, s1, s2 = next(batches)
        views[:] = [s2.to(data.device, non_blocking=True), s1.to(data.device, non_blocking=True),
                    w.to(data.device, non_blocking=True)]

    # the same TCL step, its views taken from the loader instead of made on the device
    saved = tcl_module.weak_view, tcl_module.strong_view
    tcl_module.weak_view = lambda *a, **k: views.pop()
    tcl_module.strong_view = lambda *a, **k: views.pop()
    try:
        with precision_scope("fp32"):  # as the official code trains
            return _time_steps(p, args.steps, next_batch=next_batch, memory_format=memory_format)
    finally:
        tcl_module.weak_view, tcl_module.strong_view = saved


def _spread(values: list[float]) -> str:
    """'median (min-max)' of samples/s figures, or the one figure."""
    if len(values) == 1:
        return f"{values[0]:.0f}"
    return f"{float(np.median(values)):.0f} ({min(values):.0f}-{max(values):.0f})"


# the official code trains in fp32 and sets no memory format (NCHW, PyTorch's default); the second row gives
# the same pipeline this package's channels_last, to show what the memory format alone is worth
OFFICIAL = "official-style (PIL views in DataLoader workers), fp32, NCHW"
OFFICIAL_CL = "official-style as above with channels_last (ours), fp32"


def part_official(args: argparse.Namespace) -> None:
    try:
        import torchvision  # noqa: F401
    except ImportError:
        print("\n## TCL against an official-style pipeline\n\nskipped: torchvision is not installed here "
              "(see the module docstring)", flush=True)
        return
    rows: dict[str, list[float]] = {}
    for _ in range(args.repeats):  # interleaved, so that a slow spell of the machine hits every pipeline
        for x in precisions(args):
            rows.setdefault(f"ours (views on the training device), {x}", []).append(_timed("tcl", args, x))
        if args.compile:  # --compile as `train --compile` runs it: the method's modules, views eager
            for x in precisions(args):
                pc = _prepared("tcl", args)
                compile_modules(pc.method)
                with precision_scope(x):
                    rows.setdefault(f"ours, --compile, {x}", []).append(_time_steps(pc, args.steps))
        rows.setdefault(OFFICIAL_CL, []).append(_official_rate(args, torch.channels_last))
        rows.setdefault(OFFICIAL, []).append(_official_rate(args, torch.contiguous_format))
    theirs = rows.pop(OFFICIAL)
    base = float(np.median(theirs))
    print(f"\n## TCL against an official-style pipeline ({args.workers} DataLoader workers, PIL transforms; "
          f"median (min-max) of {args.repeats} interleaved rounds)\n\n"
          "| pipeline | samples/s | median / official-style median | per round |\n|---|---|---|---|\n"
          + "".join(f"| {name} | {_spread(v)} | {float(np.median(v)) / base:.2f}x | "
                    + ", ".join(f"{a / b:.2f}x" for a, b in zip(v, theirs)) + " |\n" for name, v in rows.items())
          + f"| {OFFICIAL} | {_spread(theirs)} | 1.00x | |", flush=True)


def part_views(args: argparse.Namespace) -> None:
    """The two view pipelines alone, no network: TCL's three views (weak, strong, strong) of a batch,
    ours batched on the training device against the official-style DataLoader; samples/s of each."""
    try:
        import torchvision  # noqa: F401
    except ImportError:
        print("\n## View pipelines alone\n\nskipped: torchvision is not installed here", flush=True)
        return
    p = _prepared("tcl", args)
    data, o, b = p.data, p.method.options, p.fit_config.batch_size
    gen = torch.Generator(device=data.device).manual_seed(0)
    perm = torch.randperm(len(data.images), generator=gen, device=data.device)

    def ours(i: int) -> None:
        u8 = data.images[perm[(i * b) % (len(perm) - b + 1):][:b]]
        tcl_module.weak_view(u8, data.views, gen)
        for _ in range(2):
            tcl_module.strong_view(u8, data.views, gen, o.solarize, o.strong_crop_min)

    ds = _OfficialViews(data.images.cpu().numpy(), data.views.mean, data.views.std, data.views.crop_pad)
    loader = torch.utils.data.DataLoader(ds, batch_size=b, shuffle=True, drop_last=True, num_workers=args.workers,
                                         persistent_workers=args.workers > 0)
    batches = iter(loader)

    def theirs(_: int) -> None:
        nonlocal batches
        try:
            next(batches)
        except StopIteration:
            batches = iter(loader)
            next(batches)

    rates = [args.steps * b / time_calls(fn, data.device, args.steps)[1] for fn in (ours, theirs)]
    print(f"\n## View pipelines alone (TCL's weak + 2 strong views, no network; {args.workers} DataLoader "
          "workers for the official style)\n\n| pipeline | samples/s |\n|---|---|\n"
          f"| ours (batched on the training device) | {rates[0]:.0f} |\n| official-style | {rates[1]:.0f} |\n\n"
          f"ratio ours / official-style, views alone: {rates[0] / rates[1]:.2f}x", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--data-dir", help="Fashion-MNIST idx files (default: the Debian package's folder)")
    p.add_argument("--train-size", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--backbone", help="default: the run default (small-cnn on CPU, preact-resnet18 on CUDA)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the official-style pipeline")
    p.add_argument("--parts", default="methods,official,views")
    p.add_argument("--precisions", default="fp32,bf16", help="which of fp32,bf16 to time (bf16 only where supported)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds of part 2 (median and range)")
    p.add_argument("--compile", action="store_true", help="also time our TCL step compiled (part 2), as train --compile")
    args = p.parse_args()
    print(f"# speed: torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads, "
          f"device {args.device}, batch {args.batch_size}, {args.steps} timed steps", flush=True)
    for part in args.parts.split(","):
        {"methods": part_methods, "official": part_official, "views": part_views}[part](args)


if __name__ == "__main__":
    main()
