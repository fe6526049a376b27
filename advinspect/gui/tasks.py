"""Job functions the worker runs. Each takes plain inputs and returns CPU numpy data.

These are the only GUI-package functions that touch torch or run a model; they import the core
lazily so the window can show before torch is loaded.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError, ImageLoadError
from advinspect.core.jobs import CancelToken, Progress


@dataclass
class ImageSet:
    """Images as the GUI holds them: float32 (N, C, H, W) in the model's value range."""

    names: list[str]
    paths: list[str]
    labels: np.ndarray  # (N,) int, -1 where unknown
    x: np.ndarray
    errors: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def has_labels(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())


@dataclass
class ModelState:
    """A loaded model with its description, the images fitted to it and their predictions."""

    clf: Any
    info: dict[str, Any]
    images: ImageSet | None
    probs: np.ndarray | None
    seconds: float


@dataclass
class AttackOutcome:
    """An attack result plus the full adversarial class probabilities for the Confidence dock."""

    result: Any  # core AttackResult (numpy arrays)
    indices: np.ndarray  # image indices in the session that were attacked
    adv_probs: np.ndarray  # (n, classes)


def discover_attacks(progress: Progress, cancel: CancelToken) -> dict[str, type]:
    """The attack registry; importing it imports torch, so it runs in the worker."""
    from advinspect.core.attacks import all_attacks

    return all_attacks()


def open_model(path: str | Path | None, sources: list[str], *, device: str = "auto",
               trust_pickle: bool = False, spec: Any = None, clf: Any = None,
               progress: Progress, cancel: CancelToken) -> ModelState:
    """Load a model (or take an in-memory one), then load `sources` fitted to it and predict.

    All or nothing: the GUI commits the new state only when every step succeeded.
    """
    started = time.perf_counter()
    if clf is None:
        from advinspect.core.models import load_model

        progress(0, 3, f"loading {Path(str(path)).name}")
        clf = load_model(path, spec, device=device, trust_pickle=trust_pickle)
    info = clf.describe()  # hashes the file: keep it off the GUI thread
    images, probs = None, None
    if sources:
        images = load_image_set(clf.spec, sources, progress=progress, cancel=cancel)
        probs = predict(clf, images.x, progress=progress, cancel=cancel)
    return ModelState(clf, info, images, probs, time.perf_counter() - started)


def load_image_set(spec: Any, sources: list[str], *, progress: Progress,
                   cancel: CancelToken) -> ImageSet:
    """Files and folders into an ImageSet; fails only when not a single image could be read."""
    from advinspect.core.data import collect_images, load_images

    items = collect_images(sources, spec)
    if not items:
        raise AdvInspectError(f"no images found in {', '.join(sources)}")
    batch = load_images(items, spec, progress=progress, cancel=cancel)
    if not len(batch):
        detail = batch.errors[0] if batch.errors else "cancelled"
        raise ImageLoadError(f"none of the {len(items)} images could be read: {detail}")
    return ImageSet(
        names=[item.name for item in batch.items],
        paths=[str(item.path) for item in batch.items],
        labels=batch.labels.numpy().astype(np.int64),
        x=batch.x.numpy().astype(np.float32, copy=False),
        errors=list(batch.errors),
    )


def images_with_predictions(clf: Any, sources: list[str], *, progress: Progress,
                            cancel: CancelToken) -> tuple[ImageSet, np.ndarray]:
    images = load_image_set(clf.spec, sources, progress=progress, cancel=cancel)
    return images, predict(clf, images.x, progress=progress, cancel=cancel)


def predict(clf: Any, x: np.ndarray, *, progress: Progress, cancel: CancelToken,
            batch_size: int = 128) -> np.ndarray:
    """Class probabilities (N, classes) as float32 numpy, in batches with progress."""
    import torch

    parts = []
    for start in range(0, len(x), batch_size):
        if cancel.cancelled:
            raise AdvInspectError("prediction cancelled")
        chunk = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size]))
        parts.append(clf.probabilities(chunk).float().cpu().numpy())
        progress(min(len(x), start + batch_size), len(x), "predicting")
    return np.concatenate(parts) if parts else np.zeros((0, clf.num_classes), np.float32)


def run_attack(attack: Any, clf: Any, x: np.ndarray, labels: np.ndarray, indices: np.ndarray, *,
               target: np.ndarray | None, seed: int, progress: Progress,
               cancel: CancelToken) -> AttackOutcome:
    """Run a configured attack instance on the images at `indices`; previews flow to the GUI."""
    import torch

    xb = torch.from_numpy(np.ascontiguousarray(x))
    yb = torch.from_numpy(labels.astype(np.int64))
    tb = torch.from_numpy(target.astype(np.int64)) if target is not None else None
    result = attack.run(clf, xb, yb, target=tb, progress=progress, cancel=cancel, seed=seed)
    adv_probs = clf.probabilities(torch.from_numpy(result.x_adv)).float().cpu().numpy()
    return AttackOutcome(result, indices, adv_probs)


def params_dict(params: Any) -> dict[str, Any]:
    return dataclasses.asdict(params)
