"""Pixels decoded when they are looked at: an array-like over image files for the GUI session.

Opening a folder of 20,000 images used to decode every one into memory before the list showed
anything. `LazyPixels` keeps only the file list and decodes an image when it is indexed (the
selected image, a visible thumbnail, the images of an attack), holding the most recent ones in a
small LRU cache, so memory and the time to open stay flat in the folder's size. A job that
really needs every pixel (`np.asarray(pixels)`) still gets them, decoded then.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from advinspect.core.data.datasets import ImageItem
from advinspect.core.data.images import load_image
from advinspect.core.errors import AdvInspectError, ImageLoadError
from advinspect.core.models.spec import ModelSpec

CACHE_IMAGES = 256  # decoded images kept: a screenful of thumbnails and the inspector's image


class LazyPixels:
    """(N, C, H, W) float32 pixels of `items`, decoded on indexing; a file that fails to decode
    reads as zeros and its error is kept in `errors` (one line per file)."""

    def __init__(self, items: Sequence[ImageItem], spec: ModelSpec, cache_size: int = CACHE_IMAGES) -> None:
        assert spec.input_shape is not None
        self.items = list(items)
        self.spec = spec
        self.cache_size = max(1, int(cache_size))
        self.errors: list[str] = []
        self.decoded = 0  # files decoded so far (repeats included): what a test or a benchmark reads
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # the list model (GUI thread) and jobs (worker threads) both read

    def __len__(self) -> int:
        return len(self.items)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.items), *self.spec.input_shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def cached(self) -> int:
        """How many decoded images are held now."""
        return len(self._cache)

    def image(self, i: int) -> np.ndarray:
        """Image `i` (C, H, W), from the cache or decoded now."""
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"image {i} of {len(self)}")
        i %= len(self)
        with self._lock:
            hit = self._cache.get(i)
            if hit is not None:
                self._cache.move_to_end(i)
                return hit
        pixels = self._decode(i)
        with self._lock:
            self._cache[i] = pixels
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return pixels

    def _decode(self, i: int) -> np.ndarray:
        self.decoded += 1
        try:
            return load_image(self.items[i].path, self.spec).numpy().astype(np.float32, copy=False)
        except ImageLoadError as exc:
            self.errors.append(str(exc))
            return np.zeros(self.spec.input_shape, np.float32)

    def subset(self, indices: Any) -> LazyPixels:
        """The same files at `indices`, still undecoded."""
        picked = LazyPixels([self.items[int(i)] for i in np.asarray(indices).reshape(-1)], self.spec, self.cache_size)
        return picked

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self.image(int(key))
        if isinstance(key, slice):
            key = range(*key.indices(len(self)))
        if hasattr(key, "tolist"):  # a numpy array or a tensor of indices
            key = key.tolist()
        rows = [self.image(int(i)) for i in key]
        return np.stack(rows) if rows else np.empty((0, *self.spec.input_shape), np.float32)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """Every image, decoded now (whole-folder jobs that cannot stream). Refused with one line
        where the pixels would take more than half the memory left: the session stays up."""
        need = int(np.prod(self.shape, dtype=np.int64)) * 4
        free = available_memory()
        if free is not None and need > free // 2:
            raise AdvInspectError(
                f"this job holds all {len(self)} images in memory at once: {need / 2**30:.1f} GB, with "
                f"{free / 2**30:.1f} GB free; run it on a selection, or from the command line, which "
                "streams the images")
        whole = self[slice(None)]
        return whole if dtype is None else whole.astype(dtype, copy=False)


def read_rows(x: Any, start: int, stop: int) -> Any:
    """Samples [start, stop) of a tensor, an array or pixels decoded on demand, as a float32
    tensor: what every job that walks such a set a chunk at a time reads (only these decoded)."""
    import torch

    if isinstance(x, torch.Tensor):
        return x[start:stop].float()
    return torch.from_numpy(np.ascontiguousarray(x[start:stop], dtype=np.float32))


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable, counting reclaimable
    cache; other POSIX: free pages); None where the system does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass  # not Linux: ask sysconf
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None
