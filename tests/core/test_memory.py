"""The glibc mmap threshold is fixed at start-up where glibc is the allocator (see core/memory.py),
and the CLI's entry point sets it."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from advinspect.core.memory import fix_mmap_threshold

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def test_the_threshold_is_set_on_glibc_and_nothing_changes_elsewhere():
    assert fix_mmap_threshold() is GLIBC


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_a_freed_large_buffer_goes_back_to_the_system():
    """With the threshold fixed, 200 buffers of 4 MiB freed after other allocations leave the
    resident size where it was (from the heap, freed blocks below live ones would stay)."""
    code = """
import numpy as np, sys
from advinspect.core.memory import fix_mmap_threshold
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096
if sys.argv[1] == 'fixed':
    fix_mmap_threshold()
big = np.ones(8 << 20, np.uint8); del big  # an 8 MB mapped block freed: glibc raises its threshold to 8 MB
before = rss()
held, pins = [], []
for _ in range(200):
    held.append(np.ones(4 << 20, np.uint8))
    pins.append(np.ones(16 << 10, np.uint8))  # small live heap blocks between the large ones
del held
print(rss() - before)
"""
    grown = {mode: int(subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                                      check=True).stdout) for mode in ("fixed", "dynamic")}
    assert grown["fixed"] < 50 << 20  # the 800 MB went back
    assert grown["dynamic"] > 400 << 20  # without the fix they stay: the growth the fix prevents
