"""The few worker jobs that are more than one `core.tasks.<verb>.run` call: listing the attacks,
and opening a model together with its images (all or nothing, so a failure leaves the session as
it was). Everything else a panel runs is a `core.tasks` verb called directly.

Imports of the core happen inside the jobs, so the window shows before torch is loaded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError, ImageLoadError
from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.tasks.base import Images

EAGER_IMAGES = 1000  # up to this many files are decoded when opened; more are decoded on demand
PREDICT_CHUNK = 256  # images decoded and scored at a time when a lazy set is predicted


@dataclass
class ModelState:
    """A loaded model with its description, the images fitted to it and their predictions."""

    clf: Any
    info: dict[str, Any]
    images: Images | None
    probs: np.ndarray | None
    seconds: float


def discover_attacks(progress: Progress, cancel: CancelToken) -> dict[str, type]:
    """The attack registry with the installed plugins; importing it imports torch, so it runs in
    the worker."""
    from advinspect.core.attacks import all_attacks
    from advinspect.core.tasks.base import with_plugins

    with_plugins()
    return all_attacks()


def open_model(path: str | Path | None, sources: list[str], *, device: str = "auto",
               trust_pickle: bool = False, spec: Any = None, options: dict[str, Any] | None = None,
               clf: Any = None, images: Images | None = None, progress: Progress,
               cancel: CancelToken) -> ModelState:
    """`open` a model file (or take an in-memory one), then load `sources` fitted to it (or take
    `images`) and `predict` them. `options` are `open.Config` fields (the model dialog's, the
    command line's model flags: arch, num_classes, input_shape …), as text or values."""
    from advinspect.core.tasks import open as open_task
    from advinspect.core.tasks.base import make_config

    started = time.perf_counter()
    if clf is None:
        config = make_config(open_task.Config, dict(options or {}), device=device, trust_pickle=trust_pickle)
        if spec is None:
            opened = open_task.run(open_task.Inputs(Path(str(path))), config, progress=progress, cancel=cancel)
            clf, info = opened.clf, opened.info
        else:  # an edited spec from the model dialog: a ModelSpec object, not file/flag fields
            from advinspect.core.models import load_model

            clf = load_model(path, spec, arch=config.arch or None, num_classes=config.num_classes, device=device,
                             trust_pickle=trust_pickle)
            info = clf.describe()
    else:
        info = clf.describe()
    probs = None
    if images is None and sources:
        images = load_images(clf.spec, sources, progress=progress, cancel=cancel)
    if images is not None and not is_lazy(images):
        probs = predict(clf, images, progress=progress, cancel=cancel)
    return ModelState(clf, info, images, probs, time.perf_counter() - started)


def is_lazy(images: Images) -> bool:
    """Whether the pixels are decoded on demand (a large folder): predictions then follow in
    the background (`predict_streamed`)."""
    return images.on_demand


def load_images(spec: Any, sources: list[str], *, progress: Progress, cancel: CancelToken) -> Images:
    """Files and folders as Images; fails only when not one image could be read. Up to
    EAGER_IMAGES files are decoded now (numpy pixels, a broken file reported at once); a larger
    set keeps its file list and decodes an image when it is looked at (`LazyPixels`), so a
    folder of 20,000 images opens in seconds."""
    from advinspect.core.data import collect_images
    from advinspect.core.data import load_images as load
    from advinspect.core.data.lazy import LazyPixels

    items = collect_images(sources, spec)
    if not items:
        raise AdvInspectError(f"no images found in {', '.join(sources)}")
    if len(items) > EAGER_IMAGES:
        labels = np.asarray([-1 if i.label is None else i.label for i in items], np.int64)
        return Images(LazyPixels(items, spec), labels, [i.name for i in items], [str(i.path) for i in items])
    batch = load(items, spec, progress=progress, cancel=cancel)
    if not len(batch):
        detail = batch.errors[0] if batch.errors else "cancelled"
        raise ImageLoadError(f"none of the {len(items)} images could be read: {detail}")
    return Images(batch.x.numpy().astype(np.float32, copy=False), batch.labels.numpy().astype(np.int64),
                  [item.name for item in batch.items], [str(item.path) for item in batch.items],
                  errors=list(batch.errors))


def images_with_predictions(clf: Any, sources: list[str], *, progress: Progress,
                            cancel: CancelToken) -> tuple[Images, np.ndarray | None]:
    """The images and their predictions; None for a lazy set, predicted in the background."""
    images = load_images(clf.spec, sources, progress=progress, cancel=cancel)
    return images, None if is_lazy(images) else predict(clf, images, progress=progress, cancel=cancel)


def predict_streamed(clf: Any, images: Images, *, progress: Progress, cancel: CancelToken) -> np.ndarray:
    """Class probabilities of a lazy set, decoded and scored one chunk at a time, so memory is
    bounded by the chunk, not the folder."""
    import torch

    from advinspect.core.tasks.base import probabilities

    n = len(images)
    parts: list[np.ndarray] = []
    for start in range(0, n, PREDICT_CHUNK):
        if cancel.cancelled:
            raise AdvInspectError("prediction cancelled: the images are listed without predictions")
        parts.append(probabilities(clf, torch.from_numpy(images.x[start:start + PREDICT_CHUNK])))
        progress(min(n, start + PREDICT_CHUNK), n, "predicting")
    return np.concatenate(parts) if parts else np.zeros((0, clf.num_classes), np.float32)


def predict(clf: Any, images: Images, *, progress: Progress, cancel: CancelToken) -> np.ndarray:
    """Class probabilities of every image (the `predict` verb); a cancel keeps what was there."""
    from advinspect.core.tasks import predict as predict_task

    result = predict_task.run(predict_task.Inputs(clf, images), predict_task.Config(), progress=progress,
                              cancel=cancel)
    if result.cancelled:
        raise AdvInspectError("prediction cancelled: the session keeps what it had")
    return result.probs
