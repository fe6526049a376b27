"""Feature-squeezing detection (Xu et al. 2018): an input whose prediction moves a lot under
squeezing (bit depth, median smoothing) is flagged as adversarial. The threshold is the score
quantile on clean data that gives the target false-positive rate."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from advinspect.core.defenses.transforms import BitDepth, MedianSmoothing, Transform
from advinspect.core.models.base import Classifier

DEFAULT_SQUEEZERS: tuple[Transform, ...] = (BitDepth(4), MedianSmoothing(2))


def squeeze_scores(clf: Classifier, x: torch.Tensor, squeezers: tuple[Transform, ...] = DEFAULT_SQUEEZERS,
                   batch_size: int = 256) -> np.ndarray:
    """Max over squeezers of the L1 distance between softmax outputs on x and on squeezed x."""
    lo, hi = clf.spec.value_range
    scores = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size].to(clf.device).float()
            base = clf.logits(xb).softmax(1)
            unit = (xb - lo) / (hi - lo)
            distances = [(clf.logits(s.apply(unit) * (hi - lo) + lo).softmax(1) - base).abs().sum(1)
                         for s in squeezers]
            scores.append(torch.stack(distances).max(0).values.cpu())
    return torch.cat(scores).numpy() if scores else np.zeros(0, np.float32)


def roc_curve(clean: np.ndarray, adversarial: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(false-positive rates, true-positive rates, AUC) over all thresholds (higher = adversarial)."""
    scores = np.concatenate([clean, adversarial])
    labels = np.concatenate([np.zeros(len(clean)), np.ones(len(adversarial))])
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    distinct = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    tps = np.cumsum(labels)[distinct]
    fps = (distinct + 1) - tps
    tpr = np.r_[0, tps / max(1, labels.sum())]
    fpr = np.r_[0, fps / max(1, len(labels) - labels.sum())]
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


@dataclass
class DetectionReport:
    threshold: float
    target_fpr: float
    clean_fpr: float
    detection_rate: float  # over the adversarials that fooled the model
    auc: float
    n_clean: int
    n_adversarial: int
    roc_fpr: list[float] = field(default_factory=list)
    roc_tpr: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_detector(clf: Classifier, clean: torch.Tensor, adversarial: torch.Tensor, *,
                      target_fpr: float = 0.05, squeezers: tuple[Transform, ...] = DEFAULT_SQUEEZERS
                      ) -> DetectionReport:
    """Threshold on clean scores at `target_fpr`, then detection rate and ROC on `adversarial`."""
    clean_scores = squeeze_scores(clf, clean, squeezers)
    adv_scores = squeeze_scores(clf, adversarial, squeezers)
    threshold = float(np.quantile(clean_scores, 1 - target_fpr)) if len(clean_scores) else 0.0
    fpr, tpr, auc = roc_curve(clean_scores, adv_scores)
    return DetectionReport(
        threshold=threshold, target_fpr=target_fpr,
        clean_fpr=float((clean_scores > threshold).mean()) if len(clean_scores) else 0.0,
        detection_rate=float((adv_scores > threshold).mean()) if len(adv_scores) else 0.0,
        auc=auc, n_clean=len(clean_scores), n_adversarial=len(adv_scores),
        roc_fpr=fpr.tolist(), roc_tpr=tpr.tolist(),
    )
