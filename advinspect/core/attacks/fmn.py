"""FMN, the fast minimum-norm attack (Pintor, Roli, Brendel & Biggio, NeurIPS 2021), L0/L1/L2/Linf.

CW-quality minimal perturbations in one run of about 100 steps, with no trade-off constant to
search. Each step moves the perturbation δ along the normalised gradient of the logit margin
(towards the boundary), then projects it onto an Lp ball of radius ε that adapts per sample:
- not adversarial yet, none found: ε = (||δ|| + |margin| / ||∇margin||_dual)(1 + 0.001), the
  linearised distance to the boundary, overshot by 0.1 % (without it a locally linear model is
  only ever stepped exactly onto the boundary, where the tie goes to the true class);
- adversarial: ε shrinks to min(ε (1 - γ), ||best δ||), pulling the point back to the boundary;
- not adversarial, one found before: ε grows by (1 + γ).
The gradient step and γ both follow a cosine annealing (step: max → max/100; γ: γ0 → 0.001).
L0 has no linear distance to the boundary: ε counts the components allowed to change, starts at
1, shrinks by max(1, ⌊εγ⌋) while adversarial (never above the best count) and grows by
max(1, ⌊εγ⌋) while not; the projection keeps the ε largest |δ_i| (foolbox keeps ε + 1: it reads
the sorted list at index ε). L1 projects onto the L1 ball exactly (Duchi et al. 2008). Every norm
steps along the L2-normalised gradient.
Each sample keeps its smallest adversarial. Samples misclassified before the attack come back
unchanged; a sample never adversarial comes back as its original image.

Follows foolbox's `L0FMNAttack` / `L1FMNAttack` / `L2FMNAttack` / `LInfFMNAttack` (the oracles in
the tests) step for step, on the samples that need it only, with one forward and one backward
pass per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from advinspect.core.attacks.apgd import SubsetContext
from advinspect.core.attacks.base import Attack, AttackContext, BatchOutput, margin_success, param
from advinspect.core.attacks.registry import register
from advinspect.core.models.base import Classifier

_TINY = 1e-12
_GAMMA_FINAL = 0.001


@dataclass(frozen=True)
class FMNParams:
    norm: str = param("l2", "norm of the minimal perturbation", choices=("l0", "l1", "l2", "linf"))
    steps: int = param(100, "iterations", min=1, max=100_000)
    max_stepsize: float = param(1.0, "first gradient step (L2 length of the move; cosine-annealed)",
                                min=1e-8, max=1e3)
    min_stepsize: float | None = param(None, "last gradient step; empty means max_stepsize/100",
                                       min=0.0, max=1e3)
    gamma: float = param(0.05, "first relative change of the norm bound ε per step (annealed "
                               "to 0.001)", min=0.0, max=1.0)


def _view(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.ndim - 1)))


def lp_norm(d: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-sample size of δ; L0 counts the components that changed at all."""
    flat = d.flatten(1)
    if norm == "l0":
        return (flat != 0).sum(1).to(d.dtype)
    if norm == "l1":
        return flat.abs().sum(1)
    return flat.norm(dim=1) if norm == "l2" else flat.abs().amax(1)


def dual_norm(g: torch.Tensor, norm: str) -> torch.Tensor:
    """The dual of L1 is Linf, of L2 is L2, of Linf is L1: distances to a linear boundary divide
    by it. (L0 has none: its ε is a count, not a distance.)"""
    flat = g.flatten(1)
    if norm == "l1":
        return flat.abs().amax(1)
    return flat.norm(dim=1) if norm == "l2" else flat.abs().sum(1)


def _project_l1(delta: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Euclidean projection onto the L1 ball (Duchi et al. 2008): soft-threshold |δ| by the θ
    that makes the kept mass exactly ε; samples already inside stay as they are.

    θ depends only on the ρ largest |δ_i| that survive, and the condition that defines ρ holds
    exactly for ranks 1..ρ, so a top-k suffices whenever it fails at rank k; k grows (up to a
    full sort) only while it does not. FMN's L1 δ keeps ~100 of 1024 inputs: a top-128 is 3x
    cheaper than the sort (measured, 40 x 1024, one thread)."""
    flat = delta.flatten(1)
    size = flat.abs().sum(1)
    inside = size <= eps
    radius = torch.where(inside, size, eps).unsqueeze(1)  # finite where ε is still ∞
    width = flat.shape[1]
    k = min(width, 128)
    while True:
        mu = flat.abs().topk(k, dim=1).values
        cumsum = mu.cumsum(1)
        ranks = torch.arange(1, k + 1, device=flat.device, dtype=flat.dtype)
        holds = mu * ranks > cumsum - radius
        if k == width or not (holds[:, -1] & ~inside).any():
            break
        k = min(width, 4 * k)
    rho = (holds * ranks).amax(1, keepdim=True).clamp_min(1)
    theta = (cumsum.gather(1, rho.long() - 1) - radius) / rho
    shrunk = (flat.abs() - theta).clamp_min(0) * flat.sign()
    return torch.where(inside.unsqueeze(1), flat, shrunk).view_as(delta)


def _project_l0(delta: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Onto the L0 ball: keep the ε largest |δ_i| per sample (ties at the threshold kept too).
    A top-k of the largest ε, not a full sort: ε is mostly a few dozen of hundreds of inputs."""
    flat = delta.flatten(1)
    k = eps.clamp(1, flat.shape[1]).long().unsqueeze(1)
    top = flat.abs().topk(int(k.max()), dim=1).values
    threshold = top.gather(1, k - 1)
    return torch.where(flat.abs() >= threshold, flat, 0.0).view_as(delta)


def project(delta: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    """δ onto the Lp ball of per-sample radius ε."""
    if norm == "l0":
        return _project_l0(delta, eps)
    if norm == "l1":
        return _project_l1(delta, eps)
    if norm == "l2":
        scale = (eps / lp_norm(delta, "l2").clamp_min(_TINY)).clamp(max=1.0)
        return delta * _view(scale, delta)
    bound = _view(eps, delta)
    return torch.maximum(torch.minimum(delta, bound), -bound)


def _next_l0_eps(eps: torch.Tensor, hit: torch.Tensor, best_count: torch.Tensor,
                 gamma: float) -> torch.Tensor:
    """L0's ε is a count: one component (or ⌊εγ⌋ of them) fewer while adversarial, never above
    the best count found, one (or ⌊εγ⌋) more while not; at least 1."""
    shrink = torch.minimum(torch.minimum(eps - 1, torch.floor(eps * (1 - gamma))), best_count)
    grow = torch.maximum(eps + 1, torch.floor(eps * (1 + gamma)))
    return torch.where(hit, shrink, grow).clamp_min(1)


def margin_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Per sample, negative exactly when adversarial: z_y - max_{j≠y} z_j (untargeted), or
    max_{j≠t} z_j - z_t (targeted)."""
    cls = target if target is not None else y
    own = logits.gather(1, cls.view(-1, 1)).squeeze(1)
    other = logits.scatter(1, cls.view(-1, 1), float("-inf")).amax(1)
    return other - own if target is not None else own - other


def cosine(start: float, end: float, i: int, steps: int) -> float:
    return end + (start - end) * (1 + math.cos(math.pi * i / steps)) / 2


def fmn(clf: Classifier, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None,
        ctx: AttackContext, p: FMNParams) -> torch.Tensor:
    """The FMN iterations on samples not yet adversarial; returns the best adversarials."""
    lo, hi = clf.spec.value_range
    n = len(x)
    min_step = p.min_stepsize if p.min_stepsize is not None else p.max_stepsize / 100
    delta = torch.zeros_like(x)
    worst = lp_norm(torch.maximum(x - lo, hi - x), p.norm) if p.norm != "l0" else \
        torch.full((n,), float(x[0].numel()), device=x.device)
    best_norm = worst.clone()
    best_delta = delta.clone()
    found = torch.zeros(n, dtype=torch.bool, device=x.device)
    eps = torch.full((n,), 1.0 if p.norm == "l0" else float("inf"), device=x.device)
    for i in range(p.steps):
        stepsize = cosine(p.max_stepsize, min_step, i, p.steps)
        gamma = cosine(p.gamma, _GAMMA_FINAL, i, p.steps)
        xa = (x + delta).requires_grad_(True)
        with torch.enable_grad():
            logits = clf.logits(xa)
            loss = margin_loss(logits, y, target)
            (grad,) = torch.autograd.grad(-loss.sum(), xa)
        with torch.no_grad():
            # only the directions the value range allows: a pixel at a limit cannot move out,
            # and letting it take a share of the normalised step stalls the digits' black
            # background (measured: 76 % success instead of 100 % on the demo images)
            at_lo, at_hi = xa <= lo, xa >= hi
            grad = torch.where((at_lo & (grad < 0)) | (at_hi & (grad > 0)), 0.0, grad)
            loss = loss.detach()
            hit = margin_success(logits.detach(), y, target)
            size = lp_norm(delta, p.norm)
            better = hit & (size <= best_norm)
            found |= hit
            best_norm = torch.where(better, size, best_norm)
            best_delta = torch.where(_view(better, delta), delta, best_delta)
            if p.norm == "l0":
                eps = _next_l0_eps(eps, hit, best_norm, gamma)
            else:
                to_boundary = loss.abs() / dual_norm(grad, p.norm).clamp_min(_TINY)
                eps = torch.where(hit, torch.minimum(eps * (1 - gamma), best_norm),
                                  torch.where(found, eps * (1 + gamma),
                                              (size + to_boundary) * (1 + _GAMMA_FINAL)))
            eps = torch.minimum(eps, worst)
            step = grad / _view(grad.flatten(1).norm(dim=1).clamp_min(_TINY), grad) * stepsize
            delta = project(delta + step, eps, p.norm)
            delta = (x + delta).clamp(lo, hi) - x
        def preview(best_delta: torch.Tensor = best_delta) -> torch.Tensor:
            return x + best_delta

        if ctx.step(i + 1, p.steps, x_best=preview, success=found, loss=loss.mean().item()):
            break
    return x + best_delta


@register
class FMN(Attack):
    """Fast minimum-norm attack (Pintor et al. 2021), L0, L1, L2 or Linf: the smallest
    perturbation that crosses the boundary, found in one run with an adaptive norm bound."""

    name = "fmn"
    title = "FMN"
    params_type = FMNParams
    supports_targeted = True
    needs_gradients = True
    returns_best_effort = False  # a sample never broken comes back as the clean image
    probe_loss = "margin"

    def total_steps(self) -> int:
        return self.params.steps

    def _attack_batch(self, clf: Classifier, x: torch.Tensor, y: torch.Tensor,
                      target: torch.Tensor | None, ctx: AttackContext) -> BatchOutput:
        with torch.no_grad():
            already = margin_success(clf.logits(x), y, target)
        out = x.clone()
        iterations = torch.zeros(len(x), dtype=torch.long, device=x.device)
        todo = (~already).nonzero().flatten()
        if len(todo):
            sub_ctx = SubsetContext(ctx, todo, out, already)  # previews cover the whole batch
            out[todo] = fmn(clf, x[todo], y[todo], None if target is None else target[todo],
                            sub_ctx, self.params)  # type: ignore[arg-type]
            iterations[todo] = self.params.steps
        return BatchOutput(out, iterations=iterations)

