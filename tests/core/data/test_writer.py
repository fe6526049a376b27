"""The background batch writer: rows committed in order, only after their files are written."""

from __future__ import annotations

import threading

import pytest

from advinspect.core.data.writer import BatchWriter


def test_commits_run_in_submission_order_after_their_writes():
    written: list[int] = []
    committed: list[tuple[int, list[int]]] = []
    gate = threading.Event()

    def write(i: int, wait: bool = False) -> None:
        if wait:
            gate.wait(5)
        written.append(i)

    with BatchWriter(workers=2, pending=3) as writer:
        writer.submit([lambda: write(0, wait=True)], lambda: committed.append((0, sorted(written))))
        writer.submit([lambda: write(1)], lambda: committed.append((1, sorted(written))))
        assert committed == []  # batch 1's file is done, but batch 0 is not: nothing commits early
        gate.set()
    assert [c[0] for c in committed] == [0, 1]
    assert 0 in committed[0][1]


def test_a_failed_write_raises_and_its_rows_are_never_committed():
    committed: list[int] = []

    def full_disk() -> None:
        raise OSError(28, "No space left on device")

    writer = BatchWriter(workers=1, pending=1)
    writer.submit([lambda: None], lambda: committed.append(0))
    with pytest.raises(OSError, match="No space"):
        writer.submit([full_disk], lambda: committed.append(1))
        writer.close()
    assert committed == [0]
