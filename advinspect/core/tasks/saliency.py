"""saliency: attribution maps (captum) for images and, where attacked, their adversarials."""

from __future__ import annotations

from dataclasses import dataclass
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


def _maps(clf: Any, x: Any, target: Any, config: Config, progress: Progress, cancel: CancelToken,
          label: str) -> tuple[np.ndarray, np.ndarray]:
    import torch

    from advinspect.core.explain import saliency

    maps, targets = [], []
    for start in range(0, len(x), config.batch_size):
        if cancel.cancelled:
            break
        chunk = x[start:start + config.batch_size].float()
        t = clf.predict(chunk).cpu() if target is None else torch.full((len(chunk),), target, dtype=torch.long)
        maps.append(saliency(clf, chunk, t, config.method, layer=config.layer or None, seed=config.seed))
        targets.append(t.numpy())
        progress(min(len(x), start + config.batch_size), len(x), f"{label} {min(len(x), start + config.batch_size)}")
    if not maps:
        return np.zeros((0, *x.shape[2:]), np.float32), np.zeros(0, np.int64)
    return np.concatenate(maps), np.concatenate(targets)


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    import torch

    clf = inputs.clf
    target = None if not config.target else clf.spec.label_index(config.target)
    maps, targets = _maps(clf, inputs.images.tensor(), target, config, progress, cancel, "saliency")
    adv_maps = adv_targets = None
    if inputs.x_adv is not None and not cancel.cancelled:
        adv_maps, adv_targets = _maps(clf, torch.as_tensor(np.ascontiguousarray(inputs.x_adv)), target, config,
                                      progress, cancel, "adversarial saliency")
    cancelled = len(maps) < len(inputs.images) or (adv_maps is not None and len(adv_maps) < len(maps))
    return Result(config.method, config.layer or None, maps, targets, adv_maps, adv_targets, inputs.images,
                  cancelled=cancelled)
