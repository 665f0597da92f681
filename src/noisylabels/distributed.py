"""Data-parallel training across processes with ``torch.distributed`` (gloo on CPU, nccl on CUDA).

Launch: ``torchrun --nproc_per_node=K -m noisylabels train ...`` or ``noisylabels train --nproc K``.
Every rank holds the whole (in-memory or streamed) dataset and draws the same epoch permutation; each
global batch of B indices is cut into K contiguous shards of B/K, one per rank. After ``backward``
the gradients are averaged (what ``DistributedDataParallel`` does, written out so that methods keep
calling their sub-modules directly). Contrastive losses see the negatives of all ranks through
:func:`gather_with_grad`: every rank evaluates the loss of the whole global batch and the backward
pass sums the gradients of each rank's rows, so after averaging the gradient equals the
single-process one. Full passes over a dataset (E-step, predictions, evaluation) are split into
row ranges and gathered (:func:`gather_rows`). Rank 0 alone writes files (``runs.atomic_write_bytes``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn
from torch import Tensor

from .errors import UserError


@dataclass(frozen=True)
class Context:
    """This process's place in the job: rank in [0, world)."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_CONTEXT = Context()


def current() -> Context:
    return _CONTEXT


def is_main() -> bool:
    return _CONTEXT.is_main


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device_name: str) -> torch.device:
    """Join the process group torchrun describes (env://) and return this rank's device.

    nccl with one GPU per rank (LOCAL_RANK) when CUDA is used, else gloo on CPU.
    """
    global _CONTEXT
    world, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    use_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise UserError(f"rank {rank} needs GPU {local} but {torch.cuda.device_count()} are visible; "
                            "use --nproc at most the number of GPUs")
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
        threads = max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world)))
        torch.set_num_threads(threads)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    _CONTEXT = Context(rank=rank, world=world, device=str(device))
    return device


def adopt(rank: int, world: int) -> None:
    """Use an already initialised process group (tests that start their own processes)."""
    global _CONTEXT
    _CONTEXT = Context(rank=rank, world=world)


def shutdown(finished: bool = False) -> None:
    """Leave the process group. ``finished``: every rank got through its work, so they first meet at a
    barrier and tear down together (a rank that left early could otherwise close connections under a
    rank still writing); after a failure there is no barrier, the other ranks may be gone."""
    global _CONTEXT
    if finished and _CONTEXT.enabled and dist.is_initialized():
        dist.barrier()
    if dist.is_initialized():
        dist.destroy_process_group()
    _CONTEXT = Context()


def launch(argv: list[str], nproc: int) -> int:
    """``noisylabels train --nproc K``: start K ranks of ``python -m noisylabels ARGV`` on this machine
    (torchrun's environment: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), show rank 0's output and
    the error output of any other rank that crashed (prefixed with its rank; a one-line user error is
    every rank's alike, rank 0 shows it), stop every rank when one fails, and return the first non-zero
    exit code (else 0)."""
    import subprocess
    import sys
    import tempfile
    import time

    # The launcher hosts the rendezvous store, as torchrun's agent does: no rank owns it, so a rank that
    # finishes first cannot take it down under another rank still tearing its process group down.
    store = dist.TCPStore("127.0.0.1", 0, nproc, is_master=True, wait_for_workers=False)
    procs, errors = [], []
    for rank in range(nproc):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(nproc),
               "LOCAL_WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(store.port),
               "TORCHELASTIC_USE_AGENT_STORE": "True"}
        errors.append(None if rank == 0 else tempfile.TemporaryFile())
        quiet = {} if rank == 0 else {"stdout": subprocess.DEVNULL, "stderr": errors[-1]}
        procs.append(subprocess.Popen([sys.executable, "-m", "noisylabels", *argv], env=env, **quiet))
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed or all(c == 0 for c in codes):
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            p.wait()
        del store
        for rank, (p, err) in enumerate(zip(procs, errors)):
            if err is not None:
                err.seek(0)
                text = err.read().decode(errors="replace").strip()
                err.close()
                lines = text.splitlines()
                user_error = len(lines) == 1 and lines[0].startswith("noisylabels: error:")
                if p.returncode not in (0, None, -15) and lines and not user_error:
                    print("\n".join(f"rank {rank}: {line}" for line in lines[-20:]), file=sys.stderr)
    return failed[0] if failed else 0


def barrier() -> None:
    """Wait until every rank gets here (no-op alone): e.g. all ranks have checked a run folder before
    rank 0 changes it."""
    if _CONTEXT.enabled:
        dist.barrier()


def shard(idx: Tensor) -> Tensor:
    """This rank's contiguous share of a global batch of indices (B must be divisible by the world)."""
    c = _CONTEXT
    if not c.enabled:
        return idx
    b = len(idx) // c.world
    return idx[c.rank * b:(c.rank + 1) * b]


class _GatherWithGrad(torch.autograd.Function):
    """all_gather forward; backward sums every rank's gradient of the gathered tensor and returns
    this rank's rows (all_reduce based: gloo has no reduce_scatter)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        parts = [torch.empty_like(x) for _ in range(_CONTEXT.world)]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = len(x)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad)
        r = _CONTEXT.rank
        return grad[r * ctx.rows:(r + 1) * ctx.rows]


def gather_with_grad(x: Tensor) -> Tensor:
    """(B_local, ...) -> (B_local * world, ...) in rank order, differentiable; identity alone."""
    return _GatherWithGrad.apply(x) if _CONTEXT.enabled else x


@torch.no_grad()
def gather_equal(x: Tensor) -> Tensor:
    """Concatenate equally sized tensors of all ranks in rank order (no gradient)."""
    if not _CONTEXT.enabled:
        return x
    parts = [torch.empty_like(x) for _ in range(_CONTEXT.world)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def row_range(n: int) -> tuple[int, int]:
    """The rows [start, stop) of an n-row pass this rank computes (ceil(n / world) each, last shorter)."""
    c = _CONTEXT
    per = -(-n // c.world)
    return min(n, c.rank * per), min(n, (c.rank + 1) * per)


@torch.no_grad()
def gather_rows(part: Tensor, n: int) -> Tensor:
    """Every rank's :func:`row_range` result (rows, ...) -> the full (n, ...) tensor on every rank."""
    c = _CONTEXT
    if not c.enabled:
        return part
    per = -(-n // c.world)
    padded = torch.zeros((per, *part.shape[1:]), dtype=part.dtype, device=part.device)
    padded[:len(part)] = part
    return gather_equal(padded)[:n]


def average_gradients(module: nn.Module) -> None:
    """Mean of every parameter's gradient over the ranks, in one flat all_reduce."""
    c = _CONTEXT
    if not c.enabled:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= c.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


@torch.no_grad()
def average_norm_statistics(module: nn.Module) -> None:
    """Mean of the batch-norm running statistics over the ranks (each rank saw different batches)."""
    c = _CONTEXT
    if not c.enabled:
        return
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            for buf in (m.running_mean, m.running_var):
                dist.all_reduce(buf)
                buf /= c.world


@torch.no_grad()
def broadcast_state(module: nn.Module) -> None:
    """Rank 0's parameters and buffers to every rank (identical starting points)."""
    if not _CONTEXT.enabled:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


@torch.no_grad()
def all_mean(values: dict[str, Tensor]) -> dict[str, Tensor]:
    """Mean over the ranks of each scalar tensor."""
    if not _CONTEXT.enabled or not values:
        return values
    keys = sorted(values)
    flat = torch.stack([values[k].float().reshape(()) for k in keys])
    dist.all_reduce(flat)
    flat /= _CONTEXT.world
    return dict(zip(keys, flat.unbind()))


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """``--sync-bn``: batch statistics over the global batch (CUDA/nccl only in PyTorch)."""
    if device.type != "cuda":
        raise UserError("--sync-bn needs CUDA (PyTorch's SyncBatchNorm has no CPU kernel); on CPU the ranks' "
                        "running statistics are averaged after every epoch instead")
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)
