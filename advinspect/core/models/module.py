"""A Classifier as a plain nn.Module on pixel-space input, for code that wants a module."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from advinspect.core.models.base import Classifier


class PixelSpaceModule(torch.nn.Module):
    """forward(x) = clf.logits(x): pixel-space input, normalization inside, as torchattacks, ART
    and foolbox expect (handing them the raw network would normalize twice, or not at all)."""

    def __init__(self, clf: Classifier) -> None:
        super().__init__()
        self.clf = clf

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.clf.logits(x)
