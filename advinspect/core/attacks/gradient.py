"""Gradient attacks: FGSM, BIM, PGD (Linf/L2, random start, restarts), iterative least-likely.

The loop takes `autograd.grad` w.r.t. the input only (parameters are frozen by the Classifier)
and drops each sample from the batch once it succeeds: the success test reuses the logits the
step computes anyway, so early stopping costs no extra forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from advinspect.core.attacks import ops
from advinspect.core.attacks.base import (
    Attack,
    AttackContext,
    BatchOutput,
    margin_success,
    param,
    project_l2,
    project_linf,
)
from advinspect.core.attacks.registry import register
from advinspect.core.models.base import Classifier


@dataclass(frozen=True)
class FGSMParams:
    eps: float = param(8 / 255, "Linf budget in the model's value range (e.g. 8/255)", min=0.0, max=1e3)


@dataclass(frozen=True)
class BIMParams:
    eps: float = param(8 / 255, "Linf budget in the model's value range (e.g. 8/255)", min=0.0, max=1e3)
    steps: int = param(10, "number of iterations", min=1, max=100_000)
    step_size: float | None = param(None, "step per iteration; empty means 2.5·eps/steps", min=0.0, max=1e3)
    early_stop: bool = param(True, "stop each sample as soon as it is adversarial (faster; "
                                   "off: keep climbing the loss for high-confidence adversarials)")


@dataclass(frozen=True)
class PGDParams:
    eps: float = param(8 / 255, "budget in the model's value range (Linf e.g. 8/255, L2 e.g. 0.5)", min=0.0, max=1e3)
    steps: int = param(10, "iterations per restart", min=1, max=100_000)
    step_size: float | None = param(None, "step per iteration; empty means 2.5·eps/steps", min=0.0, max=1e3)
    norm: str = param("linf", "threat model", choices=("linf", "l2"))
    random_start: bool = param(True, "start from a random point in the eps ball")
    restarts: int = param(1, "random restarts; each sample keeps its first success", min=1, max=1000)
    early_stop: bool = param(True, "stop each sample as soon as it is adversarial (faster; "
                                   "off: keep climbing the loss for high-confidence adversarials)")


def _step_size(eps: float, steps: int, given: float | None) -> float:
    return given if given is not None else 2.5 * eps / steps


def _loss(log_probs: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Loss to ascend: CE of the true class, or minus CE of the target class (from log-softmax,
    which also gives the true-class confidence for the trace without a second softmax)."""
    if target is not None:
        return -F.nll_loss(log_probs, target, reduction="sum")
    return F.nll_loss(log_probs, y, reduction="sum")


def iterative_attack(
    clf: Classifier, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, ctx: AttackContext, *,
    eps: float, steps: int, step_size: float, norm: str = "linf", random_start: bool = False,
    early_stop: bool = True, step_offset: int = 0, total_steps: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Projected gradient ascent. Returns (x_adv, success, iterations) for the batch."""
    lo, hi = clf.spec.value_range
    n = len(x)
    project = project_linf if norm == "linf" else project_l2
    x_out = x.clone()
    success = torch.zeros(n, dtype=torch.bool, device=x.device)
    iterations = torch.full((n,), steps, dtype=torch.long, device=x.device)
    idx = torch.arange(n, device=x.device)
    x0, yy, tt = x, y, target
    xa = x.clone()
    if random_start and eps > 0:
        xa = project(x + ops.random_start(x, eps, norm, ctx.samples), x, eps, lo, hi)

    for step in range(1, steps + 1):
        xa.requires_grad_(True)
        with torch.enable_grad():
            logits = clf.logits(xa)
            hit = margin_success(logits, yy, tt)
            log_probs = logits.log_softmax(1)
            loss = _loss(log_probs, yy, tt)
            (grad,) = torch.autograd.grad(loss, xa)
        xa = xa.detach()
        with torch.no_grad():
            confidence = log_probs.detach().gather(1, yy.view(-1, 1)).exp().mean()  # a tensor: no sync
            if early_stop and hit.any():
                done = idx[hit]
                x_out[done] = xa[hit]
                success[done] = True
                iterations[done] = step - 1
                keep = ~hit
                idx, x0, xa, grad, yy = idx[keep], x0[keep], xa[keep], grad[keep], yy[keep]
                tt = tt[keep] if tt is not None else None
            if len(idx) == 0:
                ctx.step(step_offset + step, total_steps, success=success, loss=loss.detach() / max(1, n),
                         confidence=confidence)
                break
            xa = project(ops.ascent_step(xa, grad, step_size, norm), x0, eps, lo, hi)

        def preview(idx=idx, xa=xa) -> torch.Tensor:
            current = x_out.clone()
            current[idx] = xa
            return current

        if ctx.step(step_offset + step, total_steps, x_best=preview, success=success,
                    loss=loss.detach() / max(1, len(hit)), confidence=confidence):
            break
    if len(idx):
        with torch.no_grad():
            final_hit = margin_success(clf.logits(xa), yy, tt)
        x_out[idx] = xa
        success[idx] = final_hit
    return x_out, success, iterations


@register
class FGSM(Attack):
    """Fast Gradient Sign Method (Goodfellow et al. 2014): one signed-gradient step of size eps."""

    name = "fgsm"
    title = "FGSM"
    params_type = FGSMParams

    def total_steps(self) -> int:
        return 1

    def _attack_batch(self, clf, x, y, target, ctx) -> BatchOutput:
        x_adv, _, _ = iterative_attack(clf, x, y, target, ctx, eps=self.params.eps, steps=1,
                                       step_size=self.params.eps, early_stop=False)
        return BatchOutput(x_adv, iterations=torch.ones(len(x), dtype=torch.long))


@register
class BIM(Attack):
    """Basic Iterative Method (Kurakin et al. 2016): FGSM in small steps, projected, no random start."""

    name = "bim"
    title = "BIM"
    params_type = BIMParams

    def _attack_batch(self, clf, x, y, target, ctx) -> BatchOutput:
        p = self.params
        x_adv, _, iters = iterative_attack(clf, x, y, target, ctx, eps=p.eps, steps=p.steps,
                                           step_size=_step_size(p.eps, p.steps, p.step_size),
                                           early_stop=p.early_stop)
        return BatchOutput(x_adv, iterations=iters)


@register
class LeastLikely(BIM):
    """Iterative least-likely class (Kurakin et al. 2016): targeted BIM towards the class the model
    finds least likely on the clean image."""

    name = "ill"
    title = "Iterative least-likely"
    always_targeted = True


@register
class PGD(Attack):
    """Projected Gradient Descent (Madry et al. 2018), Linf or L2, random start and restarts."""

    name = "pgd"
    title = "PGD"
    params_type = PGDParams

    def total_steps(self) -> int:
        return self.params.steps * self.params.restarts

    def _attack_batch(self, clf, x, y, target, ctx) -> BatchOutput:
        p = self.params
        alpha = _step_size(p.eps, p.steps, p.step_size)
        x_best = x.clone()
        success = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        iterations = torch.zeros(len(x), dtype=torch.long, device=x.device)
        for restart in range(p.restarts):
            todo = (~success).nonzero().flatten()
            if len(todo) == 0 or ctx.cancelled:
                break
            tt = target[todo] if target is not None else None
            x_adv, hit, iters = iterative_attack(
                clf, x[todo], y[todo], tt, ctx, eps=p.eps, steps=p.steps, step_size=alpha, norm=p.norm,
                random_start=p.random_start, early_stop=p.early_stop, step_offset=restart * p.steps,
                total_steps=self.total_steps())
            x_best[todo] = x_adv
            success[todo] = hit
            iterations[todo] += iters
        return BatchOutput(x_best, iterations=iterations)
