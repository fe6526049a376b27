"""detect: the feature-squeezing detector (Xu et al. 2018) on an attack's adversarials.

The detector scores the adversarials that fooled the model (status "flipped"): an adversarial
that changed nothing is no attack to detect. Given an earlier attack result, it reuses it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.status import FLIPPED
from advinspect.core.tasks import attack as attack_task
from advinspect.core.tasks.base import Images


@dataclass(frozen=True)
class Config:
    attack: str = param("pgd", "attack whose adversarials to detect")
    fpr: float = param(0.05, "false-positive rate allowed on the clean images", min=0.0, max=1.0)
    seed: int = param(0, "random seed", min=0)
    params: dict[str, Any] = field(default_factory=dict)  # the attack's parameters (eps, ...)


@dataclass
class Inputs:
    clf: Any
    images: Images
    attacked: attack_task.Result | None = None  # reuse these adversarials instead of attacking


@dataclass
class Result:
    report: Any  # core DetectionReport
    attack: str
    params: dict[str, Any]
    cancelled: bool = False

    def summary(self) -> dict[str, Any]:
        r = self.report
        return {"attack": self.attack, "threshold": r.threshold, "clean_fpr": r.clean_fpr,
                "detection_rate": r.detection_rate, "auc": r.auc, "n_clean": r.n_clean,
                "n_adversarial": r.n_adversarial, "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        r = self.report
        return [f"feature squeezing: threshold {r.threshold:.4f} (clean false positives {r.clean_fpr:.2%}), "
                f"detects {r.detection_rate:.2%} of {r.n_adversarial} {self.attack} adversarials that fooled "
                f"the model, ROC AUC {r.auc:.4f}"]

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "attack": self.attack, "params": self.params, "summary": self.summary()}


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    import torch

    from advinspect.core.defenses.detection import evaluate_detector

    attacked = inputs.attacked
    if attacked is None:
        attacked = attack_task.run(attack_task.Inputs(inputs.clf, inputs.images),
                                   attack_task.Config(attack=config.attack, seed=config.seed, params=config.params),
                                   progress=progress, cancel=cancel)
    fooled = np.array([s == FLIPPED for s in attacked.statuses], dtype=bool)
    if not fooled.any():
        raise AdvInspectError(f"{attacked.attack.attack} fooled the model on no image, so there is nothing to "
                              "detect; raise eps")
    clean = attacked.images.tensor()
    adversarial = torch.from_numpy(np.ascontiguousarray(attacked.attack.x_adv[fooled]))
    report = evaluate_detector(inputs.clf, clean, adversarial, target_fpr=config.fpr)
    return Result(report, attacked.attack.attack, dict(attacked.attack.params), cancelled=attacked.cancelled)
