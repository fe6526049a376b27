"""certify: randomized smoothing (Cohen et al. 2019), a certified L2 radius per image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.tasks.base import Images


@dataclass(frozen=True)
class Config:
    sigma: float = param(0.25, "noise level as a fraction of the value range", min=1e-4, max=10.0)
    n0: int = param(100, "noise samples to guess the class", min=1)
    n: int = param(1000, "noise samples to bound its probability", min=1)
    alpha: float = param(0.001, "failure probability of each certificate", min=1e-12, max=0.5)
    batch_size: int = param(1000, "noise samples per forward pass", min=1)
    seed: int = param(0, "random seed", min=0)


@dataclass
class Inputs:
    clf: Any
    images: Images


@dataclass
class Result:
    certification: Any  # core CertificationResult
    images: Images

    @property
    def cancelled(self) -> bool:
        return bool(self.certification.cancelled)

    def summary(self) -> dict[str, Any]:
        c = self.certification
        radii = np.asarray(c.radii, dtype=float)
        correct = np.asarray(c.correct, dtype=bool)
        certified = radii[correct & (radii > 0)]
        return {"n": len(c.radii), "sigma": c.sigma,
                "certified_accuracy_at_0": c.curve_certified_accuracy[0] if c.curve_certified_accuracy else 0.0,
                "n_certified": int(len(certified)),
                "median_radius": float(np.median(certified)) if len(certified) else None,
                "mean_radius": float(certified.mean()) if len(certified) else None,
                "abstained": int(sum(p < 0 for p in c.predictions)), "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        s = self.summary()
        median = "-" if s["median_radius"] is None else f"{s['median_radius']:.4f}"
        lines = [f"sigma {s['sigma']}: certified accuracy {s['certified_accuracy_at_0']:.4f} at radius 0, "
                 f"{s['n_certified']}/{s['n']} correct with a non-zero radius, median radius of those {median}, "
                 f"{s['abstained']} abstained"]
        if self.cancelled:
            lines.append("cancelled: the certificates cover the images finished so far")
        return lines

    def to_dict(self) -> dict[str, Any]:
        n = len(self.certification.radii)
        return {**self.certification.to_dict(), "summary": self.summary(), "files": self.images.names[:n],
                "index": self.images.index[:n].tolist()}


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    from advinspect.core.defenses.smoothing import certify_set

    inputs.images.require_labels("certify")
    result = certify_set(inputs.clf, inputs.images.tensor(), inputs.images.labels_tensor(), config.sigma,
                         n0=config.n0, n=config.n, alpha=config.alpha, batch=config.batch_size, seed=config.seed,
                         progress=progress, cancel=cancel)
    return Result(result, inputs.images)
