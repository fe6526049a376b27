"""Randomized smoothing (Cohen, Rosenfeld & Kolter 2019): the smoothed classifier predicts the
class the base model returns most often under Gaussian noise, and CERTIFY gives an L2 radius
within which that prediction provably holds (with probability 1 - alpha).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import beta, binomtest, norm

from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.models.base import Classifier

ABSTAIN = -1


def _counts(clf: Classifier, x: torch.Tensor, sigma: float, n: int, batch: int,
            generator: torch.Generator) -> np.ndarray:
    """Class counts of the base classifier on n noisy copies of one image (noise in pixel units)."""
    lo, hi = clf.spec.value_range
    counts = np.zeros(clf.num_classes, dtype=np.int64)
    remaining = n
    with torch.no_grad():
        while remaining > 0:
            size = min(batch, remaining)
            copies = x.unsqueeze(0).expand(size, *x.shape).to(clf.device)
            noise = torch.randn(copies.shape, generator=generator, device=clf.device) * sigma * (hi - lo)
            pred = clf.logits(copies + noise).argmax(1).cpu().numpy()
            counts += np.bincount(pred, minlength=clf.num_classes)
            remaining -= size
    return counts


def lower_confidence_bound(k: int, n: int, alpha: float) -> float:
    """One-sided Clopper-Pearson lower bound on a binomial proportion."""
    return float(beta.ppf(alpha, k, n - k + 1)) if k > 0 else 0.0


@dataclass
class Certificate:
    prediction: int  # ABSTAIN (-1) when the bound is not above 1/2
    radius: float  # certified L2 radius in pixel units (0 when abstaining)
    p_lower: float


def predict(clf: Classifier, x: torch.Tensor, sigma: float, n: int = 100, alpha: float = 0.001,
            batch: int = 1000, seed: int = 0) -> int:
    """Smoothed prediction with abstain (Cohen et al. PREDICT): a two-sided test on the top two."""
    generator = torch.Generator(device=clf.device).manual_seed(seed)
    counts = _counts(clf, x, sigma, n, batch, generator)
    top2 = counts.argsort()[::-1][:2]
    a, b = int(counts[top2[0]]), int(counts[top2[1]])
    return int(top2[0]) if binomtest(a, a + b, 0.5).pvalue <= alpha else ABSTAIN


def certify(clf: Classifier, x: torch.Tensor, sigma: float, n0: int = 100, n: int = 1000, alpha: float = 0.001,
            batch: int = 1000, seed: int = 0) -> Certificate:
    """Cohen et al. CERTIFY: guess the class from n0 samples, bound its probability from n more."""
    generator = torch.Generator(device=clf.device).manual_seed(seed)
    guess = int(_counts(clf, x, sigma, n0, batch, generator).argmax())
    counts = _counts(clf, x, sigma, n, batch, generator)
    p_lower = lower_confidence_bound(int(counts[guess]), n, alpha)
    if p_lower <= 0.5:
        return Certificate(ABSTAIN, 0.0, p_lower)
    lo, hi = clf.spec.value_range
    return Certificate(guess, float(sigma * (hi - lo) * norm.ppf(p_lower)), p_lower)


@dataclass
class CertificationResult:
    sigma: float
    n0: int
    n: int
    alpha: float
    predictions: list[int]
    radii: list[float]
    correct: list[bool]
    curve_radius: list[float]
    curve_certified_accuracy: list[float]
    cancelled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def certify_set(clf: Classifier, x: torch.Tensor, y: torch.Tensor, sigma: float, *, n0: int = 100, n: int = 1000,
                alpha: float = 0.001, batch: int = 1000, seed: int = 0, index: Sequence[int] | None = None,
                progress: Progress = NO_PROGRESS, cancel: CancelToken = NEVER) -> CertificationResult:
    """Certify every image; image i's noise is seeded by `seed + index[i]` (its global sample
    index, default its position), so a batch or a shard of a set certifies each image as the
    whole set does. Certified accuracy at radius r counts images correct with radius >= r."""
    predictions, radii = [], []
    for i in range(len(x)):
        if cancel.cancelled:
            break
        cert = certify(clf, x[i], sigma, n0, n, alpha, batch, seed + (i if index is None else int(index[i])))
        predictions.append(cert.prediction)
        radii.append(cert.radius)
        progress(i + 1, len(x), f"certified {i + 1}/{len(x)}")
    return certification(sigma, n0, n, alpha, predictions, radii, y[: len(predictions)].tolist(),
                         cancelled=bool(cancel.cancelled))


def certification(sigma: float, n0: int, n: int, alpha: float, predictions: list[int], radii: list[float],
                  labels: list[int], *, cancelled: bool = False) -> CertificationResult:
    """The result of certified images (a whole set, or rows merged from its batches): the
    certified-accuracy curve over the images certified, on 21 radii up to the largest correct one."""
    correct = [p == t for p, t in zip(predictions, labels, strict=True)]
    grid = np.linspace(0, max([r for r, c in zip(radii, correct, strict=True) if c] or [0]) + 1e-9, 21)
    total = max(1, len(predictions))
    accuracy = [sum(c and r >= g for r, c in zip(radii, correct, strict=True)) / total for g in grid]
    return CertificationResult(sigma, n0, n, alpha, list(predictions), list(radii), correct, grid.tolist(), accuracy,
                               cancelled=cancelled)
