"""Arrays kept on disk instead of in memory, for results too large to hold.

Attacking a folder of 20,000 images at 224x224 makes 12 GB of adversarial pixels. Kept in
memory, that ends the desktop session. A `DiskArray` writes its rows through the file (they go
to the page cache, which the system flushes and reclaims, not to this process's memory) and
reads them through a memory mapping, so only what is looked at is paged in: the selected image,
a visible thumbnail, a batch being saved. Writing through the mapping instead would leave every
written page resident in the process until the kernel wrote it back.

The file has no name where the system allows it (Linux), so its space returns when the array is
dropped, even after a crash.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from advinspect.core.errors import AdvInspectError


class DiskArray:
    """A zero-filled array of `shape` backed by a temporary file in `folder` (default: the
    system's temporary folder). `write(start, rows)` stores rows; `array` reads them (a
    memory-mapped numpy array: index it like any other)."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype | type = np.float32, *,
                 folder: str | Path | None = None) -> None:
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(s) for s in shape)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        size = max(1, self.shape[0] * self.row_bytes)
        where = tempfile.gettempdir() if folder is None else str(folder)
        try:
            self._file = tempfile.TemporaryFile(prefix="advinspect-", suffix=".bin", dir=where)
        except OSError as exc:
            raise AdvInspectError(f"cannot keep results on disk in {where}: {exc}") from exc
        try:
            _reserve(self._file.fileno(), size)
            self.array = np.memmap(self._file, dtype=self.dtype, mode="r+", shape=self.shape)
        except (OSError, ValueError) as exc:
            self._file.close()
            raise AdvInspectError(f"cannot keep {size / 2**30:.1f} GB of results on disk in {where}: "
                                  f"{exc}") from exc

    def write(self, start: int, rows: np.ndarray) -> None:
        """Rows [start, start + len(rows)) = rows, through the file where the system can."""
        data = np.ascontiguousarray(rows, dtype=self.dtype)
        if data.shape[1:] != self.shape[1:] or not 0 <= start <= self.shape[0] - len(data):
            raise AdvInspectError(f"rows of shape {data.shape} do not fit at {start} in {self.shape}")
        if hasattr(os, "pwrite"):
            view, offset = memoryview(data).cast("B"), start * self.row_bytes
            while len(view):
                written = os.pwrite(self._file.fileno(), view, offset)
                view, offset = view[written:], offset + written
        else:  # Windows: through the mapping
            self.array[start:start + len(data)] = data


def _reserve(fd: int, size: int) -> None:
    """Reserve the file's blocks now where the system can: a full disk then fails here, with a
    message, instead of killing the process when a mapped page cannot be written back."""
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, size)
    else:
        os.ftruncate(fd, size)
