"""compare: several models on one labelled set — clean vs robust accuracy, curves, ECE, saliency."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.tasks.base import Images, with_plugins


@dataclass(frozen=True)
class Config:
    attack: str = param("pgd", "attack for the robustness curves")
    eps: tuple[float, ...] = param((0.0, 0.05, 0.1), "budgets, comma-separated; fractions allowed", min=0.0)
    steps: int | None = param(None, "attack iterations", min=1)
    seed: int = param(0, "random seed", min=0)
    params: dict[str, Any] = field(default_factory=dict)  # other attack parameters


@dataclass
class Inputs:
    models: dict[str, Any]  # name -> Classifier
    images: Images


@dataclass
class Result:
    data: dict[str, Any]  # JSON-ready rows per model
    saliency: dict[str, np.ndarray]  # name -> (H, W) map of the compared image
    image: np.ndarray  # the image the saliency maps explain (C, H, W)

    @property
    def cancelled(self) -> bool:
        return bool(self.data.get("cancelled"))

    def summary(self) -> dict[str, Any]:
        return {"attack": self.data["attack"], "eps": self.data["eps"][-1] if self.data["eps"] else None,
                "models": {r["model"]: {"clean_accuracy": r["clean_accuracy"], "robust_accuracy": r["robust_accuracy"],
                                        "ece": r["ece"]} for r in self.data["models"]},
                "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        eps = self.data["eps"][-1] if self.data["eps"] else 0.0
        lines = [f"{'model':<32} {'clean':>7} {'robust':>7} {'ECE':>7}  (robust at eps={eps:.4g}, {self.data['attack']})"]
        for row in self.data["models"]:
            robust = "-" if row["robust_accuracy"] is None else f"{row['robust_accuracy']:7.4f}"
            lines.append(f"{row['model'][-32:]:<32} {row['clean_accuracy']:7.4f} {robust:>7} {row['ece']:7.4f}")
        if self.cancelled:
            lines.append("cancelled: the table holds the models finished so far")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {**self.data, "summary": self.summary()}


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    from advinspect.core.compare import compare_models

    inputs.images.require_labels("compare")
    with_plugins()
    params = {**config.params, **({"steps": config.steps} if config.steps else {})}
    data = compare_models(inputs.models, inputs.images.tensor(), inputs.images.labels_tensor(), attack=config.attack,
                          eps=tuple(config.eps), params=params, seed=config.seed, progress=progress, cancel=cancel)
    maps = data.pop("saliency")
    image = np.asarray(inputs.images.x[data["saliency_index"]], dtype=np.float32)
    return Result(data, maps, image)
