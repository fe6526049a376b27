"""Per-norm operations written once: random starts, projections, ascent steps, and the plain
projected-ascent loop. The attacks and the adversaries of adversarial training all use these,
so an Linf ball means the same thing everywhere."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from advinspect.core.attacks.seeding import SampleRandom


def _view(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.ndim - 1)))


def l2_normalize(g: torch.Tensor) -> torch.Tensor:
    norms = g.flatten(1).norm(dim=1).clamp_min(1e-12)
    return g / _view(norms, g)


def project_linf(x_adv: torch.Tensor, x: torch.Tensor, eps: float, lo: float, hi: float) -> torch.Tensor:
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp_(lo, hi)


def project_l2(x_adv: torch.Tensor, x: torch.Tensor, eps: float, lo: float, hi: float) -> torch.Tensor:
    delta = x_adv - x
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    delta = delta * _view(torch.clamp(eps / norms, max=1.0), x)
    return (x + delta).clamp_(lo, hi)


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str, lo: float, hi: float) -> torch.Tensor:
    """Into the eps ball of `norm` around `x`, then into the value range."""
    return (project_linf if norm == "linf" else project_l2)(x_adv, x, eps, lo, hi)


def random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | SampleRandom,
                 rows: torch.Tensor | None = None) -> torch.Tensor:
    """A random offset inside the eps ball (uniform per coordinate for Linf, a random direction
    and radius for L2), drawn only from the run's seeded randomness: a `SampleRandom` (the
    engine's `ctx.samples`, per-sample streams; `rows` names the batch rows of a subset) or a
    plain generator (numbers then depend on the batch layout)."""
    if isinstance(generator, SampleRandom):
        rand = partial(generator.rand, rows=rows)
        randn = partial(generator.randn, rows=rows)
    else:
        def rand(shape: tuple[int, ...]) -> torch.Tensor:
            return torch.rand(shape, generator=generator, device=x.device)

        def randn(shape: tuple[int, ...]) -> torch.Tensor:
            return torch.randn(shape, generator=generator, device=x.device)
    if norm == "linf":
        return (rand(x.shape) * 2 - 1) * eps
    direction = l2_normalize(randn(x.shape))
    radius = rand((len(x),))
    return direction * _view(radius, x) * eps


def ascent_step(x_adv: torch.Tensor, grad: torch.Tensor, step_size: float, norm: str) -> torch.Tensor:
    """One steepest-ascent step for the norm: the gradient's sign (Linf) or its direction (L2)."""
    return x_adv + step_size * (grad.sign() if norm == "linf" else l2_normalize(grad))


def projected_ascent(x: torch.Tensor, x_start: torch.Tensor, gradient: Callable[[torch.Tensor], torch.Tensor], *,
                     eps: float, step_size: float, steps: int, norm: str, bounds: tuple[float, float]) -> torch.Tensor:
    """`steps` projected ascent steps from `x_start` on the loss whose input gradient `gradient`
    returns: the loop the training adversaries run (no early stop, no bookkeeping)."""
    lo, hi = bounds
    x_adv = x_start
    for _ in range(steps):
        x_adv = project(ascent_step(x_adv, gradient(x_adv), step_size, norm), x, eps, norm, lo, hi)
    return x_adv.detach()
