"""saliency: attribution maps (captum) for images and, where attacked, their adversarials."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.tasks.base import Images

METHODS = ("gradient", "smoothgrad", "integrated_gradients", "gradcam", "occlusion")


@dataclass(frozen=True)
class Config:
    method: str = param("gradcam", "attribution method", choices=METHODS)
    target: str = param("", "class to explain (index or name); empty: each image's prediction")
    layer: str = param("", "Grad-CAM layer; empty: the last convolution")
    seed: int = param(0, "random seed (SmoothGrad noise)", min=0)
    batch_size: int = param(32, "images per call", min=1)


@dataclass
class Inputs:
    clf: Any
    images: Images
    x_adv: np.ndarray | None = None  # adversarials of the same images: their maps too


@dataclass
class Result:
    method: str
    layer: str | None
    maps: np.ndarray  # (n, H, W) in [0, 1]
    targets: np.ndarray  # the class each map explains
    adv_maps: np.ndarray | None
    adv_targets: np.ndarray | None
    images: Images
    cancelled: bool = False

    def summary(self) -> dict[str, Any]:
        return {"method": self.method, "layer": self.layer, "n": len(self.maps), "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        lines = [f"{self.method} saliency of {len(self.maps)} images"]
        if self.cancelled:
            lines.append("cancelled: maps for the images finished so far")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "targets": self.targets.tolist(), "files": self.images.names[:len(self.maps)]}


def batch_maps(clf: Any, x: Any, index: np.ndarray, target: int | None, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """Maps (n, H, W) and explained classes of one batch, each independent of the batch it came
    in: the batch is padded to MIN_ROWS rows (core.data.stream) and SmoothGrad's noise is seeded
    per image by (seed, global index), so the maps do not depend on the batch size."""
    import torch

    from advinspect.core.data.stream import padded
    from advinspect.core.explain import saliency

    n = len(x)
    if not n:
        return np.zeros((0, *x.shape[2:]), np.float32), np.zeros(0, np.int64)
    x, _, _ = padded(torch.as_tensor(x).float(), np.zeros(n, np.int64), np.asarray(index, np.int64))
    t = clf.predict(x).cpu() if target is None else torch.full((len(x),), target, dtype=torch.long)
    if config.method == "smoothgrad":  # noise drawn per image, never per batch
        maps = np.concatenate([saliency(clf, x[i:i + 1], t[i:i + 1], config.method, layer=config.layer or None,
                                        seed=config.seed + int(index[i])) for i in range(n)])
    else:
        maps = saliency(clf, x, t, config.method, layer=config.layer or None, seed=config.seed)[:n]
    return maps, t[:n].numpy()


def map_rows(clf: Any, batch: Any, targets: np.ndarray) -> list[dict[str, Any]]:
    """One row per image of a batch: global index, file and the class its map explains."""
    return [{"index": int(i), "file": name, "target": int(t), "target_name": clf.spec.label_name(int(t))}
            for i, name, t in zip(batch.index, batch.names, targets, strict=True)]


@dataclass
class Streamed:
    """A streamed saliency run: per-image rows and the first PREVIEW images with their maps (for
    the report); the maps of the set were handed to `on_maps` batch by batch, never all held."""

    method: str
    layer: str | None
    rows: list[dict[str, Any]]
    preview: list[tuple[np.ndarray, np.ndarray]]  # (image (C, H, W), map (H, W)) of the first images
    value_range: tuple[float, float] = (0.0, 1.0)
    cancelled: bool = False
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"method": self.method, "layer": self.layer, "n": len(self.rows), "cancelled": self.cancelled,
                "errors": list(self.errors)}

    def summary_text(self) -> list[str]:
        lines = [f"{self.method} saliency of {len(self.rows)} images"]
        if self.errors:
            lines.append(f"{len(self.errors)} file(s) could not be decoded and were skipped")
        if self.cancelled:
            lines.append("cancelled: maps for the images finished so far")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "targets": [r["target"] for r in self.rows], "files": [r["file"] for r in self.rows],
                "samples": self.rows}

    def report_section(self) -> Any:
        from advinspect.core.explain.overlay import overlay
        from advinspect.core.report.sections import Section, Table, figure_from_array, image_grid

        table = Table(["index", "file", "explained class"],
                      [[r["index"], r["file"], r["target_name"]] for r in self.rows[:PREVIEW]],
                      caption=f"the first {min(PREVIEW, len(self.rows))} of {len(self.rows)} images")
        figures = []
        if self.preview:
            tiles = np.stack([overlay(image, heat, self.value_range) for image, heat in self.preview])
            scale = max(1, 96 // max(tiles.shape[2:]))
            figures.append(figure_from_array(image_grid(tiles, 8), f"{self.method} maps over the first images",
                                             scale=scale))
        return Section(f"Saliency ({self.method})", self.summary_text(), [table], figures)


PREVIEW = 16  # images (with their maps) a streamed run keeps for its report


def run_stream(clf: Any, stream: Any, config: Config, *, on_maps: Any = None, progress: Progress = NO_PROGRESS,
               cancel: CancelToken = NEVER) -> Streamed:
    """Maps of a stream (core.data ImageStream / ArrayStream) batch by batch: `on_maps(batch,
    maps, rows)` gets each batch's maps to write them out, then they are dropped, so memory
    holds one batch. A cancel stops between batches."""
    from advinspect.core.data.stream import Walk

    target = None if not config.target else clf.spec.label_index(config.target)
    rows: list[dict[str, Any]] = []
    preview: list[tuple[np.ndarray, np.ndarray]] = []
    walk = Walk(stream, progress, cancel, "saliency")
    for batch in walk:
        maps, targets = batch_maps(clf, batch.x, batch.index, target, config)
        new = map_rows(clf, batch, targets)
        if on_maps is not None:
            on_maps(batch, maps, new)
        preview += [(batch.x[i].numpy().copy(), maps[i].copy()) for i in range(min(len(maps), PREVIEW - len(preview)))]
        rows += new
    return Streamed(config.method, config.layer or None, rows, preview, tuple(clf.spec.value_range), walk.cancelled,
                    walk.errors)


def _maps(clf: Any, images: Images, x: Any, config: Config, progress: Progress, cancel: CancelToken,
          label: str) -> tuple[np.ndarray, np.ndarray]:
    """Every map of `x` (the images, or their adversarials under the images' indices), in memory."""
    from advinspect.core.data.stream import ArrayStream

    parts: list[tuple[np.ndarray, np.ndarray]] = []
    stream = ArrayStream(x, images.labels, images.names, images.index, config.batch_size)
    streamed = run_stream(clf, stream, config, on_maps=lambda batch, maps, rows: parts.append(
        (maps, np.array([r["target"] for r in rows], np.int64))), cancel=cancel,
        progress=Progress(lambda e: progress(e.step, e.total, f"{label} {e.step}")) if progress.active else NO_PROGRESS)
    del streamed
    if not parts:
        return np.zeros((0, *x.shape[2:]), np.float32), np.zeros(0, np.int64)
    return np.concatenate([m for m, _ in parts]), np.concatenate([t for _, t in parts])


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    """The images (and adversarials) in memory, through the same per-batch code as `run_stream`."""
    clf = inputs.clf
    maps, targets = _maps(clf, inputs.images, inputs.images.pixels(), config, progress, cancel, "saliency")
    adv_maps = adv_targets = None
    if inputs.x_adv is not None and not cancel.cancelled:
        adv_maps, adv_targets = _maps(clf, inputs.images, np.ascontiguousarray(inputs.x_adv), config, progress,
                                      cancel, "adversarial saliency")
    cancelled = len(maps) < len(inputs.images) or (adv_maps is not None and len(adv_maps) < len(maps))
    return Result(config.method, config.layer or None, maps, targets, adv_maps, adv_targets, inputs.images,
                  cancelled=cancelled)
