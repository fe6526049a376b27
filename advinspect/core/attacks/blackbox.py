"""Black-box attacks that need only `clf.logits` (no gradients): Square and HopSkipJump.

Both run under `torch.no_grad`, so they work on ONNX models without a torch conversion. Every
sample of a batch is attacked at once: each step is one logits call over the samples still
being attacked (libraries often hard-code batch size 1 for decision-based attacks), and queries
are counted per sample so budgets hold per image.

- Square (Andriushchenko et al. 2020): score-based random search with square-shaped updates on
  the margin loss, Linf or L2.
- HopSkipJump (Chen, Jordan & Wainwright 2020): decision-based (only the predicted label); it
  walks along the decision boundary with gradient-direction estimates from label flips, a
  geometric step search and a binary search back to the boundary, minimizing L2 (or Linf).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from advinspect.core.attacks.base import Attack, AttackContext, BatchOutput, param
from advinspect.core.attacks.registry import register
from advinspect.core.models.base import Classifier

_EVAL_ELEMENTS = 1 << 24  # float32 elements per logits call (~64 MB) for large query batches


def chunked_logits(clf: Classifier, images: torch.Tensor) -> torch.Tensor:
    """Logits of many images in chunks that bound memory; the caller holds `no_grad`."""
    step = max(1, _EVAL_ELEMENTS // max(1, images[0].numel())) if len(images) else 1
    parts = [clf.logits(images[i : i + step]).float() for i in range(0, len(images), step)]
    return torch.cat(parts) if parts else torch.empty(0, clf.num_classes, device=images.device)


def margin_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Below zero exactly when the attack succeeds.

    Untargeted: true logit minus the best other logit. Targeted: best non-target logit minus the
    target logit.
    """
    cls = y if target is None else target
    own = logits.gather(1, cls.view(-1, 1)).squeeze(1)
    others = logits.scatter(1, cls.view(-1, 1), float("-inf")).max(1).values
    return own - others if target is None else others - own


def _view(v: torch.Tensor, ndim: int) -> torch.Tensor:
    return v.view(-1, *([1] * (ndim - 1)))


# --- Square attack --------------------------------------------------------------------------

@dataclass(frozen=True)
class SquareParams:
    eps: float = param(0.05, "budget in the model's value range (Linf e.g. 8/255 or 0.1, L2 e.g. 1.0)",
                       min=0.0, max=1e3)
    n_queries: int = param(1000, "query budget per image (the first query is the initial point)",
                           min=1, max=1_000_000)
    p_init: float = param(0.8, "initial fraction of pixels a square covers (0.8 small images, "
                               "0.05 Linf / 0.1 L2 for CIFAR/ImageNet in the paper)", min=1e-4, max=1.0)
    norm: str = param("linf", "threat model", choices=("linf", "l2"))


def square_fraction(p_init: float, it: int, n_iters: int) -> float:
    """The paper's schedule: p halves at iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and
    8000 of a 10 000-iteration run, rescaled to the run's own length."""
    scaled = int(it / max(1, n_iters) * 10_000)
    halvings = sum(scaled > mark for mark in (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000))
    return p_init / 2**halvings


def _window_masks(n: int, s: int, h: int, w: int, gen: torch.Generator,
                  device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random s×s windows, one per sample: (row mask (n, h), col mask (n, w), row0, col0)."""
    r0 = torch.randint(0, h - s + 1, (n,), generator=gen, device=device)
    c0 = torch.randint(0, w - s + 1, (n,), generator=gen, device=device)
    rows = torch.arange(h, device=device).view(1, -1)
    cols = torch.arange(w, device=device).view(1, -1)
    rmask = (rows >= r0.view(-1, 1)) & (rows < r0.view(-1, 1) + s)
    cmask = (cols >= c0.view(-1, 1)) & (cols < c0.view(-1, 1) + s)
    return rmask, cmask, r0, c0


def _random_sign(shape: tuple[int, ...], gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=gen, device=device).float() * 2 - 1


def pseudo_gaussian(h: int, w: int, device: torch.device) -> torch.Tensor:
    """The paper's centred bump η (eq. 3): nested rectangles, ring k from the centre adds
    1/(k+1)², so mass concentrates in the middle of the window."""
    rows = torch.arange(h, device=device, dtype=torch.float32)
    cols = torch.arange(w, device=device, dtype=torch.float32)
    ring_r = (rows - (h - 1) / 2).abs().floor().view(-1, 1)
    ring_c = (cols - (w - 1) / 2).abs().floor().view(1, -1)
    ring = torch.maximum(ring_r, ring_c)  # Chebyshev ring index from the centre
    rings = int(ring.max().item()) + 1
    weights = 1.0 / (torch.arange(rings, device=device, dtype=torch.float32) + 1) ** 2
    cumulative = weights.flip(0).cumsum(0).flip(0)  # value at ring r: sum of weights of rings >= r
    return cumulative[ring.long()]


def square_l2_shape(s: int, device: torch.device) -> torch.Tensor:
    """Update shape for L2 Square: +η on one half of the window, −η on the other, unit norm."""
    half = s // 2
    eta = torch.cat([pseudo_gaussian(s, half, device), -pseudo_gaussian(s, s - half, device)], dim=1)
    return eta / eta.norm()


def _place(windows: torch.Tensor, r0: torch.Tensor, c0: torch.Tensor, rmask: torch.Tensor,
           cmask: torch.Tensor) -> torch.Tensor:
    """Write per-sample windows (n, s, s) at (r0, c0) into zero images (n, h, w)."""
    n, s, _ = windows.shape
    lr = (torch.arange(rmask.shape[1], device=windows.device).view(1, -1) - r0.view(-1, 1)).clamp(0, s - 1)
    lc = (torch.arange(cmask.shape[1], device=windows.device).view(1, -1) - c0.view(-1, 1)).clamp(0, s - 1)
    batch = torch.arange(n, device=windows.device).view(-1, 1, 1)
    full = windows[batch, lr.view(n, -1, 1), lc.view(n, 1, -1)]
    return full * (rmask.unsqueeze(2) & cmask.unsqueeze(1))


@register
class Square(Attack):
    """Square Attack (Andriushchenko et al. 2020): random search with square updates on the
    margin loss; accepts a proposal only when the loss drops. Score-based, Linf or L2."""

    name = "square"
    title = "Square Attack"
    params_type = SquareParams
    needs_gradients = False
    default_batch_size = 256

    @property
    def norm(self) -> str:  # type: ignore[override]
        return self.params.norm

    def total_steps(self) -> int:
        return self.params.n_queries

    def _init(self, x: torch.Tensor, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
        """Linf: vertical stripes of ±eps (one sign per channel and column). L2: a grid of
        ±η tiles (one sign per tile and channel) scaled to norm eps."""
        n, c, h, w = x.shape
        eps = self.params.eps
        if self.params.norm == "linf":
            delta = eps * _random_sign((n, c, 1, w), gen, x.device).expand(n, c, h, w)
            return (x + delta).clamp(lo, hi)
        tile = max(1, h // 5)
        shape = pseudo_gaussian(tile, tile, x.device)
        reps_h, reps_w = math.ceil(h / tile), math.ceil(w / tile)
        signs = _random_sign((n, c, reps_h, reps_w), gen, x.device)
        delta = (signs.repeat_interleave(tile, 2).repeat_interleave(tile, 3)
                 * shape.repeat(reps_h, reps_w))[..., :h, :w]
        delta = delta * eps / _view(delta.flatten(1).norm(dim=1).clamp_min(1e-12), 4)
        return (x + delta).clamp(lo, hi)

    def _propose_linf(self, x: torch.Tensor, xa: torch.Tensor, s: int, lo: float, hi: float,
                      gen: torch.Generator) -> torch.Tensor:
        """Set one s×s window to ±eps per channel; resample signs where nothing would change."""
        n, c, h, w = x.shape
        eps = self.params.eps
        rmask, cmask, _, _ = _window_masks(n, s, h, w, gen, x.device)
        mask = (rmask.unsqueeze(2) & cmask.unsqueeze(1)).unsqueeze(1)  # (n, 1, h, w)
        signs = _random_sign((n, c, 1, 1), gen, x.device)
        for _ in range(10):
            candidate = torch.where(mask, (x + eps * signs).clamp(lo, hi), xa)
            same = (candidate == xa).flatten(1).all(1)
            if not same.any():
                break
            signs = torch.where(_view(same, 4), -signs, signs)  # flipping always changes a ±eps window
        return candidate

    def _propose_l2(self, x: torch.Tensor, xa: torch.Tensor, s: int, lo: float, hi: float,
                    gen: torch.Generator) -> torch.Tensor:
        """Move the perturbation's mass in two windows W1 ∪ W2 into W1 along old direction + ±η,
        keeping the total L2 norm at eps (Algorithm 3 of the paper), then clip to the range."""
        n, c, h, w = x.shape
        eps = self.params.eps
        delta = xa - x
        r1, c1m, r0, c0 = _window_masks(n, s, h, w, gen, x.device)
        r2, c2m, _, _ = _window_masks(n, s, h, w, gen, x.device)
        w1 = (r1.unsqueeze(2) & c1m.unsqueeze(1)).unsqueeze(1).float()
        w2 = (r2.unsqueeze(2) & c2m.unsqueeze(1)).unsqueeze(1).float()
        union = torch.maximum(w1, w2)
        eta = square_l2_shape(s, x.device).expand(n, s, s)
        transpose = torch.rand(n, generator=gen, device=x.device) < 0.5
        eta = torch.where(_view(transpose, 3), eta.transpose(1, 2), eta)
        eta_full = _place(eta, r0, c0, r1, c1m).unsqueeze(1)  # (n, 1, h, w), unit norm
        unused = (eps**2 - delta.flatten(1).pow(2).sum(1)).clamp_min(0)  # (n,)
        union_norm2 = (delta * union).pow(2).sum((2, 3))  # (n, c)
        available = (union_norm2 + _view(unused, 2) / c).sqrt()  # (n, c)
        old = delta * w1
        old_norm = old.pow(2).sum((2, 3), keepdim=True).sqrt()
        direction = old / old_norm.clamp_min(1e-12) + _random_sign((n, c, 1, 1), gen, x.device) * eta_full
        direction = direction * w1
        direction = direction / direction.pow(2).sum((2, 3), keepdim=True).sqrt().clamp_min(1e-12)
        new_delta = delta * (1 - union) + direction * available.view(n, c, 1, 1)
        norms = new_delta.flatten(1).norm(dim=1).clamp_min(1e-12)
        new_delta = new_delta * _view(torch.clamp(eps / norms, max=1.0), 4)
        return (x + new_delta).clamp(lo, hi)

    def _attack_batch(self, clf, x, y, target, ctx: AttackContext) -> BatchOutput:
        p = self.params
        lo, hi = clf.spec.value_range
        n, c, h, w = x.shape
        gen = ctx.generator
        queries = torch.zeros(n, dtype=torch.long, device=x.device)
        iterations = torch.zeros(n, dtype=torch.long, device=x.device)
        with torch.no_grad():
            x_best = self._init(x, lo, hi, gen)
            loss = margin_loss(chunked_logits(clf, x_best), y, target)
            queries += 1
            n_iters = p.n_queries - 1
            min_side = 1 if p.norm == "linf" else 2
            for it in range(n_iters):
                active = (loss >= 0).nonzero().flatten()
                if len(active) == 0:
                    break
                frac = square_fraction(p.p_init, it, n_iters)
                s = min(max(int(round(math.sqrt(frac * h * w))), min_side), max(min_side, min(h, w) - 1))
                xs, xa = x[active], x_best[active]
                ta = target[active] if target is not None else None
                propose = self._propose_linf if p.norm == "linf" else self._propose_l2
                candidate = propose(xs, xa, s, lo, hi, gen)
                new_loss = margin_loss(chunked_logits(clf, candidate), y[active], ta)
                better = new_loss < loss[active]
                x_best[active] = torch.where(_view(better, 4), candidate, xa)
                loss[active] = torch.where(better, new_loss, loss[active])
                queries[active] += 1
                iterations[active] = it + 1
                if ctx.step(it + 2, x_best=x_best, success=loss < 0,
                            loss=loss.clamp_min(0).mean().item()):
                    break
        return BatchOutput(x_best, iterations=iterations, queries=queries)
