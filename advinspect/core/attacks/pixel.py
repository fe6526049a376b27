"""One-pixel attack (Su, Vargas & Sakurai 2019): differential evolution over k pixels.

Score-based black box: only `clf.logits` under `torch.no_grad`, so it runs on every back end.
A candidate is k pixels, each (row, col, one value per channel). The fitness is the true-class
probability (untargeted, minimized) or minus the target-class probability (targeted), taken as a
log-probability: DE only compares fitnesses, so the ranking is the paper's, but a confident
model's probabilities no longer saturate at 1.0 in float32 and leave DE without signal. The
population of every sample in the batch is evaluated in one big, chunked logits call; a sample
leaves the working set as soon as any of its candidates succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from advinspect.core.attacks.base import Attack, AttackContext, BatchOutput, param
from advinspect.core.attacks.registry import register
from advinspect.core.attacks.seeding import SampleRandom
from advinspect.core.models.base import Classifier

# Images per logits call when evaluating populations: bounds memory on large inputs.
_EVAL_ELEMENTS = 1 << 24


@dataclass(frozen=True)
class OnePixelParams:
    pixels: int = param(1, "number of pixels the attack may change (k)", min=1, max=1024)
    popsize: int = param(100, "candidates per sample (the paper uses 400)", min=4, max=10_000)
    max_iter: int = param(100, "generations of differential evolution", min=1, max=10_000)
    mutation: float = param(0.5, "differential weight F of DE/rand/1", min=0.0, max=2.0)


def eval_chunk(clf: Classifier, image_numel: int) -> int:
    """How many images one logits call may take so a chunk stays near 64 MB of float32."""
    return max(1, _EVAL_ELEMENTS // max(1, image_numel))


def apply_pixels(x: torch.Tensor, owner: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
    """Images of `x[owner]` with the candidate pixels written in.

    cand: (M, k, 2 + C) holding continuous (row, col) and the channel values; coordinates are
    floored to the pixel grid here, so DE can move them as real numbers.
    """
    m, k, _ = cand.shape
    _, c, h, w = x.shape
    images = x[owner].clone()
    rows = cand[..., 0].floor().long().clamp_(0, h - 1).reshape(-1)
    cols = cand[..., 1].floor().long().clamp_(0, w - 1).reshape(-1)
    which = torch.arange(m, device=x.device).repeat_interleave(k)
    images[which, :, rows, cols] = cand[..., 2:].reshape(-1, c).to(images.dtype)
    return images


def score_candidates(clf: Classifier, x: torch.Tensor, owner: torch.Tensor, cand: torch.Tensor,
                     y: torch.Tensor, target: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(fitness to minimize, success) for candidates of the samples `owner`, chunked."""
    chunk = eval_chunk(clf, x[0].numel())
    fitness, success = [], []
    for start in range(0, len(cand), chunk):
        part = slice(start, start + chunk)
        who = owner[part]
        logits = clf.logits(apply_pixels(x, who, cand[part])).float()
        logp = logits.log_softmax(1)  # same ranking as probabilities, but no saturation at 1.0
        if target is None:
            fitness.append(logp.gather(1, y[who].view(-1, 1)).squeeze(1))
            success.append(logits.argmax(1) != y[who])
        else:
            fitness.append(-logp.gather(1, target[who].view(-1, 1)).squeeze(1))
            success.append(logits.argmax(1) == target[who])
    return torch.cat(fitness), torch.cat(success)


def distinct_partners(n: int, pop: int, rng: SampleRandom, device: torch.device) -> torch.Tensor:
    """(n, pop, 3) indices r1, r2, r3: distinct from each other and from the member itself.

    Three distinct offsets from 1..pop-1 added to the member's own index, modulo pop: no
    rejection loop, one draw per offset; row i draws from the stream of `rng`'s row i.
    """
    shape = (n, pop)
    o1 = rng.randint(1, pop, shape).to(device)
    o2 = rng.randint(1, pop - 1, shape).to(device)
    o2 = o2 + (o2 >= o1).long()
    low, high = torch.minimum(o1, o2), torch.maximum(o1, o2)
    o3 = rng.randint(1, pop - 2, shape).to(device)
    o3 = o3 + (o3 >= low).long()
    o3 = o3 + (o3 >= high).long()
    own = torch.arange(pop, device=device).view(1, pop, 1)
    return (own + torch.stack([o1, o2, o3], dim=2)) % pop


def _gather_members(population: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """population (n, pop, k, d), index (n, pop) -> (n, pop, k, d)."""
    n, pop, k, d = population.shape
    return population.gather(1, index.view(n, pop, 1, 1).expand(n, pop, k, d))


@register
class OnePixel(Attack):
    """One-pixel attack (Su et al. 2019): DE/rand/1 over k pixels, fitness from probabilities only."""

    name = "onepixel"
    title = "One-pixel (differential evolution)"
    params_type = OnePixelParams
    needs_gradients = False
    default_norm = "l0"
    default_batch_size = 64

    def total_steps(self) -> int:
        return self.params.max_iter

    def _bounds(self, x: torch.Tensor, lo: float, hi: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Lower and upper bound per candidate coordinate: row, col, then each channel value."""
        _, c, h, w = x.shape
        lower = torch.tensor([0.0, 0.0] + [lo] * c, device=x.device)
        upper = torch.tensor([h - 1e-4, w - 1e-4] + [hi] * c, device=x.device)
        return lower, upper

    def _attack_batch(self, clf, x, y, target, ctx: AttackContext) -> BatchOutput:
        p = self.params
        n, c = x.shape[:2]
        lo, hi = clf.spec.value_range
        lower, upper = self._bounds(x, lo, hi)
        pop, k, dim = p.popsize, p.pixels, 2 + c
        rng = ctx.samples  # per-sample streams: the same numbers for any batch size or shard
        with torch.no_grad():
            population = lower + rng.rand((n, pop, k, dim)) * (upper - lower)
            owner = torch.arange(n, device=x.device).repeat_interleave(pop)
            fit, hit = score_candidates(clf, x, owner, population.view(-1, k, dim), y, target)
            fitness, hits = fit.view(n, pop), hit.view(n, pop)
            queries = torch.full((n,), pop, dtype=torch.long, device=x.device)
            iterations = torch.zeros(n, dtype=torch.long, device=x.device)
            best = self._best(population, fitness, hits)
            done = hits.any(1)
            for step in range(1, p.max_iter + 1):
                active = (~done).nonzero().flatten()
                if len(active) == 0:
                    break
                sub = population[active]
                partners = distinct_partners(len(active), pop, rng.subset(active), x.device)
                a, b, d = (_gather_members(sub, partners[..., i]) for i in range(3))
                trial = torch.max(torch.min(a + p.mutation * (b - d), upper), lower)
                owner = active.repeat_interleave(pop)
                fit, hit = score_candidates(clf, x, owner, trial.view(-1, k, dim), y, target)
                fit, hit = fit.view(-1, pop), hit.view(-1, pop)
                old_fit, old_hits = fitness[active], hits[active]
                # Best of parents and trials before selection, so no success is ever lost.
                best[active] = self._best(torch.cat([sub, trial], 1), torch.cat([old_fit, fit], 1),
                                          torch.cat([old_hits, hit], 1))
                done[active] = old_hits.any(1) | hit.any(1)
                better = fit <= old_fit
                population[active] = torch.where(better.view(*better.shape, 1, 1), trial, sub)
                fitness[active] = torch.where(better, fit, old_fit)
                hits[active] = torch.where(better, hit, old_hits)
                queries[active] += pop
                iterations[active] = step
                if ctx.step(step, x_best=lambda: apply_pixels(x, torch.arange(n, device=x.device), best),
                            success=done, loss=fitness.min(1).values.mean().item()):
                    break
        return BatchOutput(apply_pixels(x, torch.arange(n, device=x.device), best), iterations=iterations,
                           queries=queries)

    @staticmethod
    def _best(population: torch.Tensor, fitness: torch.Tensor, hits: torch.Tensor) -> torch.Tensor:
        """Per sample: the fittest successful candidate if any, else the fittest one. The shift
        that ranks successes first is per row, so a sample's pick does not depend on its batch."""
        ranked = torch.where(hits, fitness - fitness.abs().amax(1, keepdim=True) - 1.0, fitness)
        index = ranked.argmin(1)
        return population[torch.arange(len(population), device=population.device), index]
