"""Model extraction: query a victim through `logits` only (ONNX black boxes included), train a
thief on its answers, measure how closely the thief follows it.

Queries come from a pool: images (the user's, the demo's) or uniform noise. A budget larger than
the pool is met with augmented copies of pool images (a seeded shift of up to 2 pixels and
Gaussian noise of std 0.03 of the value range): copy v of image i is the same for every run.

Sampling: `random` (each round, the least-used pool images in random order) or `adaptive`, the
Knockoff Nets class bandit (Orekondy et al. 2019): arms are the pool's labels, or for an
unlabelled pool the current thief's predicted classes; a gradient bandit picks arms by softmax of
preferences, rewarded by the answer's certainty (top-1 − top-2), its diversity (distance from the
arm's mean answer) and the thief's loss on it, each term scaled by its running mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


def victim_answers(victim: Any, x: torch.Tensor, labels_only: bool) -> np.ndarray:
    """(N, classes) float32: the victim's probabilities, or one-hot of its label (hard answers)."""
    probs = victim.logits_batched(x).double().softmax(1).float().cpu().numpy()
    if labels_only:
        return np.eye(probs.shape[1], dtype=np.float32)[probs.argmax(1)]
    return probs


def augmented(x: torch.Tensor, index: int, variant: int, seed: int, bounds: tuple[float, float]) -> torch.Tensor:
    """Copy `variant` of pool image x (C, H, W): 0 is the image itself."""
    if variant == 0:
        return x
    g = torch.Generator().manual_seed(int(np.random.default_rng([seed, index, variant]).integers(2**62)))
    dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=g))
    lo, hi = bounds
    shifted = torch.roll(x, shifts=(dy, dx), dims=(1, 2))
    noise = torch.randn(x.shape, generator=g) * 0.03 * (hi - lo)
    return (shifted + noise).clamp(lo, hi)


@dataclass
class Sampler:
    """Chooses which pool image (and which copy of it) to query next."""

    n: int
    strategy: str
    seed: int
    arms: int = 1
    used: np.ndarray = field(init=False)
    preferences: np.ndarray = field(init=False)
    mean_reward: float = 0.0
    steps: int = 0
    scale: np.ndarray = field(init=False)
    arm_pulls: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.used = np.zeros(self.n, dtype=np.int64)
        self.rng = np.random.default_rng(self.seed)
        self.preferences = np.zeros(self.arms)
        self.scale = np.ones(3)
        self.arm_pulls = np.zeros(self.arms, dtype=np.int64)

    def policy(self) -> np.ndarray:
        h = self.preferences - self.preferences.max()
        return np.exp(h) / np.exp(h).sum()

    def choose(self, count: int, arm_of: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pool indices, copy numbers, arms) of the next `count` queries."""
        picks, arms = [], []
        for _ in range(count):
            if arm_of is None or self.strategy == "random":
                candidates = np.arange(self.n)
                arm = -1
            else:
                available = [a for a in range(self.arms) if (arm_of == a).any()]
                p = self.policy()[available]
                arm = int(self.rng.choice(available, p=p / p.sum()))
                candidates = np.flatnonzero(arm_of == arm)
            least = candidates[self.used[candidates] == self.used[candidates].min()]
            i = int(self.rng.choice(least))
            picks.append((i, int(self.used[i])))
            self.used[i] += 1
            arms.append(arm)
        index = np.array([p[0] for p in picks], dtype=np.int64)
        return index, np.array([p[1] for p in picks], dtype=np.int64), np.array(arms, dtype=np.int64)

    def reward(self, arms: np.ndarray, answers: np.ndarray, thief_probs: np.ndarray | None,
               arm_means: dict[int, np.ndarray]) -> None:
        """Knockoff's gradient-bandit update for each query of a round."""
        if self.strategy != "adaptive" or thief_probs is None:
            return
        top = -np.sort(-answers, axis=1)
        certainty = top[:, 0] - top[:, 1]
        loss = -(answers * np.log(np.clip(thief_probs, 1e-12, 1.0))).sum(1)
        for j, arm in enumerate(arms):
            if arm < 0:
                continue
            mean = arm_means.get(int(arm))
            diversity = 0.0 if mean is None else float(np.linalg.norm(answers[j] - mean))
            arm_means[int(arm)] = answers[j] if mean is None else 0.9 * mean + 0.1 * answers[j]
            terms = np.array([certainty[j], diversity, loss[j]])
            self.scale = 0.99 * self.scale + 0.01 * np.abs(terms)
            r = float((terms / np.maximum(self.scale, 1e-6)).sum() / 3)
            self.steps += 1
            self.mean_reward += (r - self.mean_reward) / self.steps
            pi = self.policy()
            step = 0.1 * (r - self.mean_reward)
            self.preferences -= step * pi
            self.preferences[arm] += step
            self.arm_pulls[arm] += 1
