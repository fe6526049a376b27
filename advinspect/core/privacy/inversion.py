"""MIFace (Fredrikson, Jha & Ristenpart 2015): reconstruct a class's representative input by
gradient descent on c(x) = 1 − p_class(x) (+ an optional total-variation prior), from a flat gray
image, projected into the value range after each step.

The stopping rule, stated because ART's is inverted (it continues while the cost does *not*
improve, so it always runs its maximum number of steps): each image stops as soon as its cost is
at most `gamma`, or when its best cost has not improved by more than `tolerance` over the last
`window` steps; otherwise at `max_steps`. The best image seen is returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from advinspect.core.errors import GradientsUnavailableError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress


@dataclass
class Inversion:
    images: np.ndarray  # (K, C, H, W) the best reconstruction of each class
    cost: np.ndarray  # (K,) its cost
    confidence: np.ndarray  # (K,) the model's probability of the class for it
    iterations: np.ndarray  # (K,) steps taken until the stop
    stopped: list[str]  # why each one stopped: "gamma", "no improvement", "max steps", "cancelled"
    cancelled: bool = False


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic TV per image, mean absolute difference of neighbours."""
    dh = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().flatten(1).mean(1)
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().flatten(1).mean(1)
    return dh + dw


def miface(clf: Any, classes: list[int], *, max_steps: int, step_size: float, window: int, tolerance: float,
           gamma: float, tv_weight: float, progress: Progress = NO_PROGRESS,
           cancel: CancelToken = NEVER) -> Inversion:
    if not clf.has_gradients:
        raise GradientsUnavailableError(f"invert needs the model's gradients; {clf.describe_short()} has none")
    lo, hi = clf.spec.value_range
    k = len(classes)
    target = torch.as_tensor(classes, dtype=torch.long)
    x = torch.full((k, *clf.spec.input_shape), (lo + hi) / 2, dtype=torch.float32)
    best, best_cost = x.clone(), torch.full((k,), float("inf"))
    last_improved = torch.zeros(k, dtype=torch.long)
    iterations = torch.zeros(k, dtype=torch.long)
    active = torch.ones(k, dtype=torch.bool)
    stopped = ["max steps"] * k
    cancelled = False
    for step in range(max_steps + 1):
        if cancel.cancelled:
            cancelled = True
            for i in np.flatnonzero(active.numpy()):
                stopped[i] = "cancelled"
            break
        rows = active.nonzero().flatten()
        if not len(rows):
            break
        xr = x[rows].clone().requires_grad_(True)
        with torch.enable_grad():
            p = clf.logits(xr).float().softmax(1).gather(1, target[rows].to(clf.device).view(-1, 1)).flatten().cpu()
            cost = 1 - p + (tv_weight * total_variation(xr) if tv_weight > 0 else 0.0)
            (grad,) = torch.autograd.grad(cost.sum(), xr)
        cost = cost.detach()
        better = cost < best_cost[rows] - tolerance
        improved = rows[better]
        best[improved], best_cost[improved] = xr.detach()[better], cost[better]
        last_improved[improved] = step
        iterations[rows] = step
        done_gamma = best_cost[rows] <= gamma
        done_window = (step - last_improved[rows]) >= window
        for i, g, w in zip(rows.tolist(), done_gamma.tolist(), done_window.tolist(), strict=True):
            if g or w:
                stopped[i] = "gamma" if g else "no improvement"
                active[i] = False
        if step == max_steps:
            break
        still = active[rows]
        x[rows[still]] = (xr.detach()[still] - step_size * grad[still].cpu()).clamp(lo, hi)
        progress(step + 1, max_steps, f"{int(active.sum())} of {k} classes still improving")
    with torch.no_grad():
        confidence = clf.logits(best).float().softmax(1).cpu()[torch.arange(k), target]
    return Inversion(best.numpy(), best_cost.numpy(), confidence.numpy().astype(np.float64), iterations.numpy(),
                     stopped, cancelled)
