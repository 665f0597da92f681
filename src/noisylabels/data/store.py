"""Image sets that are not plain arrays: the :class:`ImageStore` interface, and the helpers that treat a
store and an in-memory tensor (or numpy array) alike, so the engine and the methods never ask an image set
what it can do (``data.streaming.StreamingImages`` is the one store: images decoded from files on demand)."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import torch
from torch import Tensor


class ImageStore(abc.ABC):
    """uint8 images (N, H, W, C) held outside memory, in place of the image array or tensor.

    Indexing with an index tensor, array or slice returns that batch of images: a uint8 tensor on the
    store's device once bound to one (:meth:`to`), a numpy array before.
    """

    dtype = np.uint8
    ndim = 4
    device: torch.device | None = None  # where batches are returned (None: numpy arrays)

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, int, int, int]:
        """(N, H, W, C)."""

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def __getitem__(self, key: Any) -> Any: ...

    @abc.abstractmethod
    def to(self, device: torch.device | str) -> ImageStore:
        """The same images, batches returned as tensors on ``device``."""

    @abc.abstractmethod
    def subset(self, idx: np.ndarray | Tensor) -> ImageStore:
        """The images at ``idx``, still a store."""

    @abc.abstractmethod
    def prefetch(self, batches: list[Tensor]) -> None:
        """Announce the next indexing calls (one index tensor each), so they can be read ahead."""


def prefetch(images: Tensor | ImageStore, batches: list[Tensor]) -> None:
    """Before an epoch: announce its batches (index tensors) to a store; in-memory images need nothing."""
    if isinstance(images, ImageStore):
        images.prefetch(batches)


def select_images(images: Any, idx: np.ndarray) -> Any:
    """The images at ``idx`` (int array): a store stays a store (on disk), a tensor is indexed on its
    device, a numpy array in memory."""
    if isinstance(images, ImageStore):
        return images.subset(idx)
    if isinstance(images, Tensor):
        return images[torch.from_numpy(idx).to(images.device)]
    return images[idx]
