"""FAB-T: the targeted Fast Adaptive Boundary attack (Croce & Hein 2020, "Minimally distorted
adversarial examples with a fast adaptive boundary attack"), Linf and L2.

FAB looks for the *smallest* perturbation, not the highest loss inside a budget. Each step
linearizes the boundary between the true class c and a target s at the current point and
projects both the current point and the original image onto that hyperplane (intersected with
the valid value box). It moves towards a convex combination of the two projections, biased
towards the original image (alpha), overshooting slightly (eta); once a point is adversarial it
steps back towards the original (beta) — that backward step is what shrinks the norm.

The targeted version needs one gradient per step (of z_s - z_c) instead of the full Jacobian,
so it is as cheap as PGD; AutoAttack runs it over the top-9 other classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from advinspect.core.attacks.apgd import SubsetContext, top_other_classes
from advinspect.core.attacks.base import Attack, AttackContext, BatchOutput, margin_success, param
from advinspect.core.attacks.registry import register
from advinspect.core.attacks.seeding import SampleRandom
from advinspect.core.models.base import Classifier

_TINY = 1e-12


@dataclass(frozen=True)
class FABParams:
    norm: str = param("linf", "norm to minimize", choices=("linf", "l2"))
    eps: float | None = param(None, "optional budget: adversarials larger than this count as "
                                    "failures (and stop each sample once one within it is found); "
                                    "empty means minimal-norm mode", min=0.0, max=1e3)
    steps: int = param(100, "iterations per target class and restart", min=1, max=100_000)
    restarts: int = param(1, "starts per target; later ones start at a random point within half "
                             "the best norm found so far", min=1, max=1000)
    n_target_classes: int = param(9, "untargeted runs: target the classes ranked 2nd, 3rd, ... by "
                                     "the clean logits", min=1, max=1000)
    overshoot: float = param(1.05, "extrapolation past the linearized boundary (the paper's eta)",
                             min=1.0, max=2.0)
    alpha_max: float = param(0.1, "largest pull towards the original image's projection",
                             min=0.0, max=1.0)
    beta: float = param(0.9, "backward step after an adversarial point: keep this fraction of the "
                             "perturbation", min=0.0, max=1.0)


# --- projection onto a hyperplane within the value box -----------------------------------

def project_hyperplane(z: torch.Tensor, w: torch.Tensor, r: torch.Tensor, lo: float, hi: float,
                       norm: str) -> torch.Tensor:
    """Minimal-norm delta with w·delta = r and lo <= z + delta <= hi, per sample (rows of (N, D)).

    KKT: each coordinate moves in the direction sign(w_j·r) until it hits its box bound d_j,
    delta_j = sign·min(lam·k_j, d_j) with k_j = 1 (Linf) or |w_j| (L2). The achieved w·delta is
    piecewise linear and increasing in lam with breakpoints d_j / k_j, so sorting them gives lam
    exactly. When even the whole box cannot reach the hyperplane, every coordinate saturates.
    """
    sign_r = torch.where(r >= 0, 1.0, -1.0).unsqueeze(1)
    direction = torch.sign(w) * sign_r  # +1: move up, -1: move down
    d = torch.where(direction > 0, hi - z, z - lo).clamp_min(0)  # room to the bound
    a = w.abs()
    k = torch.ones_like(a) if norm == "linf" else a
    active = a > 0
    brk = torch.where(active, d / k.clamp_min(_TINY), torch.zeros_like(d))
    value = torch.where(active, a * d, torch.zeros_like(d))  # contribution once saturated
    slope = torch.where(active, a * k, torch.zeros_like(d))  # contribution per unit lam before
    brk_sorted, order = brk.sort(dim=1)
    value_sorted, slope_sorted = value.gather(1, order), slope.gather(1, order)
    before = value_sorted.cumsum(1) - value_sorted  # saturated below breakpoint i
    tail = slope_sorted.flip(1).cumsum(1).flip(1)  # still growing at breakpoint i
    reach = before + brk_sorted * tail
    need = r.abs().unsqueeze(1)
    enough = reach >= need
    first = torch.where(enough.any(1), enough.float().argmax(1), torch.full_like(r, -1).long())
    feasible = first >= 0
    i = first.clamp_min(0).unsqueeze(1)
    lam = (need - before.gather(1, i)) / tail.gather(1, i).clamp_min(_TINY)
    lam = torch.where(feasible.unsqueeze(1), lam, brk_sorted[:, -1:])
    return direction * torch.minimum(lam * k, d)


def _norm(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(dim=1)


def _target_gradient(clf: Classifier, x: torch.Tensor, y: torch.Tensor, s: torch.Tensor,
                     strongest: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """g = z_s - z_c and its input gradient (one backward; samples are independent).

    c is the true class (FAB-T: any misclassification counts), or with `strongest` the class
    that currently beats s hardest — a point is only in class s once s beats all of them."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = clf.logits(x)
        if strongest:
            others = logits.detach().scatter(1, s.view(-1, 1), float("-inf"))
            y = others.argmax(1)
        g = logits.gather(1, s.view(-1, 1)).squeeze(1) - logits.gather(1, y.view(-1, 1)).squeeze(1)
        (grad,) = torch.autograd.grad(g.sum(), x)
    return g.detach(), grad.detach()


def _random_start(x: torch.Tensor, radius: torch.Tensor, norm: str, lo: float, hi: float,
                  samples: SampleRandom) -> torch.Tensor:
    shape = (-1, *([1] * (x.ndim - 1)))
    if norm == "linf":
        t = samples.rand(x.shape) * 2 - 1
        t = t / t.flatten(1).abs().amax(1).clamp_min(_TINY).view(shape)
    else:
        t = samples.randn(x.shape)
        t = t / t.flatten(1).norm(dim=1).clamp_min(_TINY).view(shape)
    return (x + t * radius.view(shape)).clamp(lo, hi)


@dataclass
class FABState:
    """Best adversarial per sample across targets and restarts."""

    x_best: torch.Tensor
    norm_best: torch.Tensor  # inf where none found

    @property
    def found(self) -> torch.Tensor:
        return torch.isfinite(self.norm_best)


def fab_targeted(clf: Classifier, x: torch.Tensor, y: torch.Tensor, s: torch.Tensor,
                 goal_target: torch.Tensor | None, state: FABState, ctx: AttackContext, *,
                 params: FABParams, start: torch.Tensor, step_offset: int, total_steps: int) -> None:
    """One FAB-T run from `start` towards target class `s`; improves `state` in place."""
    p = params
    lo, hi = clf.spec.value_range
    flat = x.flatten(1)
    cur = start.clone()
    idx = torch.arange(len(x), device=x.device)
    for step in range(1, p.steps + 1):
        if len(idx) == 0:
            break
        x0 = flat[idx]
        g, grad = _target_gradient(clf, cur, y[idx], s[idx], goal_target is not None)
        with torch.no_grad():
            w = grad.flatten(1)
            xc = cur.flatten(1)
            delta = project_hyperplane(xc, w, -g, lo, hi, p.norm)
            delta0 = project_hyperplane(x0, w, -(g + (w * (x0 - xc)).sum(1)), lo, hi, p.norm)
            n_cur, n_orig = _norm(delta, p.norm), _norm(delta0, p.norm)
            alpha = (n_cur / (n_cur + n_orig).clamp_min(_TINY)).clamp(max=p.alpha_max).unsqueeze(1)
            nxt = ((1 - alpha) * (xc + p.overshoot * delta)
                   + alpha * (x0 + p.overshoot * delta0)).clamp(lo, hi)
            nxt = nxt.view_as(cur)
            logits = clf.logits(nxt)
            gt = goal_target[idx] if goal_target is not None else None
            hit = margin_success(logits, y[idx], gt)
            size = _norm(nxt - x[idx], p.norm)
            improve = hit & (size < state.norm_best[idx])
            state.x_best[idx[improve]] = nxt[improve]
            state.norm_best[idx[improve]] = size[improve]
            # backward step: pull adversarial points back towards the original
            back = (1 - p.beta) * x[idx] + p.beta * nxt
            cur = torch.where(hit.view(-1, *([1] * (x.ndim - 1))), back, nxt)
            if p.eps is not None:  # within budget: this sample's job is done
                done = state.norm_best[idx] <= p.eps
                cur, idx = cur[~done], idx[~done]
        found = state.found
        if ctx.step(step_offset + step, total_steps, success=found,
                    norm=float(state.norm_best[found].mean()) if found.any() else 0.0):
            break


def fab_attack(clf: Classifier, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None,
               ctx: AttackContext, params: FABParams, total_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """FAB-T over the target classes (the given target, or the top-ranked others) and restarts.
    Returns (x_adv, best norm); samples with no adversarial (within eps) come back unchanged."""
    p = params
    lo, hi = clf.spec.value_range
    with torch.no_grad():
        already = margin_success(clf.logits(x), y, target)
    state = FABState(x.clone(), torch.full((len(x),), float("inf"), device=x.device))
    state.norm_best[already] = 0.0
    targets = target.view(-1, 1) if target is not None else top_other_classes(clf, x, p.n_target_classes)
    offset = 0
    for j in range(targets.shape[1]):
        for r in range(p.restarts):
            if ctx.cancelled:
                break
            todo = ~already
            if p.eps is not None:
                todo &= ~(state.norm_best <= p.eps)
            ids = todo.nonzero().flatten()
            if len(ids):
                xs = x[ids]
                start = xs
                if r > 0:  # random start within half the best norm (or the budget) so far
                    radius = state.norm_best[ids].clone()
                    if p.eps is not None:
                        radius = radius.clamp(max=p.eps)
                    radius = torch.where(torch.isfinite(radius), radius, torch.full_like(radius, 0.1 * (hi - lo)))
                    start = _random_start(xs, radius / 2, p.norm, lo, hi, ctx.samples.subset(ids))
                sub = FABState(state.x_best[ids].clone(), state.norm_best[ids].clone())
                sub_ctx = SubsetContext(ctx, ids, state.x_best, state.found)
                fab_targeted(clf, xs, y[ids], targets[ids, j], None if target is None else target[ids],
                             sub, sub_ctx, params=p, start=start, step_offset=offset,  # type: ignore[arg-type]
                             total_steps=total_steps)
                state.x_best[ids], state.norm_best[ids] = sub.x_best, sub.norm_best
            offset += p.steps
    out = state.x_best
    if p.eps is not None:  # over budget: not an adversarial at this eps
        over = state.norm_best > p.eps
        out = torch.where(over.view(-1, *([1] * (x.ndim - 1))), x, out)
    return out, state.norm_best


@register
class FAB(Attack):
    """FAB-T (Croce & Hein 2020): minimal-norm adversarials by projections onto linearized
    boundaries towards each of the top-ranked other classes (or the given target)."""

    name = "fab"
    title = "FAB-T"
    params_type = FABParams
    returns_best_effort = False  # a sample never broken comes back as the clean image
    probe_loss = "margin"

    def total_steps(self) -> int:
        p = self.params
        return p.steps * p.restarts * p.n_target_classes

    def _attack_batch(self, clf, x, y, target, ctx) -> BatchOutput:
        total = self.params.steps * self.params.restarts * (1 if target is not None
                                                            else self.params.n_target_classes)
        x_adv, _ = fab_attack(clf, x, y, target, ctx, self.params, total)
        if not ctx.cancelled:  # targets/early stop may end before the last step
            ctx.step(total, total)
        return BatchOutput(x_adv)
