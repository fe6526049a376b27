"""Tiny data and a tiny network for the poisoning, sanitize and scan tests: three classes of
8×8 images (a bright bar at a class-specific row, plus noise) that a small CNN learns in a few
epochs, and one BadNets run trained once per session (cached) for the detectors to look at."""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from advinspect.core.models.spec import ModelSpec

ARCH = "tests.backdoor_data:BarNet"


class BarNet(nn.Module):
    """Conv → ReLU → pool → linear → ReLU → linear: small, but with layers worth scoring."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @staticmethod
    def default_spec() -> ModelSpec:
        return ModelSpec(input_shape=(1, 8, 8), labels=("a", "b", "c"))


def bars(n_per_class: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """(x, y): class c has rows 2c..2c+1 bright on a noisy background, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    x = 0.25 * torch.rand(3 * n_per_class, 1, 8, 8, generator=g)
    y = np.repeat(np.arange(3), n_per_class)
    for c in range(3):
        x[y == c, :, 2 * c:2 * c + 2, 1:6] += 0.6
    return x.clamp(0, 1), y


@functools.lru_cache(maxsize=1)
def badnets_run():
    """One BadNets run (20 % poisoned, 2×2 patch, target 0) with its clean baseline."""
    from advinspect.core.tasks import poison

    x, y = bars(30, 0)
    tx, ty = bars(20, 1)
    config = poison.Config(attack="badnets", ratio=0.2, target=0, trigger_size=2, epochs=8, lr=1e-2,
                           batch_size=16, preview=4)
    return poison.run(poison.Inputs(x, y, tx, ty, BarNet.default_spec(), ARCH), config)
