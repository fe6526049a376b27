"""defend: put input transforms (JPEG, bit depth, median, noise) in front of a model.

Every other verb then runs on the defended classifier; `adaptive` attacks it with BPDA
(straight-through gradients) and EOT (averaged random transforms)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.tasks.base import Images, probabilities, with_plugins


@dataclass(frozen=True)
class Config:
    defense: str = param("jpeg:75", "transforms left to right, e.g. jpeg:75,bits:4,median:3,noise:0.1,"
                         "purify:GENERATOR")
    adaptive: bool = param(False, "attack adaptively: BPDA through non-differentiable transforms, EOT over random ones")
    eot_samples: int = param(8, "EOT samples per gradient step", min=1, max=1024)
    seed: int = param(0, "seed of the random transforms", min=0)
    purify_restarts: int = param(10, "purify: random restarts R of the projection onto the generator", min=1,
                                 max=1000)
    purify_steps: int = param(200, "purify: gradient steps L per restart", min=1, max=100_000)


@dataclass
class Inputs:
    clf: Any  # the undefended classifier
    images: Images | None = None  # predict these through the defense


@dataclass
class Result:
    clf: Any  # the DefendedClassifier
    images: Images | None
    probs: np.ndarray | None  # (n, classes) of the defended model
    cancelled: bool = False

    def summary(self) -> dict[str, Any]:
        s: dict[str, Any] = {"defense": self.clf.format, "adaptive": self.clf.adaptive, "cancelled": self.cancelled}
        if self.probs is not None and self.images is not None and self.images.has_labels:
            s["accuracy"] = float((self.probs.argmax(1) == self.images.labels).mean())
        return s

    def summary_text(self) -> list[str]:
        s = self.summary()
        line = f"defended model: {s['defense']}{' (adaptive attacks)' if s['adaptive'] else ''}"
        if "accuracy" in s:
            line += f"; accuracy {s['accuracy']:.4f} on {len(self.images)} images"
        return [line] + [t.time_note() for t in self.clf.transforms if hasattr(t, "time_note")]

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary()}


def defended(clf: Any, config: Config) -> Any:
    from advinspect.core.defenses.purify import configure
    from advinspect.core.defenses.transforms import DefendedClassifier, parse_defense

    with_plugins()
    transforms = configure(parse_defense(config.defense), clf.spec.input_shape, restarts=config.purify_restarts,
                           steps=config.purify_steps)
    return DefendedClassifier(clf, transforms, adaptive=config.adaptive,
                              eot_samples=config.eot_samples, seed=config.seed)


def preview(clf: Any, x: np.ndarray, config: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image (C, H, W) through the transforms: (what the model sees, its probabilities on it,
    the probabilities on the untouched image)."""
    import torch

    defended_clf = defended(clf, config)
    xb = torch.from_numpy(np.ascontiguousarray(x[None], dtype=np.float32))
    with torch.no_grad():
        transformed = defended_clf.transform(xb.to(clf.device))
        probs = clf.probabilities(transformed).float().cpu().numpy()[0]
        clean = clf.probabilities(xb).float().cpu().numpy()[0]
    return transformed.cpu().numpy()[0], probs, clean


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    clf = defended(inputs.clf, config)
    probs = None
    if inputs.images is not None and len(inputs.images) and not cancel.cancelled:
        progress(0, 1, "predicting through the defense")
        probs = probabilities(clf, inputs.images.pixels())
        progress(1, 1, "done")
    return Result(clf, inputs.images, probs, cancelled=bool(cancel.cancelled) and probs is None)
