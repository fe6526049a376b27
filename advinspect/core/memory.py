"""Keeping a long streamed run's memory flat on glibc (Linux).

glibc serves an allocation from its heap, or from a fresh mapping when it is larger than the
"mmap threshold". That threshold is dynamic: each time a mapped block is freed it rises to the
block's size (up to 32 MB). A streamed attack frees batch-sized buffers (tens of MB) all the
time, so after a while they come from the heap, where the several threads' interleaved buffers
fragment it and the process grows with the number of batches, not their size
(`benchmarks/streaming_memory.py`: 1.3 GB at 1,000 images, 2.5 GB at 20,000). A fixed threshold
of 1 MiB keeps large buffers in their own mappings, returned to the system when freed: the same
benchmark then gives 1.18 GB at 1,000 images and 1.20 GB at 20,000.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Set glibc's mmap threshold once, at start-up; True where it took effect. Elsewhere (macOS,
    Windows, musl) nothing changes: their allocators do not have the dynamic threshold."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, int(threshold)))
