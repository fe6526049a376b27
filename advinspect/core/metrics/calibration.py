"""Calibration: reliability bins, ECE/MCE, NLL, Brier score, and temperature scaling.

ECE follows Guo et al. 2017: equal-width bins over the max-softmax confidence (15 by default),
ECE = sum_b |B|/n * |acc(B) - conf(B)|. Temperature scaling is fitted by NLL on a held-out split,
optimising log T so that T stays positive.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    accuracy: float | None
    confidence: float | None


@dataclass
class Calibration:
    """Calibration of a set of predictions."""

    n: int
    accuracy: float
    ece: float
    mce: float
    nll: float
    brier: float
    bins: list[ReliabilityBin]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bin_index(confidence: np.ndarray, n_bins: int = 15) -> np.ndarray:
    """The reliability bin of each confidence: (lower, upper], the first bin also holds 0."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.clip(np.searchsorted(edges, np.asarray(confidence), side="left") - 1, 0, n_bins - 1)


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> list[ReliabilityBin]:
    """Equal-width bins on [0, 1]; a bin holds confidences in (lower, upper] (the first also 0)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = bin_index(confidence, n_bins)
    bins = []
    for b in range(n_bins):
        mask = index == b
        count = int(mask.sum())
        bins.append(ReliabilityBin(
            float(edges[b]), float(edges[b + 1]), count,
            float(correct[mask].mean()) if count else None,
            float(confidence[mask].mean()) if count else None,
        ))
    return bins


def calibration(logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, n_bins: int = 15,
                temperature: float = 1.0) -> Calibration:
    """All calibration metrics from logits (N, K) and true labels (N,)."""
    return calibration_from_samples(*sample_calibration(logits, labels, temperature), n_bins)


def sample_calibration(logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray,
                       temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per sample (float64): max-softmax confidence, correct, negative log-likelihood of the true
    class and Brier score: what a streamed verb keeps per row instead of the logits."""
    logits = torch.as_tensor(logits, dtype=torch.float64) / temperature
    labels = torch.as_tensor(labels, dtype=torch.long)
    probs = logits.softmax(1)
    confidence, pred = probs.max(1)
    nll = F.cross_entropy(logits, labels, reduction="none") if len(labels) else torch.zeros(0, dtype=torch.float64)
    onehot = F.one_hot(labels, probs.shape[1]).double()
    brier = ((probs - onehot) ** 2).sum(1)
    return confidence.numpy(), (pred == labels).numpy(), nll.numpy(), brier.numpy()


def calibration_from_samples(confidence: np.ndarray, correct: np.ndarray, nll: np.ndarray, brier: np.ndarray,
                             n_bins: int = 15) -> Calibration:
    """The metrics from per-sample values (`sample_calibration`, or rows merged from batches)."""
    conf = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    bins = reliability_bins(conf, correct, n_bins)
    n = len(conf)
    gaps = [abs(b.accuracy - b.confidence) for b in bins if b.count]
    ece = sum(b.count / n * abs(b.accuracy - b.confidence) for b in bins if b.count) if n else 0.0
    return Calibration(
        n=n,
        accuracy=float(correct.mean()) if n else 0.0,
        ece=float(ece),
        mce=float(max(gaps)) if gaps else 0.0,
        nll=float(np.mean(nll)) if n else 0.0,
        brier=float(np.mean(brier)) if n else 0.0,
        bins=bins,
    )


def fit_temperature(logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray,
                    max_iter: int = 200) -> float:
    """The temperature T > 0 minimising NLL of softmax(logits / T) (LBFGS on log T)."""
    logits = torch.as_tensor(logits, dtype=torch.float64)
    labels = torch.as_tensor(labels, dtype=torch.long)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.exp().item())


def split_indices(n: int, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(fit, held_out) index arrays: `fraction` of the set is held out to evaluate."""
    order = np.random.default_rng(seed).permutation(n)
    held = int(round(n * fraction))
    return np.sort(order[held:]), np.sort(order[:held])
