"""Images decoded from files on demand, for datasets that do not fit in memory.

:class:`StreamingImages` stands in for the uint8 (N, H, W, C) image tensor of ``TrainData``: indexing it
with an index tensor or a slice returns that batch as a uint8 tensor on the training device, so every
method and the on-device views work unchanged. Before each epoch the engine announces the epoch's
batches (:meth:`StreamingImages.prefetch`); a ``torch.utils.data.DataLoader`` with decoding workers
(Pillow) then decodes them ahead of the steps, resized to one fixed size.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from ..errors import UserError
from ._images import decode_all, decode_file
from .store import ImageStore

DEFAULT_MEMORY_BUDGET = 4 * 2**30  # bytes of decoded training images above which --stream auto streams


def memory_budget() -> int:
    """Bytes of decoded images that ``--stream auto`` keeps in memory: ``DEFAULT_MEMORY_BUDGET`` on the
    CPU; with a CUDA device, half of the smaller of its free memory and the host's available memory (the
    images pass through the host on their way), and never less than the CPU's budget."""
    import torch

    if not torch.cuda.is_available():
        return DEFAULT_MEMORY_BUDGET
    free_device = int(torch.cuda.mem_get_info()[0])
    try:
        free_host = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        free_host = free_device
    return max(DEFAULT_MEMORY_BUDGET, min(free_device, free_host) // 2)


class _BatchFiles(torch.utils.data.Dataset):
    """Item k = the k-th announced batch of file positions, decoded: uint8 (B, H, W, C)."""

    def __init__(self, paths: list[Path], batches: list[np.ndarray], size: int, channels: int) -> None:
        self.paths, self.batches, self.size, self.channels = paths, batches, size, channels

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> Tensor:
        out = np.empty((len(self.batches[k]), self.size, self.size, self.channels), dtype=np.uint8)
        for j, i in enumerate(self.batches[k]):
            try:
                out[j] = decode_file(self.paths[i], self.size, self.channels)
            except Exception as e:  # noqa: BLE001 - the file changed or broke after the up-front check
                raise UserError(f"{bad_images_message([str(self.paths[i])])} ({type(e).__name__})") from None
        return torch.from_numpy(out)


class StreamingImages(ImageStore):
    """A lazily decoded uint8 image set (an :class:`~noisylabels.data.store.ImageStore`), shape (N, size, size, channels), on ``device``.

    Without a device it behaves like a numpy array (indexing returns numpy, as for in-memory
    ``ArrayDataset.images``); after ``.to(device)`` like the device tensor of ``TrainData.images``.

    Args:
        paths: the files, one per sample. size: side of the square every image is resized to.
        channels: 1 (grayscale) or 3 (RGB). workers: decoding processes of the prefetching
            DataLoader (0 decodes in the training process).
    """

    def __init__(self, paths: list[Path], size: int, channels: int, device: torch.device | str | None = None,
                 workers: int | None = None) -> None:
        self.paths = list(paths)
        self.size, self.channels = int(size), int(channels)
        self.device = None if device is None else torch.device(device)
        self.workers = min(8, os.cpu_count() or 1) if workers is None else int(workers)
        self._queue: Iterator[Tensor] | None = None
        self._pending: list[np.ndarray] = []

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), self.size, self.size, self.channels)

    def __len__(self) -> int:
        return len(self.paths)

    def to(self, device: torch.device | str) -> "StreamingImages":
        return StreamingImages(self.paths, self.size, self.channels, device, self.workers)

    def subset(self, idx: np.ndarray | Tensor) -> "StreamingImages":
        """The images at ``idx``, still on disk."""
        idx = idx.cpu().numpy() if isinstance(idx, Tensor) else np.asarray(idx)
        return StreamingImages([self.paths[i] for i in idx], self.size, self.channels, self.device, self.workers)

    def prefetch(self, batches: list[Tensor]) -> None:
        """Announce the next indexing calls (one index tensor each) so workers decode them ahead."""
        self._pending = [b.cpu().numpy() for b in batches]
        loader = torch.utils.data.DataLoader(
            _BatchFiles(self.paths, self._pending, self.size, self.channels), batch_size=None, shuffle=False,
            num_workers=self.workers, prefetch_factor=4 if self.workers else None,
            pin_memory=self.device is not None and self.device.type == "cuda", persistent_workers=False)
        self._queue = iter(loader)

    def __getitem__(self, key: Tensor | np.ndarray | slice | int) -> Tensor | np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self._decode_now(np.array([int(key)]))[0]
        if isinstance(key, slice):
            idx = np.arange(len(self))[key]
        else:
            idx = key.cpu().numpy() if isinstance(key, Tensor) else np.asarray(key)
        if self.device is None:
            return self._decode_now(idx)
        if self._queue is not None and self._pending and np.array_equal(idx, self._pending[0]):
            self._pending.pop(0)
            batch = next(self._queue)
            if not self._pending:
                self._queue = None
        else:
            batch = torch.from_numpy(self._decode_now(idx))
        return batch.to(self.device, non_blocking=True)

    def _decode_now(self, idx: np.ndarray) -> np.ndarray:
        """Decode ``idx`` in a thread pool (Pillow releases the GIL while decoding): the in-memory sources'
        :func:`~noisylabels.data._images.decode_all`, so a file that fails is named the same way."""
        return decode_all([self.paths[i] for i in idx], self.size, self.channels, workers=self.workers)[0]

    def sample(self, limit: int, seed: int = 0) -> np.ndarray:
        """Up to ``limit`` decoded images (uint8, numpy), a fixed random subset (for view statistics)."""
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.permutation(len(self))[:limit])
        return self._decode_now(idx)


def estimated_bytes(n: int, size: int, channels: int) -> int:
    """Memory of n decoded uint8 images of size x size x channels."""
    return int(n) * size * size * channels
