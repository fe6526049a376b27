"""Helpers for the streaming tests of certify, saliency and compare: a tiny TorchScript model
with a folder of 8x8 images, and a counter of the decoded images alive at once."""

from __future__ import annotations

import gc
import warnings
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tests.conftest import TinyCNN

LABELS = ("a", "b", "c")


def tiny_model_file(root: Path, seed: int = 0) -> Path:
    """TinyCNN (1x8x8, three classes) as TorchScript with its sidecar."""
    from advinspect.core.models.spec import ModelSpec, write_sidecar

    torch.manual_seed(seed)
    path = root / f"tiny{seed}.pt"
    with warnings.catch_warnings():  # TorchScript's deprecation notice: it is still a format users bring
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(TinyCNN().eval()), str(path))
    write_sidecar(path, ModelSpec(input_shape=(1, 8, 8), labels=LABELS))
    return path


def image_folder(root: Path, n: int, seed: int = 0) -> Path:
    """n random 8x8 grey PNGs in class folders a/, b/, c/ (round robin)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / LABELS[i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return root


class AliveCounter:
    """Wraps the batches of a stream and records the most decoded images alive at once (the
    batches a consumer still references). A consumer that keeps the whole set's pixels ends
    with `peak` = the set; one that keeps a batch at a time stays at about two batches."""

    def __init__(self) -> None:
        self.alive: list[tuple[Any, int]] = []
        self.peak = 0
        self.batches = 0

    def _living(self) -> list[tuple[Any, int]]:
        """The batches still referenced; a full collection (slow on a big heap) only when more
        than one seems alive (the consumer's current batch), in case a reference cycle still holds a dropped one."""
        living = [(ref, n) for ref, n in self.alive if ref() is not None]
        if len(living) > 1:
            gc.collect()
            living = [(ref, n) for ref, n in living if ref() is not None]
        return living

    def track(self, batches: Iterable[Any]) -> Iterator[Any]:
        for batch in batches:
            self.alive = self._living()
            self.alive.append((weakref.ref(batch.x), len(batch)))
            self.peak = max(self.peak, sum(n for _, n in self.alive))
            self.batches += 1
            yield batch
            del batch


def count_alive(monkeypatch: Any, stream_type: type) -> AliveCounter:
    """Patch `stream_type.__iter__` so every stream of that type reports to one counter."""
    counter = AliveCounter()
    original = stream_type.__iter__
    monkeypatch.setattr(stream_type, "__iter__", lambda self: counter.track(original(self)))
    return counter
