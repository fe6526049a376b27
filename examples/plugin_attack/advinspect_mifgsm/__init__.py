"""MI-FGSM (Dong et al. 2018): iterative FGSM whose step follows a momentum of L1-normalized
gradients, which escapes poor local maxima and transfers better than BIM.

    g_{t+1} = mu * g_t + grad / ||grad||_1,   x_{t+1} = clip_{x, eps}(x_t + alpha * sign(g_{t+1}))

with alpha = eps / T by default (the paper's setting: T = 10, mu = 1.0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from advinspect.core.attacks.base import (
    Attack,
    AttackContext,
    BatchOutput,
    margin_success,
    param,
    project_linf,
)

__all__ = ["MIFGSM", "MIFGSMParams"]


@dataclass(frozen=True)
class MIFGSMParams:
    eps: float = param(8 / 255, "Linf budget in the model's value range (e.g. 8/255)", min=0.0, max=1e3)
    steps: int = param(10, "number of iterations T", min=1, max=100_000)
    decay: float = param(1.0, "momentum decay factor mu (0: plain BIM with step eps/T)", min=0.0, max=10.0)
    step_size: float | None = param(None, "step per iteration; empty means eps/steps", min=0.0, max=1e3)


class MIFGSM(Attack):
    """Momentum Iterative FGSM (Dong et al. 2018), Linf, targeted or not."""

    name = "mifgsm"
    title = "MI-FGSM (plugin)"
    params_type = MIFGSMParams

    def _attack_batch(self, clf, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None,
                      ctx: AttackContext) -> BatchOutput:
        p = self.params
        lo, hi = clf.spec.value_range
        alpha = p.step_size if p.step_size is not None else p.eps / p.steps
        shape = (-1, *([1] * (x.ndim - 1)))
        momentum = torch.zeros_like(x)
        x_adv = x.clone()
        steps_done = 0
        for step in range(1, p.steps + 1):
            x_adv.requires_grad_(True)
            with torch.enable_grad():
                log_probs = clf.logits(x_adv).log_softmax(1)
                if target is None:
                    loss = F.nll_loss(log_probs, y, reduction="sum")
                else:
                    loss = -F.nll_loss(log_probs, target, reduction="sum")
                (grad,) = torch.autograd.grad(loss, x_adv)
            with torch.no_grad():
                hit = margin_success(log_probs.detach(), y, target)
                l1 = grad.abs().flatten(1).mean(1).clamp_min(1e-12).view(shape)
                momentum = p.decay * momentum + grad / l1
                x_adv = project_linf(x_adv.detach() + alpha * momentum.sign(), x, p.eps, lo, hi)
            steps_done = step
            if ctx.step(step, x_best=x_adv, success=hit, loss=loss.item() / max(1, len(x))):
                break
        return BatchOutput(x_adv, iterations=torch.full((len(x),), steps_done, dtype=torch.long))
