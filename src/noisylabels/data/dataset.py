"""The in-memory dataset every source returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .store import select_images


@dataclass
class ArrayDataset:
    """Images and labels held in memory.

    Attributes:
        images: uint8 array, shape (N, H, W, C), C in {1, 3}.
        labels: int64 array, shape (N,), values in [0, len(class_names)).
        class_names: one name per class, index = label.
        paths: for file-based sources, the file of each sample (same order as ``images``), else None.
        source_index: position of each sample in the user's source (CSV row, folder file order,
            array index), shape (N,); defaults to arange(N).
        skipped_paths: unreadable files left out with ``--skip-bad-images``.
        passed_over: files of a folder source that are not images by name (not read; reported).

    ``images`` may also be a :class:`~noisylabels.data.store.ImageStore` (decoded on demand).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    paths: list[str] | None = None
    source_index: np.ndarray | None = field(default=None)
    skipped_paths: list[str] = field(default_factory=list)
    passed_over: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 N x H x W x C, got {self.images.dtype} {self.images.shape}")
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"labels must have shape ({len(self.images)},), got {self.labels.shape}")
        if self.source_index is None:
            self.source_index = np.arange(len(self.images), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, idx: np.ndarray) -> "ArrayDataset":
        """The samples at ``idx`` (int array), keeping their source positions and paths."""
        idx = np.asarray(idx, dtype=np.int64)
        return ArrayDataset(
            images=select_images(self.images, idx),
            labels=self.labels[idx],
            class_names=list(self.class_names),
            paths=None if self.paths is None else [self.paths[i] for i in idx],
            source_index=self.source_index[idx],
            skipped_paths=list(self.skipped_paths),
            passed_over=list(self.passed_over),
        )


@dataclass
class DataSplits:
    """A training set and the evaluation set with how it was obtained.

    ``test_kind`` is ``"builtin"`` (the source's own test split), ``"given"`` (``--test-data``) or
    ``"holdout"`` (a stratified fraction of the training source; its accuracy is measured against
    the given, possibly noisy, labels). ``unseen_classes``: names of the source's classes that the
    training set (after ``--train-size``) holds no sample of; a run says so at its start and in its summary.
    """

    train: ArrayDataset
    test: ArrayDataset
    test_kind: str
    name: str
    unseen_classes: tuple[str, ...] = ()
