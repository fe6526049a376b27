"""What every verb shares: the image inputs, the result contract and the cancel rule.

A verb module (`core/tasks/<verb>.py`) exposes `Config` (a frozen dataclass of `param()` fields,
from which the GUI form and the CLI flags are built), `run(inputs, config, *, progress, cancel)`
and a `Result` with `summary()` (the few numbers a person reads), `summary_text()` (the same as
lines, printed by the CLI and shown by the GUI, so both say the same) and `to_dict()`.

One cancel rule: a cancelled run returns its partial result with `cancelled` set, never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress  # noqa: F401  (re-exported)
from advinspect.core.params import build_params


@dataclass
class Images:
    """A set of images in the model's pixel space: (N, C, H, W) float32, labels -1 where unknown.

    `index` is each image's global sample index (the seed of its randomness, and the key every
    row carries), so a subset or a shard gives the same per-sample results."""

    x: Any  # torch.Tensor or numpy array
    labels: np.ndarray
    names: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    index: np.ndarray | None = None
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if len(self.labels) != len(self.x):
            raise AdvInspectError(f"{len(self.labels)} labels for {len(self.x)} images")
        if not self.names:
            self.names = [f"image {i}" for i in range(len(self.x))]
        if self.index is None:
            self.index = np.arange(len(self.x), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def has_labels(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def tensor(self) -> Any:
        import torch

        if isinstance(self.x, torch.Tensor):
            return self.x.float()
        return torch.as_tensor(np.ascontiguousarray(np.asarray(self.x))).float()  # numpy, or lazy pixels

    @property
    def on_demand(self) -> bool:
        """Whether the pixels are decoded when read (a large folder's `LazyPixels`), not held."""
        from advinspect.core.data.lazy import LazyPixels

        return isinstance(self.x, LazyPixels)

    def pixels(self) -> Any:
        """What a job that reads the images batch by batch takes: the tensor, or the pixels
        decoded on demand as they are (`tensor()` would decode the whole set at once)."""
        return self.x if self.on_demand else self.tensor()

    def labels_tensor(self) -> Any:
        import torch

        return torch.from_numpy(self.labels.copy())

    def subset(self, indices: Any) -> Images:
        indices = np.asarray(indices, dtype=np.int64)
        if isinstance(self.x, np.ndarray):
            x = self.x[indices]
        elif hasattr(self.x, "subset"):  # lazy pixels stay undecoded
            x = self.x.subset(indices)
        else:
            x = self.x[__import__("torch").as_tensor(indices)]
        return Images(x, self.labels[indices], [self.names[i] for i in indices],
                      [self.paths[i] for i in indices] if self.paths else [], self.index[indices])

    @classmethod
    def from_batch(cls, batch: Any) -> Images:
        """From core.data's ImageBatch (files loaded for a model)."""
        return cls(batch.x, batch.labels.numpy(), [i.name for i in batch.items], [str(i.path) for i in batch.items],
                   errors=list(batch.errors))

    def require_labels(self, verb: str) -> None:
        if not len(self):
            raise AdvInspectError(f"{verb}: no images")
        if not self.has_labels:
            raise AdvInspectError(f"{verb} needs labels: give a folder of class folders (e.g. digits/3/*.png)")


def with_plugins() -> None:
    """Load the installed attack and defense plugins (once): every verb that looks an attack or a
    transform up by name calls this first. Below the tasks layer nothing loads plugins, so the
    engine never depends on them."""
    from advinspect.core.plugins import load_plugins

    load_plugins()


def make_config(config_type: type, values: dict[str, Any] | None = None, **overrides: Any) -> Any:
    """A Config from strings or values (CLI flags, GUI fields, JSON), converted and range-checked."""
    merged = {k: v for k, v in {**(values or {}), **overrides}.items() if v is not None}
    return build_params(config_type, merged)


def fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


PROBABILITY_CHUNK = 256  # images read at a time from pixels decoded on demand


def probabilities(clf: Any, x: Any) -> np.ndarray:
    """Class probabilities (N, classes) as float32 numpy, batched so memory stays bounded; pixels
    decoded on demand (`Images.pixels()`) are read a chunk at a time."""
    import torch

    if isinstance(x, (torch.Tensor, np.ndarray)):
        return clf.logits_batched(torch.as_tensor(x)).float().softmax(1).cpu().numpy()
    from advinspect.core.data.lazy import read_rows

    parts = [probabilities(clf, read_rows(x, a, a + PROBABILITY_CHUNK)) for a in range(0, len(x), PROBABILITY_CHUNK)]
    return np.concatenate(parts) if parts else np.zeros((0, clf.num_classes), np.float32)
