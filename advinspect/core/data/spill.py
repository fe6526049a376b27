"""Arrays kept on disk instead of in memory, for results too large to hold.

Attacking a folder of 20,000 images at 224x224 makes 12 GB of adversarial pixels. Kept in
memory, that ends the desktop session; kept in a memory-mapped file, the operating system pages
in only what is looked at (the selected image, a visible thumbnail, a batch being saved), and
memory stays bounded by the batch. The file is unlinked at once where the system allows it
(POSIX), so its disk space returns when the array is dropped, even after a crash; elsewhere it
is removed when the array is garbage collected.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from pathlib import Path

import numpy as np

from advinspect.core.errors import AdvInspectError


def disk_array(shape: tuple[int, ...], dtype: np.dtype | type = np.float32, *, folder: str | Path | None = None) -> np.ndarray:
    """A zero-filled, writable array of `shape` backed by a temporary file in `folder` (default:
    the system's temporary folder). Raises one readable line when the disk has no room: the space
is reserved up front where the system can, since running out while writing mapped pages kills
the process instead of raising."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    handle, name = tempfile.mkstemp(prefix="advinspect-", suffix=".bin", dir=None if folder is None else str(folder))
    try:
        try:
            if hasattr(os, "posix_fallocate"):  # reserved now: a full disk fails here, not
                os.posix_fallocate(handle, 0, max(1, size))  # as a crash writing a mapped page
            else:
                os.ftruncate(handle, max(1, size))
        finally:
            os.close(handle)
        array = np.memmap(name, dtype=dtype, mode="r+", shape=tuple(int(s) for s in shape))
    except (OSError, ValueError) as exc:
        Path(name).unlink(missing_ok=True)
        raise AdvInspectError(f"cannot keep {size / 2**30:.1f} GB of results on disk in "
                              f"{Path(name).parent}: {exc}") from exc
    try:
        os.unlink(name)  # the mapping keeps the data; the space is freed when the array goes
    except OSError:  # Windows: a mapped file cannot be removed yet
        weakref.finalize(array, _remove, name)
    return array


def _remove(name: str) -> None:
    try:
        os.unlink(name)
    except OSError:
        pass  # still mapped by a view that outlived the array: the OS cleans its temp folder
