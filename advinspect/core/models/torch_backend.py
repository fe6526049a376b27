"""PyTorch back end: TorchScript, torch.export (.pt2), state_dict + architecture, trusted pickle."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from advinspect.core.models.base import Classifier
from advinspect.core.models.spec import ModelSpec

if TYPE_CHECKING:
    import torch


class TorchClassifier(Classifier):
    """Wraps an nn.Module: eval mode, parameters frozen (attacks never need weight gradients)."""

    def __init__(
        self,
        module: torch.nn.Module,
        spec: ModelSpec,
        device: torch.device,
        *,
        path: Path | None = None,
        format: str = "torch",
    ) -> None:
        super().__init__(spec, device, path)
        self.format = format
        module = module.to(device)
        try:
            module.eval()
        except (NotImplementedError, RuntimeError):
            pass  # torch.export programs fix train/eval mode when they are exported
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        self.module = module

    @property
    def has_gradients(self) -> bool:
        return True

    def _raw_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())
