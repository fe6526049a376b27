"""Streaming a data set batch by batch, so memory is bounded by the batch size, not the set.

`ImageStream` walks a contiguous slice [start, stop) of a file list; worker processes (a torch
DataLoader) decode the next batches while the model works on this one. Every batch carries the
global index of each image (its position in the whole list: the key of every row, the seed of
its randomness), and the files that failed to decode in it (one line each, the rest go on).
`ArrayStream` is the same over images already in memory (the GUI's sets, tests).

A shard is a contiguous slice, never `DistributedSampler` (which pads with duplicates, so an
accuracy would depend on the world size).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from advinspect.core.data.datasets import ImageItem
from advinspect.core.data.images import load_image
from advinspect.core.errors import AdvInspectError, ImageLoadError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.models.spec import ModelSpec

# BLAS picks another kernel for very small matrices (MKL's sgemm gives other last bits below
# ~11 rows), so a sample's logits would depend on how many others share its batch: the streamed
# verbs pad every batch to at least this many rows (copies of its last image, with seeds of their
# own) and drop the padding. With it the rows are byte-identical for any batch size and shard
# count, at a given number of threads per process (threads change reduction orders too).
MIN_ROWS = 16
PAD_INDEX = 1 << 62  # global indices of padding rows: far from any real sample's seed


def padded(x: torch.Tensor, labels: np.ndarray, index: np.ndarray) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """A batch padded to MIN_ROWS rows with copies of its last image (see MIN_ROWS); the real
    rows stay first."""
    missing = MIN_ROWS - len(x)
    if missing <= 0 or not len(x):
        return x, labels, index
    return (torch.cat([x, x[-1:].expand(missing, *x.shape[1:])]),
            np.concatenate([labels, np.repeat(labels[-1:], missing)]),
            np.concatenate([index, PAD_INDEX + np.arange(missing, dtype=np.int64)]))


@dataclass
class StreamBatch:
    """Decoded images of one batch: x (n, C, H, W), labels (-1 unknown), each image's global
    index, name and path; `errors` holds (global index, name, message) of the files that failed."""

    x: torch.Tensor
    labels: np.ndarray
    index: np.ndarray
    names: list[str]
    paths: list[str]
    errors: list[tuple[int, str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.index)


def slice_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rank `rank`'s contiguous slice of n samples: sizes differ by at most one, in rank order."""
    if world < 1 or not 0 <= rank < world:
        raise AdvInspectError(f"rank {rank} is not in a world of {world}")
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class _Files(torch.utils.data.Dataset):
    """Item i of the slice decoded for the model; a broken file becomes an error, not a crash."""

    def __init__(self, items: Sequence[ImageItem], spec: ModelSpec, start: int) -> None:
        self.items, self.spec, self.start = items, spec, start

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str]:
        try:
            return self.start + i, load_image(self.items[i].path, self.spec), ""
        except ImageLoadError as exc:
            return self.start + i, None, str(exc)


def _collate(items: Sequence[ImageItem], spec: ModelSpec, start: int) -> Any:
    def collate(samples: list[tuple[int, torch.Tensor | None, str]]) -> StreamBatch:
        good = [(i, x) for i, x, _ in samples if x is not None]
        kept = [items[i - start] for i, _ in good]
        assert spec.input_shape is not None
        x = torch.stack([x for _, x in good]) if good else torch.empty(0, *spec.input_shape)
        return StreamBatch(
            x, np.array([-1 if it.label is None else it.label for it in kept], dtype=np.int64),
            np.array([i for i, _ in good], dtype=np.int64), [it.name for it in kept], [str(it.path) for it in kept],
            [(i, items[i - start].name, message) for i, x, message in samples if x is None])
    return collate


@dataclass(frozen=True)
class ImageStream:
    """Files [start, stop) of `items`, decoded for `spec`, `batch_size` at a time by `workers`
    processes (0: in this process). At most about `workers * 2 + 1` batches exist at once."""

    items: Sequence[ImageItem]
    spec: ModelSpec
    batch_size: int = 64
    workers: int = 0
    start: int = 0
    stop: int | None = None
    pin_memory: bool = False  # on CUDA: page-locked batches copy to the GPU asynchronously

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise AdvInspectError("the batch size must be at least 1")
        if self.workers < 0:
            raise AdvInspectError("the number of loader workers cannot be negative")

    @property
    def end(self) -> int:
        return len(self.items) if self.stop is None else min(self.stop, len(self.items))

    def __len__(self) -> int:
        return max(0, self.end - self.start)

    @property
    def total(self) -> int:
        """The size of the whole list (the global index runs over it)."""
        return len(self.items)

    def shard(self, rank: int, world: int) -> ImageStream:
        """This stream's contiguous share for one rank of `world`."""
        a, b = slice_bounds(len(self), rank, world)
        return dataclasses.replace(self, start=self.start + a, stop=self.start + b)

    def window(self, start: int, stop: int) -> ImageStream:
        """Global indices [start, stop) of this stream (clipped to it)."""
        return dataclasses.replace(self, start=max(self.start, start), stop=min(self.end, stop))

    def __iter__(self) -> Iterator[StreamBatch]:
        items = self.items[self.start:self.end]
        if not len(items):
            return
        loader = torch.utils.data.DataLoader(
            _Files(items, self.spec, self.start), batch_size=self.batch_size, shuffle=False,
            num_workers=self.workers, collate_fn=_collate(items, self.spec, self.start),
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            prefetch_factor=2 if self.workers else None)
        yield from loader


@dataclass(frozen=True)
class ArrayStream:
    """Images already in memory (x (N, C, H, W), labels, names, global index) as a stream."""

    x: Any
    labels: np.ndarray
    names: Sequence[str]
    index: np.ndarray
    batch_size: int = 64
    paths: Sequence[str] = ()
    start: int = 0
    stop: int | None = None

    @classmethod
    def of(cls, images: Any, batch_size: int = 64) -> ArrayStream:
        """A core.tasks `Images` (pixels held, or decoded on demand) as a stream: what an
        in-memory `run` walks, so it shares its per-batch code with the streamed run."""
        x = images.pixels() if hasattr(images, "pixels") else images.x
        return cls(x, images.labels, list(images.names), images.index, batch_size, paths=list(images.paths))

    @property
    def end(self) -> int:
        return len(self.x) if self.stop is None else min(self.stop, len(self.x))

    def __len__(self) -> int:
        return max(0, self.end - self.start)

    @property
    def total(self) -> int:
        return len(self.x)

    def shard(self, rank: int, world: int) -> ArrayStream:
        a, b = slice_bounds(len(self), rank, world)
        return dataclasses.replace(self, start=self.start + a, stop=self.start + b)

    def window(self, start: int, stop: int) -> ArrayStream:
        """Positions [start, stop) (positions and global indices agree when index is 0..N-1)."""
        return dataclasses.replace(self, start=max(self.start, start), stop=min(self.end, stop))

    def __iter__(self) -> Iterator[StreamBatch]:
        for a in range(self.start, self.end, self.batch_size):
            b = min(self.end, a + self.batch_size)
            x = self.x[a:b]
            yield StreamBatch(torch.as_tensor(np.ascontiguousarray(x) if isinstance(x, np.ndarray) else x).float(),
                              np.asarray(self.labels[a:b], dtype=np.int64), np.asarray(self.index[a:b], np.int64),
                              list(self.names[a:b]), list(self.paths[a:b]) if self.paths else [])


class Walk:
    """The batches of a stream as a streamed verb walks them: it stops at a cancel (between
    batches), collects the message of each file that failed to decode (`errors`), and reports
    progress after each batch. `done` counts the files of the batches handed out so far."""

    def __init__(self, stream: Any, progress: Progress = NO_PROGRESS, cancel: CancelToken = NEVER,
                 label: str = "done") -> None:
        self.stream, self.progress, self.cancel, self.label = stream, progress, cancel, label
        self.total, self.done, self.cancelled = len(stream), 0, False
        self.errors: list[str] = []

    def __iter__(self) -> Iterator[StreamBatch]:
        for batch in self.stream:
            if self.cancel.cancelled:
                self.cancelled = True
                return
            self.errors += [message for _, _, message in batch.errors]
            yield batch
            self.done += len(batch) + len(batch.errors)
            self.progress(self.done, self.total, f"{self.label} {self.done}/{self.total}")
