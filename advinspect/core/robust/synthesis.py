"""Image synthesis with a classifier (Santurkar et al. 2019, "Image synthesis with a single
(robust) classifier") and representation inversion, on one engine: L2 projected descent from a
seed, through the per-norm operations of `core/attacks/ops.py`.

A robust model's input gradients are perceptually aligned, so descending the cross-entropy of a
target class from a class-conditional seed draws that class; a standard model's gradients give
noise that fools it but no person (and no independent classifier). That contrast is the check.

Seeds: per class a Gaussian fitted to that class's images downsampled to `seed_size` (covariance
+ 1e-4·I, as the reference), upsampled and clamped to the value range; uniform noise; or given
images. Every random draw comes from a generator seeded by the run seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from advinspect.core.attacks import ops
from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, CancelToken
from advinspect.core.models.base import Classifier

COVARIANCE_JITTER = 1e-4  # the reference's + 1e-4·I: keeps a class covariance positive definite


def default_eps(shape: tuple[int, ...]) -> float:
    """The L2 budget scaled to the image size: the reference's 40 on CIFAR (3·32·32, sqrt(d) ≈ 55)
    is 0.72·sqrt(d); a 1×32×32 digit gets 23."""
    return 0.72 * float(np.sqrt(np.prod(shape)))


def default_step(eps: float, steps: int) -> float:
    """Step size: 2.5·eps/steps, the usual PGD rule, so the path can cross the ball (the
    reference's step 1 at eps 40 and 60 steps is 1.5·eps/steps)."""
    return 2.5 * eps / max(steps, 1)


# --- seeds ----------------------------------------------------------------------------------
def gaussian_seeds(x: torch.Tensor, y: torch.Tensor, classes: list[int], per_class: int, *, seed_size: int,
                   bounds: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    """`per_class` draws per class from a Gaussian fitted to that class's images at
    `seed_size`×`seed_size`, upsampled back (bilinear) and clamped: (len(classes)·per_class, C, H, W)."""
    _, c, h, w = x.shape
    small_h, small_w = min(seed_size, h), min(seed_size, w)
    small = F.interpolate(x.float(), size=(small_h, small_w), mode="bilinear", align_corners=False).flatten(1)
    out = []
    for k in classes:
        members = small[y == k].double()
        if len(members) < 2:
            raise AdvInspectError(f"Gaussian seeds need at least 2 images of class {k}; found {len(members)} "
                                  "(give more labelled images or use --seed-kind noise)")
        mean = members.mean(0)
        cov = torch.cov(members.T).reshape(len(mean), len(mean)) + COVARIANCE_JITTER * torch.eye(len(mean),
                                                                                                 dtype=torch.float64)
        chol = torch.linalg.cholesky(cov)
        z = torch.randn(per_class, len(mean), generator=generator, dtype=torch.float64)
        out.append((mean + z @ chol.T).float())
    draws = torch.cat(out).view(-1, c, small_h, small_w)
    return F.interpolate(draws, size=(h, w), mode="bilinear", align_corners=False).clamp(*bounds)


def noise_seeds(n: int, shape: tuple[int, ...], *, bounds: tuple[float, float],
                generator: torch.Generator) -> torch.Tensor:
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand(n, *shape, generator=generator)


# --- the engine -------------------------------------------------------------------------------
@dataclass
class Descent:
    """One L2 projected-descent run: the loss to lower (per sample, summed), the budget and steps."""

    eps: float
    step_size: float
    steps: int
    bounds: tuple[float, float]


def l2_descent(seeds: torch.Tensor, loss: Callable[[torch.Tensor], torch.Tensor], descent: Descent, *,
               on_step: Callable[[int, torch.Tensor], None] | None = None,
               cancel: CancelToken = NEVER) -> tuple[torch.Tensor, int]:
    """Lower `loss(x)` (summed over the batch) by normalized-gradient steps projected into the L2
    ball of radius eps around each seed and the value range. Returns (images, steps done); a
    cancel stops after the current step."""
    x = seeds.clone()
    done = 0
    for step in range(descent.steps):
        if cancel.cancelled:
            break
        x_var = x.detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(loss(x_var), x_var)
        x = ops.project(ops.ascent_step(x, -grad, descent.step_size, "l2"), seeds, descent.eps, "l2",
                        *descent.bounds).detach()
        done = step + 1
        if on_step is not None:
            on_step(done, x)
    return x, done


def class_loss(clf: Classifier, targets: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Cross-entropy towards each image's target class (targeted synthesis)."""
    targets = targets.to(clf.device)
    return lambda x: F.cross_entropy(clf.logits(x), targets, reduction="sum")


def feature_fn(clf: Classifier, layer: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The representation a layer computes: 'logits', or a convolution layer by name (hooked as
    Grad-CAM hooks it, so torch.export programs work too)."""
    if layer in ("", "logits"):
        return clf.logits
    from advinspect.core.explain.saliency import (
        _cam_layer,  # the one place layers are found and hooked
    )

    module = _cam_layer(clf, layer)

    def features(x: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []
        handle = module.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            clf.logits(x)
        finally:
            handle.remove()
        return captured[-1]

    return features


def inversion_loss(features: Callable[[torch.Tensor], torch.Tensor],
                   reference: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Squared L2 distance between a layer's features of x and of the reference images."""
    with torch.no_grad():
        target = features(reference).detach()
    return lambda x: (features(x) - target).flatten(1).pow(2).sum()
