"""The one-GPU check: a TCL throughput table, every method one epoch, kill -9 and resume.

Prints markdown sections as it goes; each part fails loudly and on its own, so a short device lease
still returns the parts that ran, and the exit status is 1 when anything failed (0 only when every
row passed). ``benchmarks/gpu_check.sh`` runs it under a time limit, the throughput table first.

    python benchmarks/gpu_check.py --device cuda --data-dir fmnist/ --out /tmp/gpu_check
    python benchmarks/gpu_check.py --device cpu --quick --out /tmp/gpu_check   # the CPU dry run

Parts:
  methods     ``noisylabels train`` one epoch per method (Fashion-MNIST from --data-dir, or, without
              it, synthetic CIFAR-shaped 32 x 32 x 3 arrays through ``npz:``), seconds and accuracy.
  resume      a 3-epoch run SIGKILLed after its first checkpoint, resumed, against an uninterrupted one:
              equal to the last bit on the CPU, within RESUME_TOLERANCE on CUDA (its kernels are not
              bitwise deterministic); anything else is a failure.
  paths       the training paths a first GPU run must see, one epoch each: ``--compile`` in training (CUDA
              only: on the CPU it needs minutes of compilation), a folder of PNG files streamed from disk
              (``--stream on``), and with two or more GPUs two processes over NCCL (``--nproc 2``) and a
              resume of that run with one GPU visible.
  throughput  TCL training steps (PreAct ResNet-18, 32 x 32 x 3, bf16 autocast on CUDA) at each batch,
              eager and compiled: images/s over the 6 views a sample (x_w, 3 mixed, x_1, x_2), the share
              of the bf16 peak at 3 x 1.11 GFLOP per image (forward + backward), and peak memory; on
              CUDA one more eager step under ``torch.cuda.set_sync_debug_mode("error")``: a host sync
              inside a training step is a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from noisylabels.data.augment import ViewConfig
from noisylabels.engine import compile_modules, make_optimizer, FitConfig
from noisylabels.methods import TrainData, get_method
from noisylabels.models.backbones import build_backbone
from steptimer import time_training_steps  # benchmarks/, the script's folder

FLOP_PER_IMAGE = 3 * 1.11e9  # PreAct ResNet-18 at 32 x 32: forward 1.11 GFLOP, backward about twice that
BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense tensor-core peaks, FLOP/s
METHODS = ("ce", "gce", "sce", "nce-rce", "nfl-rce", "elr", "mixup-bootstrap", "simclr", "tcl", "tcl-plus",
           "framework", "cleanlab-retrain")
EXTRA = {"framework": ["--pretrain-epochs", "1", "--finetune-epochs", "1"], "cleanlab-retrain": ["--folds", "2"]}
CLI = [sys.executable, "-m", "noisylabels"]
RESUME_TOLERANCE = {"cpu": 0.0, "cuda": 2e-2}  # max |diff| of test accuracy and loss, resumed vs uninterrupted
FAILURES: list[str] = []  # every failed row; main exits 1 when any


def failed(what: str) -> str:
    """Record a failure (for the exit status) and return its text for the report."""
    FAILURES.append(what)
    return f"FAILED {what}"


def synthetic_npz(path: Path, n: int, seed: int = 0) -> Path:
    """CIFAR-shaped uint8 images (n, 32, 32, 3) whose class sets a bright patch: learnable in one epoch."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = (rng.random((n, 32, 32, 3)) * 120).astype(np.uint8)
    for c in range(10):
        images[labels == c, (c // 5) * 16:(c // 5) * 16 + 8, (c % 5) * 6:(c % 5) * 6 + 6, :] += 120
    np.savez(path, images=images, labels=labels)
    return path


def dataset_args(args: argparse.Namespace, out: Path) -> list[str]:
    if args.data_dir:
        return ["--dataset", "fashion-mnist", "--data-dir", args.data_dir, "--train-size", str(args.train_size)]
    return ["--dataset", f"npz:{synthetic_npz(out / 'synthetic.npz', args.train_size)}"]


def part_methods(args: argparse.Namespace, out: Path) -> None:
    print("\n## Every method, one epoch\n\n| method | seconds | test acc | result |\n|---|---|---|---|", flush=True)
    data = dataset_args(args, out)
    for m in METHODS:
        if m == "cleanlab-retrain":
            try:
                import cleanlab  # noqa: F401
            except ImportError:
                print(f"| {m} | – | – | skipped: cleanlab not installed |", flush=True)
                continue
        run = out / "methods" / m
        argv = ["train", *data, "--noise", "symmetric", "--noise-rate", "0.4", "--method", m, "--epochs",
                "1" if m not in ("tcl", "tcl-plus") else "2", "--device", args.device, "--quiet", "--overwrite",
                "--out", str(run), *EXTRA.get(m, [])]
        if m == "tcl":
            argv += ["--warmup-epochs", "1"]  # one epoch of cross-supervision too
        if m == "tcl-plus":
            argv += ["--init-from", str(out / "methods" / "tcl")]
        if args.quick:
            argv += ["--batch-size", "32"]
        t0 = time.perf_counter()
        proc = subprocess.run(CLI + argv, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode == 0:
            s = json.loads((run / "summary.json").read_text())
            print(f"| {m} | {seconds:.0f} | {100 * s['test_accuracy']:.1f} | ok ({s['device']}) |", flush=True)
        else:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            print(f"| {m} | {seconds:.0f} | – | {failed(f'{m} rc={proc.returncode}')}: {tail[0][:200]} |", flush=True)


def part_resume(args: argparse.Namespace, out: Path) -> None:
    print("\n## kill -9 and resume\n", flush=True)
    argv = ["train", *dataset_args(args, out), "--noise", "symmetric", "--noise-rate", "0.4", "--method", "elr",
            "--epochs", "3", "--device", args.device, "--quiet"] + (["--batch-size", "32"] if args.quick else [])
    full, part = out / "resume-full", out / "resume-part"
    subprocess.run(CLI + argv + ["--overwrite", "--out", str(full)], check=True, capture_output=True)
    proc = subprocess.Popen(CLI + argv + ["--overwrite", "--out", str(part)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (part / "metrics.jsonl").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    killed = proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    res = subprocess.run(CLI + ["train", "--resume", "--quiet", "--out", str(part)], capture_output=True, text=True)
    if res.returncode != 0:
        print(f"{failed(f'resume rc={res.returncode}')}: {(res.stderr or '').strip().splitlines()[-1:]}", flush=True)
        return
    rows = {k: [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()] for k, d in
            (("full", full), ("part", part))}
    epochs = [r["epoch"] for r in rows["part"]]
    print(f"killed mid-run: {killed}; epochs after resume: {epochs}", flush=True)
    if epochs != [1, 2, 3]:
        print(failed(f"resume: epochs {epochs}, not [1, 2, 3]"), flush=True)
    tolerance = RESUME_TOLERANCE["cuda" if args.device.startswith("cuda") else "cpu"]
    for key in ("test_accuracy", "loss"):
        a, b = [r[key] for r in rows["full"]], [r[key] for r in rows["part"]]
        diff = float(np.max(np.abs(np.subtract(a, b)))) if len(a) == len(b) else float("inf")
        verdict = "ok" if diff <= tolerance else failed(f"resume: {key} differs by {diff:.2e} > {tolerance:g}")
        print(f"{key}: uninterrupted {np.round(a, 5).tolist()} resumed {np.round(b, 5).tolist()} "
              f"max |diff| {diff:.2e} (tolerance {tolerance:g}): {verdict}", flush=True)


def _cli_row(what: str, argv: list[str], env: dict[str, str] | None = None) -> bool:
    """Run ``noisylabels ARGV``; print one table row; record a failure. True when it passed."""
    t0 = time.perf_counter()
    proc = subprocess.run(CLI + argv, capture_output=True, text=True, env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - t0
    if proc.returncode == 0:
        print(f"| {what} | {seconds:.0f} | ok |", flush=True)
        return True
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
    print(f"| {what} | {seconds:.0f} | {failed(f'{what} rc={proc.returncode}')}: {tail[0][:200]} |", flush=True)
    return False


def png_folder(root: Path, n: int) -> str:
    """``n`` 32 x 32 RGB PNGs in 10 class folders under ``root``; returns the --dataset value."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        (root / f"c{i % 10}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"c{i % 10}" / f"{i}.png")
    return f"folder:{root}"


def part_paths(args: argparse.Namespace, out: Path) -> None:
    print("\n## Training paths, one epoch each\n\n| path | seconds | result |\n|---|---|---|", flush=True)
    base = ["--noise", "symmetric", "--noise-rate", "0.4", "--method", "ce", "--quiet", "--overwrite"] + (
        ["--batch-size", "32"] if args.quick else [])
    common = [*base, "--epochs", "1"]
    cuda = args.device.startswith("cuda")
    if cuda:
        _cli_row("--compile", ["train", *dataset_args(args, out), *common, "--device", args.device, "--compile",
                               "--out", str(out / "paths" / "compile")])
    folder = png_folder(out / "paths" / "pngs", 400 if args.quick else 4000)
    _cli_row("--stream on (PNG folder)", ["train", "--dataset", folder, "--stream", "on", *common, "--device",
                                          args.device, "--out", str(out / "paths" / "stream")])
    _cli_row("predict with the exported model (the streamed run, its PNGs)",
             ["predict", str(out / "paths" / "stream"), "--images", folder, "--overwrite", "--out",
              str(out / "paths" / "predictions.csv")])
    _cli_row("--precision fp32", ["train", *dataset_args(args, out), *common, "--device", args.device,
                                  "--precision", "fp32", "--out", str(out / "paths" / "fp32")])
    _cli_row("tcl --recipe paper, 3 epochs (official settings, fp32)",
             ["train", *dataset_args(args, out), *base, "--method", "tcl", "--recipe", "paper", "--epochs", "3",
              "--warmup-epochs", "1", "--batch-size", "32" if args.quick else "256", "--device", args.device,
              "--out", str(out / "paths" / "tcl-paper")])
    if cuda and torch.cuda.device_count() >= 2:
        run = out / "paths" / "nccl"
        two = {"CUDA_VISIBLE_DEVICES": "0,1"}
        if _cli_row("--nproc 2 (NCCL)", ["train", *dataset_args(args, out), *base, "--epochs", "2", "--device",
                                         "cuda", "--nproc", "2", "--out", str(run)], two):
            _cli_row("--resume on 1 GPU of a 2-GPU run", ["train", "--resume", "--epochs", "3", "--quiet",
                                                          "--out", str(run)], {"CUDA_VISIBLE_DEVICES": "0"})
    else:
        print("| --nproc 2 (NCCL), resume on fewer GPUs | – | skipped: fewer than 2 GPUs |", flush=True)


def _tcl_steps(device: torch.device, batch: int, compiled: bool, steps: int, image: int) -> dict[str, float]:
    torch.manual_seed(0)
    n = batch * 2
    gen = torch.Generator(device=device).manual_seed(0)
    images = torch.randint(0, 256, (n, image, image, 3), dtype=torch.uint8, generator=gen, device=device)
    labels = torch.randint(0, 10, (n,), generator=gen, device=device)
    data = TrainData(images=images, labels=labels, true_labels=None, test_images=images[:batch],
                     test_labels=labels[:batch], num_classes=10,
                     views=ViewConfig(crop_pad=4, flip=True, mean=(0.5,) * 3, std=(0.25,) * 3))
    cls = get_method("tcl")
    enc = build_backbone("preact-resnet18", in_channels=3, image_size=image)
    method = cls(enc, 10, n, cls.Options()).to(device).to(memory_format=torch.channels_last)
    method.train()
    opt = make_optimizer(method, FitConfig(epochs=1, batch_size=batch, lr=0.1))
    if compiled:
        compile_modules(method)
    method.warmup = 0  # cross-supervision on: the full step
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def indices(i: int) -> torch.Tensor:
        return torch.arange(i % 2 * batch, (i % 2 + 1) * batch, device=device)

    warm, seconds = time_training_steps(method, data, opt, gen, indices, steps)  # warm-up includes compilation
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    sync_free = "–"
    if device.type == "cuda" and not compiled:  # one more step: no host sync may happen inside it
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            time_training_steps(method, data, opt, gen, indices, 1)
            sync_free = "yes"
        except RuntimeError as e:
            sync_free = failed(f"host sync in a TCL step at batch {batch}: {str(e).splitlines()[0][:120]}")
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return {"img_s": 6 * batch * steps / seconds, "warm_s": warm, "peak_gib": peak, "sync_free": sync_free}


def part_throughput(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    peak = next((v for k, v in BF16_PEAK.items() if k in name), None)
    image = 32 if not args.quick else 16
    print(f"\n## TCL throughput, PreAct ResNet-18, {image} x {image} x 3, {name}\n\n"
          "| batch | mode | images/s (6 views) | share of bf16 peak | peak memory GiB | first 3 steps s | sync-free |\n"
          "|---|---|---|---|---|---|---|", flush=True)
    for batch in args.batches:
        for compiled in (False, True):
            try:
                r = _tcl_steps(device, batch, compiled, args.steps, image)
            except Exception as e:  # report and go on: the table is what the lease is for
                print(f"| {batch} | {'compiled' if compiled else 'eager'} | {failed(type(e).__name__)}: "
                      f"{str(e).splitlines()[0][:160]} | | | | |", flush=True)
                continue
            share = f"{r['img_s'] * FLOP_PER_IMAGE / peak:.1%}" if peak else "–"
            print(f"| {batch} | {'compiled' if compiled else 'eager'} | {r['img_s']:.0f} | {share} | "
                  f"{r['peak_gib']:.1f} | {r['warm_s']:.1f} | {r['sync_free']} |", flush=True)
            torch.cuda.empty_cache() if device.type == "cuda" else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--data-dir", help="Fashion-MNIST idx files (default: synthetic CIFAR-shaped arrays)")
    p.add_argument("--train-size", type=int, default=5000)
    p.add_argument("--batches", type=lambda s: [int(x) for x in s.split(",")], default=[256, 1024])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--parts", default="throughput,methods,resume,paths", help="comma list of methods, resume, "
                   "paths, throughput (default: the throughput table first, then the rest)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a CPU dry run of every part")
    p.add_argument("--out", default="/tmp/gpu_check")
    args = p.parse_args()
    if args.quick:
        args.train_size, args.batches, args.steps = min(args.train_size, 400), [8], 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"# gpu_check: torch {torch.__version__}, device {args.device}, "
          f"{'Fashion-MNIST' if args.data_dir else 'synthetic 32x32x3'} {args.train_size} images", flush=True)
    parts = {"methods": lambda: part_methods(args, out), "resume": lambda: part_resume(args, out),
             "paths": lambda: part_paths(args, out), "throughput": lambda: part_throughput(args)}
    for part in args.parts.split(","):
        t0 = time.perf_counter()
        try:
            if part not in parts:
                raise KeyError(f"no part {part!r}; parts: {', '.join(parts)}")
            parts[part]()
        except Exception as e:
            print(f"\n{failed(part)}: {type(e).__name__}: {e}", flush=True)
        print(f"\n({part}: {time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\n# gpu_check: {'FAILED: ' + '; '.join(FAILURES) if FAILURES else 'every part passed'}", flush=True)
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
