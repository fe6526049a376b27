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
from advinspect.core.attacks.seeding import SampleRandom
from advinspect.core.models.base import Classifier

_EVAL_ELEMENTS = 1 << 24  # float32 elements per logits call (~64 MB) for large query batches
_EVAL_ROWS = 1024  # and rows: exported models bound their batch (the demo's .pt2 takes at most 4096)
# Rows a HopSkipJump gradient chunk is sized for: a fixed number, so the chunk length (and thus
# every sample's random draws) does not depend on the batch; larger batches use more memory.
_GRADIENT_ROWS = 128


def chunked_logits(clf: Classifier, images: torch.Tensor) -> torch.Tensor:
    """Logits of many images in chunks that bound memory; the caller holds `no_grad`."""
    step = min(_EVAL_ROWS, max(1, _EVAL_ELEMENTS // max(1, images[0].numel()))) if len(images) else 1
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


def _window_masks(n: int, s: int, h: int, w: int, u: torch.Tensor,
                  device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random s×s windows, one per sample, placed by uniforms u (n, 2): (row mask (n, h), col
    mask (n, w), row0, col0)."""
    r0 = (u[:, 0] * (h - s + 1)).long().clamp(0, h - s)
    c0 = (u[:, 1] * (w - s + 1)).long().clamp(0, w - s)
    rows = torch.arange(h, device=device).view(1, -1)
    cols = torch.arange(w, device=device).view(1, -1)
    rmask = (rows >= r0.view(-1, 1)) & (rows < r0.view(-1, 1) + s)
    cmask = (cols >= c0.view(-1, 1)) & (cols < c0.view(-1, 1) + s)
    return rmask, cmask, r0, c0


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
    if half == 0:  # a 1-pixel window has no halves: a single unit pixel
        return torch.ones(1, 1, device=device)
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

    def total_steps(self) -> int:
        return self.params.n_queries

    def _init(self, x: torch.Tensor, lo: float, hi: float, rng: SampleRandom) -> torch.Tensor:
        """Linf: vertical stripes of ±eps (one sign per channel and column). L2: a grid of
        ±η tiles (one sign per tile and channel) scaled to norm eps."""
        n, c, h, w = x.shape
        eps = self.params.eps
        if self.params.norm == "linf":
            delta = eps * rng.sign((n, c, 1, w)).expand(n, c, h, w)
            return (x + delta).clamp(lo, hi)
        tile = max(1, h // 5)
        shape = pseudo_gaussian(tile, tile, x.device)
        reps_h, reps_w = math.ceil(h / tile), math.ceil(w / tile)
        signs = rng.sign((n, c, reps_h, reps_w))
        delta = (signs.repeat_interleave(tile, 2).repeat_interleave(tile, 3)
                 * shape.repeat(reps_h, reps_w))[..., :h, :w]
        delta = delta * eps / _view(delta.flatten(1).norm(dim=1).clamp_min(1e-12), 4)
        return (x + delta).clamp(lo, hi)

    def _propose_linf(self, x: torch.Tensor, xa: torch.Tensor, s: int, lo: float, hi: float,
                      rng: SampleRandom) -> torch.Tensor:
        """Set one s×s window to ±eps per channel; resample signs where nothing would change."""
        n, c, h, w = x.shape
        eps = self.params.eps
        u = rng.rand((n, 2 + c))  # one draw per sample and step: the window, then its signs
        rmask, cmask, _, _ = _window_masks(n, s, h, w, u[:, :2], x.device)
        mask = (rmask.unsqueeze(2) & cmask.unsqueeze(1)).unsqueeze(1)  # (n, 1, h, w)
        signs = (u[:, 2:] < 0.5).float().mul(2).sub(1).view(n, c, 1, 1)
        for _ in range(10):
            candidate = torch.where(mask, (x + eps * signs).clamp(lo, hi), xa)
            same = (candidate == xa).flatten(1).all(1)
            if not same.any():
                break
            signs = torch.where(_view(same, 4), -signs, signs)  # flipping always changes a ±eps window
        return candidate

    def _propose_l2(self, x: torch.Tensor, xa: torch.Tensor, s: int, lo: float, hi: float,
                    rng: SampleRandom) -> torch.Tensor:
        """Move the perturbation's mass in two windows W1 ∪ W2 into W1 along old direction + ±η,
        keeping the total L2 norm at eps (Algorithm 3 of the paper), then clip to the range."""
        n, c, h, w = x.shape
        eps = self.params.eps
        delta = xa - x
        u = rng.rand((n, 5 + c))  # one draw per sample and step: two windows, a transpose, signs
        r1, c1m, r0, c0 = _window_masks(n, s, h, w, u[:, 0:2], x.device)
        r2, c2m, _, _ = _window_masks(n, s, h, w, u[:, 2:4], x.device)
        w1 = (r1.unsqueeze(2) & c1m.unsqueeze(1)).unsqueeze(1).float()
        w2 = (r2.unsqueeze(2) & c2m.unsqueeze(1)).unsqueeze(1).float()
        union = torch.maximum(w1, w2)
        eta = square_l2_shape(s, x.device).expand(n, s, s)
        transpose = u[:, 4] < 0.5
        eta = torch.where(_view(transpose, 3), eta.transpose(1, 2), eta)
        eta_full = _place(eta, r0, c0, r1, c1m).unsqueeze(1)  # (n, 1, h, w), unit norm
        unused = (eps**2 - delta.flatten(1).pow(2).sum(1)).clamp_min(0)  # (n,)
        union_norm2 = (delta * union).pow(2).sum((2, 3))  # (n, c)
        available = (union_norm2 + _view(unused, 2) / c).sqrt()  # (n, c)
        old = delta * w1
        old_norm = old.pow(2).sum((2, 3), keepdim=True).sqrt()
        direction = old / old_norm.clamp_min(1e-12) + (u[:, 5:] < 0.5).float().mul(2).sub(1).view(n, c, 1, 1) * eta_full
        direction = direction * w1
        direction = direction / direction.pow(2).sum((2, 3), keepdim=True).sqrt().clamp_min(1e-12)
        new_delta = delta * (1 - union) + direction * available.view(n, c, 1, 1)
        norms = new_delta.flatten(1).norm(dim=1).clamp_min(1e-12)
        new_delta = new_delta * _view(torch.clamp(eps / norms, max=1.0), 4)
        return (x + new_delta).clamp(lo, hi)

    def _side(self, frac: float, h: int, w: int) -> int:
        """Window side covering a fraction `frac` of the image, at most one less than its side.

        L2 windows are odd and at least 3 wide, so each half-bump of η has a single-pixel peak:
        on the demo digits, even sides measured 0.14 success against 0.21 for odd ones (eps 2.5,
        300 queries, three seeds each).
        """
        side = int(round(math.sqrt(frac * h * w)))
        if self.params.norm == "linf":
            return min(max(side, 1), max(1, min(h, w) - 1))
        side = max(side, 3)
        side += side % 2 == 0
        return max(1, min(side, min(h, w) - 1))

    def _attack_batch(self, clf, x, y, target, ctx: AttackContext) -> BatchOutput:
        p = self.params
        lo, hi = clf.spec.value_range
        n, c, h, w = x.shape
        rng = ctx.samples  # per-sample streams: the same numbers for any batch size or shard
        queries = torch.zeros(n, dtype=torch.long, device=x.device)
        iterations = torch.zeros(n, dtype=torch.long, device=x.device)
        with torch.no_grad():
            x_best = self._init(x, lo, hi, rng)
            loss = margin_loss(chunked_logits(clf, x_best), y, target)
            queries += 1
            n_iters = p.n_queries - 1
            for it in range(n_iters):
                active = (loss >= 0).nonzero().flatten()
                if len(active) == 0:
                    break
                s = self._side(square_fraction(p.p_init, it, n_iters), h, w)
                xs, xa = x[active], x_best[active]
                ta = target[active] if target is not None else None
                propose = self._propose_linf if p.norm == "linf" else self._propose_l2
                candidate = propose(xs, xa, s, lo, hi, rng.subset(active))
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


# --- HopSkipJump ----------------------------------------------------------------------------

@dataclass(frozen=True)
class HopSkipJumpParams:
    max_queries: int = param(5000, "query budget per image, initialization included", min=1, max=10_000_000)
    max_iter: int = param(64, "iterations (gradient estimate, step, binary search)", min=1, max=100_000)
    init_evals: int = param(100, "label queries for the first gradient estimate; grows as sqrt(t)",
                            min=1, max=100_000)
    max_evals: int = param(1000, "most label queries for one gradient estimate", min=1, max=1_000_000)
    norm: str = param("l2", "distance to minimize", choices=("l2", "linf"))
    gamma: float = param(1.0, "binary-search tolerance scale: theta = gamma/d^1.5 (L2), gamma/d^2 (Linf)",
                         min=1e-6, max=1e6)
    init_tries: int = param(100, "uniform-noise images tried per sample to find a starting adversarial",
                            min=1, max=100_000)


class _Budget:
    """Per-sample query accounting; a phase only queries samples with budget left."""

    def __init__(self, n: int, limit: int, device: torch.device) -> None:
        self.used = torch.zeros(n, dtype=torch.long, device=device)
        self.limit = limit

    def left(self, idx: torch.Tensor) -> torch.Tensor:
        return (self.limit - self.used[idx]).clamp_min(0)

    def charge(self, idx: torch.Tensor, count: torch.Tensor | int = 1) -> None:
        self.used.index_add_(0, idx, torch.as_tensor(count, device=idx.device).expand(len(idx)).long())


@register
class HopSkipJump(Attack):
    """HopSkipJump (Chen et al. 2020): decision-based; needs only the predicted label. Starts from
    a misclassified point, then repeats: binary search to the boundary, estimate the boundary's
    normal from label flips around it, step along it (geometric step search)."""

    name = "hopskipjump"
    title = "HopSkipJump (decision-based)"
    params_type = HopSkipJumpParams
    needs_gradients = False
    supports_targeted = False
    default_batch_size = 128

    def total_steps(self) -> int:
        return self.params.max_iter

    # --- pieces --------------------------------------------------------------------------
    def _adversarial(self, clf: Classifier, images: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return chunked_logits(clf, images).argmax(1) != y

    def _distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        diff = (a - b).flatten(1)
        return diff.norm(dim=1) if self.params.norm == "l2" else diff.abs().max(1).values

    def _toward(self, x: torch.Tensor, xa: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """The point a fraction `alpha` of the way from x to xa: a blend (L2) or the Linf ball
        of radius alpha·‖xa − x‖∞ around x, projected onto (Linf)."""
        a = _view(alpha, x.ndim)
        if self.params.norm == "l2":
            return (1 - a) * x + a * xa
        radius = a * _view(self._distance(xa, x), x.ndim)
        return torch.min(torch.max(xa, x - radius), x + radius)

    def _theta(self, d: int) -> float:
        return self.params.gamma / (d**1.5 if self.params.norm == "l2" else d**2)

    def _initial(self, clf, x, y, budget: _Budget, rng: SampleRandom) -> tuple[torch.Tensor, torch.Tensor]:
        """A misclassified start per sample: the image itself if already misclassified, else
        uniform noise from the sample's own stream; (x_init, found). No fallback on the batch's
        other images: a start borrowed from a neighbour would make a sample's result depend on
        the batch size and the number of shards."""
        lo, hi = clf.spec.value_range
        n = len(x)
        all_idx = torch.arange(n, device=x.device)
        found = self._adversarial(clf, x, y)
        budget.charge(all_idx)
        x_init = x.clone()
        for _ in range(self.params.init_tries):
            todo = all_idx[~found & (budget.left(all_idx) > 0)]
            if len(todo) == 0:
                break
            noise = lo + (hi - lo) * rng.rand(x[todo].shape, rows=todo)
            hit = self._adversarial(clf, noise, y[todo])
            budget.charge(todo)
            x_init[todo[hit]], found[todo[hit]] = noise[hit], True
        return x_init, found

    def _binary_search(self, clf, x, xa, y, idx, budget: _Budget, theta: float) -> torch.Tensor:
        """Move each adversarial xa towards x until within theta of the boundary (in blend units);
        returns the adversarial end. Samples out of budget stop where they are."""
        low = torch.zeros(len(x), device=x.device)
        high = torch.ones(len(x), device=x.device)
        while True:
            searching = ((high - low) > theta) & (budget.left(idx) > 0)
            if not searching.any():
                break
            rows = searching.nonzero().flatten()
            mid = (low[rows] + high[rows]) / 2
            adv = self._adversarial(clf, self._toward(x[rows], xa[rows], mid), y[rows])
            budget.charge(idx[rows])
            high[rows] = torch.where(adv, mid, high[rows])
            low[rows] = torch.where(adv, low[rows], mid)
        return self._toward(x, xa, high)

    def _gradient(self, clf, xb, y, idx, budget: _Budget, evals: int, delta: torch.Tensor,
                  rng: SampleRandom) -> torch.Tensor:
        """Monte-Carlo estimate of the boundary normal at xb (pointing to the adversarial side)
        from `evals` label queries per sample, with the mean label as a baseline; `rng` holds the
        streams of xb's rows.

        Accumulates sums per chunk, so memory stays bounded whatever the number of evals. The
        chunk length depends on the image size only, never on the batch, and a sample draws
        only while it has queries left: its directions are then the same for any batch size.
        """
        lo, hi = clf.spec.value_range
        n = len(xb)
        count = torch.minimum(budget.left(idx), torch.tensor(evals, device=xb.device))
        sum_phi_u = torch.zeros_like(xb)
        sum_u = torch.zeros_like(xb)
        sum_phi = torch.zeros(n, device=xb.device)
        per_chunk = max(1, _EVAL_ELEMENTS // max(1, xb[0].numel() * _GRADIENT_ROWS))
        for start in range(0, evals, per_chunk):
            k = min(per_chunk, evals - start)
            drawing = (count > start).nonzero().flatten()
            if len(drawing) == 0:
                break
            shape = (len(drawing), k, *xb.shape[1:])
            drawn = rng.randn(shape, rows=drawing) if self.params.norm == "l2" else rng.rand(shape, rows=drawing) * 2 - 1
            u = torch.zeros((n, k, *xb.shape[1:]), device=xb.device)
            u[drawing] = drawn
            u = u / u.flatten(2).norm(dim=2).clamp_min(1e-12).view(n, k, *([1] * (xb.ndim - 1)))
            used = (start + torch.arange(k, device=xb.device)).view(1, -1) < count.view(-1, 1)
            d = delta.view(n, 1, *([1] * (xb.ndim - 1)))
            pert = (xb.unsqueeze(1) + d * u).clamp(lo, hi)
            u_eff = (pert - xb.unsqueeze(1)) / d  # the direction actually taken after clipping
            owner = torch.arange(n, device=xb.device).view(-1, 1).expand(n, k)[used]
            phi = self._adversarial(clf, pert[used], y[owner]).float() * 2 - 1
            contrib = torch.zeros(n, k, device=xb.device)
            contrib[used] = phi
            tail = (n, k, *([1] * (xb.ndim - 1)))
            sum_phi_u += (contrib.view(tail) * u_eff).sum(1)
            sum_u += (used.float().view(tail) * u_eff).sum(1)
            sum_phi += contrib.sum(1)
        budget.charge(idx, count)
        m = count.clamp_min(1).float()
        mean_phi = sum_phi / m
        # Baseline only when both labels were seen; otherwise the estimate would be zero.
        mixed = mean_phi.abs() < 1
        base = torch.where(mixed, mean_phi, torch.zeros_like(mean_phi))
        grad = (sum_phi_u - _view(base, xb.ndim) * sum_u) / _view(m, xb.ndim)
        if self.params.norm == "l2":
            return grad / _view(grad.flatten(1).norm(dim=1).clamp_min(1e-12), xb.ndim)
        return grad.sign()

    def _step(self, clf, x, xb, v, y, idx, budget: _Budget, t: int, lo: float, hi: float) -> torch.Tensor:
        """Geometric step search: from xb along v, halve the step until still adversarial."""
        size = self._distance(xb, x) / math.sqrt(t)
        out = xb.clone()
        pending = torch.ones(len(x), dtype=torch.bool, device=x.device)
        for _ in range(30):
            pending &= budget.left(idx) > 0
            if not pending.any():
                break
            rows = pending.nonzero().flatten()
            cand = (xb[rows] + _view(size[rows], x.ndim) * v[rows]).clamp(lo, hi)
            adv = self._adversarial(clf, cand, y[rows])
            budget.charge(idx[rows])
            out[rows[adv]] = cand[adv]
            pending[rows[adv]] = False
            size[rows] = size[rows] / 2
        return out

    # --- the loop ------------------------------------------------------------------------
    def _attack_batch(self, clf, x, y, target, ctx: AttackContext) -> BatchOutput:
        p = self.params
        lo, hi = clf.spec.value_range
        n = len(x)
        d = x[0].numel()
        theta = self._theta(d)
        rng = ctx.samples  # per-sample streams: the same numbers for any batch size or shard
        budget = _Budget(n, p.max_queries, x.device)
        iterations = torch.zeros(n, dtype=torch.long, device=x.device)
        with torch.no_grad():
            x_init, found = self._initial(clf, x, y, budget, rng)
            all_idx = torch.arange(n, device=x.device)
            idx = all_idx[found & (x_init != x).flatten(1).any(1)]  # misclassified already: done
            xb = self._binary_search(clf, x[idx], x_init[idx], y[idx], idx, budget, theta)
            best = x.clone()
            best[idx] = xb
            best_dist = torch.full((n,), float("inf"), device=x.device)
            best_dist[idx] = self._distance(xb, x[idx])
            for t in range(1, p.max_iter + 1):
                keep = budget.left(idx) > 0
                idx, xb = idx[keep], xb[keep]
                if len(idx) == 0:
                    break
                x0, y0 = x[idx], y[idx]
                dist = self._distance(xb, x0)
                delta = (math.sqrt(d) if p.norm == "l2" else d) * theta * dist
                delta = delta.clamp_min(1e-6 * (hi - lo))
                evals = min(int(p.init_evals * math.sqrt(t)), p.max_evals)
                v = self._gradient(clf, xb, y0, idx, budget, evals, delta, rng.subset(idx))
                xs = self._step(clf, x0, xb, v, y0, idx, budget, t, lo, hi)
                xb = self._binary_search(clf, x0, xs, y0, idx, budget, theta)
                new_dist = self._distance(xb, x0)
                better = new_dist < best_dist[idx]
                best[idx[better]] = xb[better]
                best_dist[idx[better]] = new_dist[better]
                iterations[idx] = t
                finite = best_dist[torch.isfinite(best_dist)]
                if ctx.step(t, x_best=best, loss=finite.mean().item() if len(finite) else 0.0):
                    break
        return BatchOutput(best, iterations=iterations, queries=budget.used)
