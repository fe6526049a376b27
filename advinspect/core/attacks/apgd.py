"""Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble
of diverse parameter-free attacks"): APGD-CE, APGD-DLR and the targeted APGD-T.

PGD's weak spot is its fixed step size: too large and it oscillates, too small and it crawls.
APGD starts at 2·eps and halves the step at checkpoints whenever progress stalls (too few loss
increases since the last checkpoint, or no new best loss with an unchanged step), restarting
from the best point found; a momentum term (0.75) smooths the path. The DLR loss is invariant to
shifting and scaling the logits, so it does not saturate the way cross-entropy does on
over-confident models — that is the gradient-masking failure APGD-DLR was built to expose.

Every sample carries its own step size, counters and best point, so a sample leaves the working
batch as soon as it is adversarial without disturbing the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from advinspect.core.attacks.base import (
    Attack,
    AttackContext,
    BatchOutput,
    l2_normalize,
    margin_success,
    param,
    project_l2,
    project_linf,
)
from advinspect.core.attacks.ops import random_start
from advinspect.core.attacks.registry import register
from advinspect.core.models.base import Classifier

_TINY = 1e-12


@dataclass(frozen=True)
class APGDParams:
    eps: float = param(8 / 255, "budget in the model's value range (Linf e.g. 8/255, L2 e.g. 0.5)",
                       min=0.0, max=1e3)
    norm: str = param("linf", "threat model", choices=("linf", "l2"))
    steps: int = param(100, "iterations per restart", min=1, max=100_000)
    restarts: int = param(1, "random restarts, each on the points still robust", min=1, max=1000)
    loss: str = param("ce", "loss to ascend: cross-entropy or the scale-invariant DLR "
                            "(targeted DLR when a target is given)", choices=("ce", "dlr"))
    rho: float = param(0.75, "halve the step when fewer than rho of the steps since the last "
                             "checkpoint raised the loss", min=0.0, max=1.0)
    momentum: float = param(0.75, "weight of the new gradient step against the previous "
                                  "direction (the paper's alpha)", min=0.0, max=1.0)
    early_stop: bool = param(True, "stop each sample as soon as it is adversarial")


@dataclass(frozen=True)
class APGDTParams:
    eps: float = param(8 / 255, "budget in the model's value range (Linf e.g. 8/255, L2 e.g. 0.5)",
                       min=0.0, max=1e3)
    norm: str = param("linf", "threat model", choices=("linf", "l2"))
    steps: int = param(100, "iterations per target class and restart", min=1, max=100_000)
    restarts: int = param(1, "random restarts per target class", min=1, max=1000)
    n_target_classes: int = param(9, "target the classes ranked 2nd, 3rd, ... by the clean logits; "
                                     "each target runs on the points still robust", min=1, max=1000)
    rho: float = param(0.75, "step-halving threshold (fraction of loss increases)", min=0.0, max=1.0)
    momentum: float = param(0.75, "weight of the new gradient step (the paper's alpha)",
                            min=0.0, max=1.0)


# --- losses ------------------------------------------------------------------------------

def dlr_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Difference of Logits Ratio, per sample: -(z_y - max_{i≠y} z_i) / (z_π1 - z_π3).

    Shift- and scale-invariant in the logits. Needs at least 3 classes (the denominator is
    meaningless with 2); callers fall back to cross-entropy there.
    """
    ranked, _ = logits.sort(dim=1, descending=True)
    z_y = logits.gather(1, y.view(-1, 1)).squeeze(1)
    top_is_y = logits.argmax(1) == y
    best_other = torch.where(top_is_y, ranked[:, 1], ranked[:, 0])
    third = ranked[:, min(2, logits.shape[1] - 1)]
    return -(z_y - best_other) / (ranked[:, 0] - third + _TINY)


def targeted_dlr_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Targeted DLR, per sample: -(z_y - z_t) / (z_π1 - (z_π3 + z_π4)/2). Needs 4 classes in the
    paper; with 3 the 3rd-ranked logit stands in for the 4th."""
    ranked, _ = logits.sort(dim=1, descending=True)
    k = logits.shape[1]
    z_y = logits.gather(1, y.view(-1, 1)).squeeze(1)
    z_t = logits.gather(1, target.view(-1, 1)).squeeze(1)
    tail = (ranked[:, min(2, k - 1)] + ranked[:, min(3, k - 1)]) / 2
    return -(z_y - z_t) / (ranked[:, 0] - tail + _TINY)


def per_sample_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None,
                    kind: str) -> torch.Tensor:
    """The loss APGD ascends, per sample. DLR with too few classes falls back to cross-entropy."""
    if kind == "dlr" and logits.shape[1] >= 3:
        return dlr_loss(logits, y) if target is None else targeted_dlr_loss(logits, y, target)
    if target is not None:
        return -F.cross_entropy(logits, target, reduction="none")
    return F.cross_entropy(logits, y, reduction="none")


# --- the step-size schedule ------------------------------------------------------------

def checkpoints(steps: int) -> list[int]:
    """Iterations at which APGD may halve the step: w_j = ceil(p_j·N) with p_0 = 0, p_1 = 0.22,
    p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06) — dense early, sparse late."""
    p = [0.0, 0.22]
    while True:
        nxt = p[-1] + max(p[-1] - p[-2] - 0.03, 0.06)
        if nxt > 1:
            break
        p.append(nxt)
    # round first: 0.22 * 100 is 22.000000000000004 in floating point, not a reason for 23
    return sorted({math.ceil(round(v * steps, 6)) for v in p} - {0})


def _view(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.ndim - 1)))


class SubsetContext:
    """The context seen by a run over a subset `ids` of the batch (a restart, a target class, an
    AutoAttack stage): its previews and success flags are widened back to the whole batch, and
    its steps optionally shifted by `offset` within a larger `total`."""

    def __init__(self, parent: Any, ids: torch.Tensor, x_full: torch.Tensor,
                 success_full: torch.Tensor, *, offset: int = 0, total: int | None = None,
                 extra: dict[str, float] | None = None) -> None:
        self._parent, self._ids, self._x, self._success = parent, ids, x_full, success_full
        self._offset, self._total, self._extra = offset, total, extra or {}

    def __getattr__(self, name: str) -> Any:  # generator, seed, cancelled, ...
        return getattr(self._parent, name)

    @property
    def samples(self) -> Any:
        """The parent's per-sample random streams, seen through this subset's rows."""
        return self._parent.samples.subset(self._ids)

    def step(self, step: int, total: int | None = None, *, x_best: Any = None,
             success: torch.Tensor | None = None, **trace: float) -> bool:
        if trace:
            trace.update(self._extra)
        if success is not None:
            full = self._success.clone()
            if len(success) == len(self._ids):
                full[self._ids] |= success
            success = full
        preview = None
        if x_best is not None:
            def preview(x_best=x_best) -> torch.Tensor:
                part = x_best() if callable(x_best) else x_best
                full = self._x.clone()
                if len(part) == len(self._ids):
                    full[self._ids] = part
                return full
        return self._parent.step(self._offset + step, self._total or total, x_best=preview,
                                 success=success, **trace)


@dataclass
class APGDRun:
    """What one APGD pass returns for its batch."""

    x_adv: torch.Tensor  # first adversarial found, else the highest-loss point
    success: torch.Tensor  # by the logits the attack computed (the engine re-predicts anyway)
    iterations: torch.Tensor


def _forward(clf: Classifier, xa: torch.Tensor, y: torch.Tensor, loss_target: torch.Tensor | None,
             kind: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits, per-sample loss and the input gradient of the summed loss (samples independent)."""
    xa = xa.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = clf.logits(xa)
        loss = per_sample_loss(logits, y, loss_target, kind)
        (grad,) = torch.autograd.grad(loss.sum(), xa)
    return logits.detach(), loss.detach(), grad.detach()


def apgd(clf: Classifier, x: torch.Tensor, y: torch.Tensor, ctx: AttackContext, *, eps: float,
         norm: str = "linf", steps: int = 100, loss: str = "ce", rho: float = 0.75,
         momentum: float = 0.75, loss_target: torch.Tensor | None = None,
         goal_target: torch.Tensor | None = None, early_stop: bool = True, step_offset: int = 0,
         total_steps: int | None = None) -> APGDRun:
    """One APGD run from a random start.

    `loss_target` steers the loss (targeted CE/DLR); `goal_target` decides success (None: any
    misclassification). APGD-T uses a loss target with an untargeted goal.
    """
    lo, hi = clf.spec.value_range
    project = project_linf if norm == "linf" else project_l2
    n = len(x)
    dev = x.device
    out = x.clone()
    success = torch.zeros(n, dtype=torch.bool, device=dev)
    iterations = torch.full((n,), steps, dtype=torch.long, device=dev)
    marks = checkpoints(steps)

    # the working set: samples leave it once adversarial (early stop)
    idx = torch.arange(n, device=dev)
    x0, yy = x, y
    lt, gt = loss_target, goal_target
    x_cur = project(x + random_start(x, eps, norm, ctx.samples), x, eps, lo, hi)
    logits, f_cur, g_cur = _forward(clf, x_cur, yy, lt, loss)
    x_prev = x_cur
    x_max, f_max, g_max = x_cur, f_cur, g_cur
    eta = torch.full((n,), 2.0 * eps, device=dev)
    increases = torch.zeros(n, device=dev)
    f_max_at_mark = f_max
    reduced_at_mark = torch.zeros(n, dtype=torch.bool, device=dev)
    last_mark = 0

    def record(hit: torch.Tensor, adv: torch.Tensor, step: int) -> None:
        """Keep the adversarial iterates; with early stop, drop those samples from the batch."""
        nonlocal idx, x0, yy, lt, gt, x_cur, x_prev, g_cur, f_cur
        nonlocal x_max, f_max, g_max, eta, increases, f_max_at_mark, reduced_at_mark
        if not hit.any():
            return
        done = idx[hit]
        out[done] = adv[hit]
        if not early_stop:  # keep climbing; the latest adversarial iterate is kept
            iterations[done[~success[done]]] = step
            success[done] = True
            return
        success[done] = True
        iterations[done] = step
        keep = ~hit
        idx, x0, yy = idx[keep], x0[keep], yy[keep]
        lt = lt[keep] if lt is not None else None
        gt = gt[keep] if gt is not None else None
        x_cur, x_prev, g_cur, f_cur = x_cur[keep], x_prev[keep], g_cur[keep], f_cur[keep]
        x_max, f_max, g_max = x_max[keep], f_max[keep], g_max[keep]
        eta, increases = eta[keep], increases[keep]
        f_max_at_mark, reduced_at_mark = f_max_at_mark[keep], reduced_at_mark[keep]

    record(margin_success(logits, yy, gt), x_cur, 0)
    for k in range(steps):
        if len(idx) == 0:
            break
        with torch.no_grad():
            direction = g_cur.sign() if norm == "linf" else l2_normalize(g_cur)
            z = project(x_cur + _view(eta, x_cur) * direction, x0, eps, lo, hi)
            a = momentum if k > 0 else 1.0  # the first step has no previous direction
            x_next = project(x_cur + a * (z - x_cur) + (1 - a) * (x_cur - x_prev), x0, eps, lo, hi)
        logits, f_next, g_next = _forward(clf, x_next, yy, lt, loss)
        t = k + 1
        with torch.no_grad():
            increases = increases + (f_next > f_cur).float()
            better = f_next > f_max
            x_max = torch.where(_view(better, x_max), x_next, x_max)
            g_max = torch.where(_view(better, g_max), g_next, g_max)
            f_max = torch.where(better, f_next, f_max)
            x_prev, x_cur, f_cur, g_cur = x_cur, x_next, f_next, g_next
            if t in marks:
                stalled = increases < rho * (t - last_mark)
                flat = (~reduced_at_mark) & (f_max <= f_max_at_mark)
                halve = stalled | flat
                eta = torch.where(halve, eta / 2, eta)
                # restart from the best point, with its gradient (x_prev stays: the paper's x^k)
                x_cur = torch.where(_view(halve, x_cur), x_max, x_cur)
                g_cur = torch.where(_view(halve, g_cur), g_max, g_cur)
                f_cur = torch.where(halve, f_max, f_cur)
                reduced_at_mark, f_max_at_mark = halve, f_max
                increases = torch.zeros_like(increases)
                last_mark = t
            confidence = logits.softmax(1).gather(1, yy.view(-1, 1)).mean().item()
            mean_loss = f_next.mean().item()
            record(margin_success(logits, yy, gt), x_next, t)

        def preview(idx=idx, x_max=x_max) -> torch.Tensor:
            current = out.clone()
            current[idx] = x_max
            return current

        if ctx.step(step_offset + t, total_steps, x_best=preview, success=success,
                    loss=mean_loss, confidence=confidence):
            break
    if len(idx):
        # the highest-loss point (the closest call) for samples never adversarial
        keep_max = ~success[idx]
        out[idx[keep_max]] = x_max[keep_max]
    return APGDRun(out, success, iterations)


def apgd_restarts(clf: Classifier, x: torch.Tensor, y: torch.Tensor, ctx: AttackContext, *,
                  restarts: int, steps: int, step_offset: int = 0, total_steps: int | None = None,
                  loss_target: torch.Tensor | None = None, goal_target: torch.Tensor | None = None,
                  success: torch.Tensor | None = None, **kwargs) -> APGDRun:
    """APGD with restarts; each restart runs only on the points no earlier run has broken.
    `success` marks points already broken (e.g. by an earlier target class)."""
    out = x.clone()
    success = success.clone() if success is not None else torch.zeros(len(x), dtype=torch.bool,
                                                                       device=x.device)
    iterations = torch.zeros(len(x), dtype=torch.long, device=x.device)
    for r in range(restarts):
        todo = (~success).nonzero().flatten()
        if len(todo) == 0 or ctx.cancelled:
            break
        lt = loss_target[todo] if loss_target is not None else None
        gt = goal_target[todo] if goal_target is not None else None
        sub_ctx = SubsetContext(ctx, todo, out, success)
        run = apgd(clf, x[todo], y[todo], sub_ctx, steps=steps, loss_target=lt, goal_target=gt,  # type: ignore[arg-type]
                   step_offset=step_offset + r * steps, total_steps=total_steps, **kwargs)
        out[todo] = run.x_adv
        success[todo] = run.success
        iterations[todo] += run.iterations
    return APGDRun(out, success, iterations)


def top_other_classes(clf: Classifier, x: torch.Tensor, n: int) -> torch.Tensor:
    """(N, n) classes ranked 2nd, 3rd, ... by the clean logits: the targets of APGD-T/FAB-T."""
    with torch.no_grad():
        logits = clf.logits(x)
    n = max(1, min(n, logits.shape[1] - 1))
    return logits.argsort(dim=1, descending=True)[:, 1:n + 1]


@register
class APGD(Attack):
    """Auto-PGD (Croce & Hein 2020): PGD with an adaptive step size, momentum and a CE or DLR loss."""

    name = "apgd"
    title = "APGD"
    params_type = APGDParams

    def total_steps(self) -> int:
        return self.params.steps * self.params.restarts

    def gradient_probe_loss(self) -> str:
        return "margin" if self.params.loss == "dlr" else "ce"

    def _attack_batch(self, clf, x, y, target, ctx) -> BatchOutput:
        p = self.params
        run = apgd_restarts(clf, x, y, ctx, restarts=p.restarts, steps=p.steps,
                            total_steps=self.total_steps(), loss_target=target, goal_target=target,
                            eps=p.eps, norm=p.norm, loss=p.loss, rho=p.rho, momentum=p.momentum,
                            early_stop=p.early_stop)
        if not ctx.cancelled:  # early stop may end before the last step: finish the bar
            ctx.step(self.total_steps())
        return BatchOutput(run.x_adv, iterations=run.iterations)


@register
class APGDT(Attack):
    """APGD-T (Croce & Hein 2020): targeted-DLR APGD towards each of the top-ranked other classes in
    turn, each on the points still robust; success is any misclassification."""

    name = "apgd-t"
    title = "APGD-T"
    params_type = APGDTParams
    supports_targeted = False  # picks its own targets
    probe_loss = "margin"  # targeted DLR

    def total_steps(self) -> int:
        p = self.params
        return p.steps * p.restarts * p.n_target_classes

    def _attack_batch(self, clf, x, y, target, ctx) -> BatchOutput:
        p = self.params
        targets = top_other_classes(clf, x, p.n_target_classes)
        with torch.no_grad():
            success = clf.logits(x).argmax(1) != y  # already misclassified: nothing to do
        out = x.clone()
        iterations = torch.zeros(len(x), dtype=torch.long, device=x.device)
        per_target = p.steps * p.restarts
        for j in range(targets.shape[1]):
            if ctx.cancelled or bool(success.all()):
                break
            run = apgd_restarts(clf, x, y, ctx, restarts=p.restarts, steps=p.steps,
                                step_offset=j * per_target, total_steps=self.total_steps(),
                                loss_target=targets[:, j], success=success, eps=p.eps,
                                norm=p.norm, loss="dlr", rho=p.rho, momentum=p.momentum)
            todo = ~success
            newly = todo & run.success
            out[newly] = run.x_adv[newly]
            if j == 0:  # keep a highest-loss point for the ones never broken
                out[todo & ~run.success] = run.x_adv[todo & ~run.success]
            iterations[todo] += run.iterations[todo]
            success |= run.success
        if not ctx.cancelled:
            ctx.step(self.total_steps())
        return BatchOutput(out, iterations=iterations)
