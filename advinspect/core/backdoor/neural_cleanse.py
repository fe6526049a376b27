"""Neural Cleanse (Wang et al. 2019): reverse-engineer, for every class, the smallest trigger
(mask m, pattern p) that sends clean images there, x' = (1 − m)·x + m·p; a backdoor's target needs
a far smaller mask than the others. Anomaly index: |L1(m_c) − median| / (1.4826 · MAD), flagged
when the class's mask is below the median and the index exceeds the threshold (2 in the paper).

The L1 weight follows the paper's schedule: raised ×1.5 while the attack succeeds (≥ 99 %),
lowered otherwise, and the smallest successful mask is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress


@dataclass
class ReversedTrigger:
    mask: np.ndarray  # (H, W) in [0, 1]
    pattern: np.ndarray  # (C, H, W) in [0, 1] of the value range
    l1: float
    success: float  # fraction of the clean images sent to the class


def reverse_trigger(clf: object, x: torch.Tensor, target: int, steps: int = 300, lr: float = 0.1,
                    lam: float = 1e-3, seed: int = 0, cancel: CancelToken = NEVER) -> ReversedTrigger:
    lo, hi = clf.spec.value_range  # type: ignore[attr-defined]
    generator = torch.Generator().manual_seed(seed + target)
    c, h, w = x.shape[1:]
    mask_raw = (torch.randn(1, 1, h, w, generator=generator) * 0.1 - 2.0).requires_grad_(True)
    pattern_raw = (torch.randn(1, c, h, w, generator=generator) * 0.1).requires_grad_(True)
    optimizer = torch.optim.Adam([mask_raw, pattern_raw], lr=lr, betas=(0.5, 0.9))
    y = torch.full((len(x),), target, dtype=torch.long)
    best: ReversedTrigger | None = None
    last = ReversedTrigger(np.zeros((h, w)), np.zeros((c, h, w)), float(h * w), 0.0)
    successes = []
    for step in range(steps):
        if cancel.cancelled:
            break
        mask = torch.sigmoid(mask_raw)
        pattern = torch.sigmoid(pattern_raw)
        xs = (1 - mask) * x + mask * (lo + (hi - lo) * pattern)
        with torch.enable_grad():
            logits = clf.logits(xs)  # type: ignore[attr-defined]
            loss = torch.nn.functional.cross_entropy(logits, y.to(logits.device)) + lam * mask.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        success = float((logits.argmax(1).cpu() == y).float().mean())
        successes.append(success)
        l1 = float(mask.detach().sum())
        last = ReversedTrigger(mask.detach()[0, 0].numpy().copy(), pattern.detach()[0].numpy().copy(), l1, success)
        if success >= 0.99 and (best is None or l1 < best.l1):
            best = last
        if (step + 1) % 10 == 0:  # the paper's lambda schedule, on the last ten steps
            lam = lam * 1.5 if min(successes[-10:]) >= 0.99 else lam / 1.5
    return best or last


def anomaly_index(l1: np.ndarray) -> np.ndarray:
    """|L1 − median| / (1.4826 · median absolute deviation); 0 where all are alike."""
    l1 = np.asarray(l1, np.float64)
    median = np.median(l1)
    mad = 1.4826 * np.median(np.abs(l1 - median))
    if mad <= 0:
        return np.zeros_like(l1)
    return np.abs(l1 - median) / mad


def flagged_classes(l1: np.ndarray, threshold: float = 2.0) -> list[int]:
    index = anomaly_index(l1)
    return [int(k) for k in np.flatnonzero((index > threshold) & (np.asarray(l1) < np.median(l1)))]


def neural_cleanse(clf: object, x: torch.Tensor, steps: int = 300, lr: float = 0.1, lam: float = 1e-3,
                   seed: int = 0, progress: Progress = NO_PROGRESS,
                   cancel: CancelToken = NEVER) -> list[ReversedTrigger]:
    """One reversed trigger per class, in class order (fewer when cancelled)."""
    classes = clf.num_classes  # type: ignore[attr-defined]
    out = []
    for k in range(classes):
        progress(k, classes, f"reversing the trigger of class {k}")
        if cancel.cancelled:
            break
        found = reverse_trigger(clf, x, k, steps, lr, lam, seed, cancel)
        if cancel.cancelled:  # a half-optimised trigger would read as a small mask
            break
        out.append(found)
    if not cancel.cancelled:
        progress(classes, classes, "done")
    return out
