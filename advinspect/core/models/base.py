"""The one model interface every attack, metric and panel uses.

Inputs are batches in the model's pixel space (N, C, H, W), float32, within `spec.value_range`;
mean/std normalization happens here, inside the Classifier, never in an attack.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advinspect.core.errors import GradientsUnavailableError
from advinspect.core.models.spec import ModelSpec

if TYPE_CHECKING:
    import torch


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# log() of a probability output is clamped here: float32 softmax underflows to 0 past ~104 nats
_TINY_PROBABILITY = 1e-45


class Classifier(ABC):
    """An image classifier in pixel space. Subclasses implement `_raw_logits` on normalized input.

    A model whose outputs are probabilities (a final softmax) is detected on first use, and
    `logits` then returns their logarithm: logits up to a per-sample constant, so margins,
    DeepFool's linearisation and CW's loss are right, and softmax is never applied twice."""

    format: str = "unknown"
    _outputs_probabilities: bool | None = None  # None: not probed yet

    def __init__(self, spec: ModelSpec, device: torch.device, path: Path | None = None) -> None:
        self.spec = spec
        self.device = device
        self.path = path
        self._set_normalization()

    def _set_normalization(self) -> None:
        import torch

        def as_tensor(values: tuple[float, ...] | None) -> torch.Tensor | None:
            if values is None:
                return None
            return torch.tensor(values, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)

        self._mean = as_tensor(self.spec.mean)
        self._std = as_tensor(self.spec.std)

    def with_spec(self, spec: ModelSpec) -> Classifier:
        """The same model with another spec (labels, normalization); shares the weights."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.spec = spec
        clone._set_normalization()
        return clone

    # --- the interface -------------------------------------------------------------------
    @property
    @abstractmethod
    def has_gradients(self) -> bool:
        """Whether `logits` is differentiable with respect to its input."""

    @abstractmethod
    def _raw_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for already-normalized input on `self.device`."""

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self._mean is not None:
            x = x - self._mean
        if self._std is not None:
            x = x / self._std
        return x

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, classes) for pixel-space input; differentiable when `has_gradients`."""
        x = x.to(self.device, dtype=self._input_dtype())
        out = self._raw_logits(self.normalize(x))
        return self._log_probabilities(out) if self.outputs_probabilities else out

    # --- probability outputs -------------------------------------------------------------
    @property
    def outputs_probabilities(self) -> bool:
        """Whether the model outputs probabilities rather than logits (probed once)."""
        if self._outputs_probabilities is None:
            self._outputs_probabilities = self._detect_probabilities()
        return self._outputs_probabilities

    def _log_probabilities(self, out: torch.Tensor) -> torch.Tensor:
        """Log-probabilities from what `_raw_logits` returned for a probability model."""
        return out.clamp_min(_TINY_PROBABILITY).log()

    def _detect_probabilities(self) -> bool:
        """Probe: rows of two seeded random images all non-negative and summing to 1.

        Real logits practically never do that on every row; a model without a known input shape
        is not probed (its outputs are taken as logits)."""
        import torch

        if self.spec.input_shape is None:
            return False
        lo, hi = self.spec.value_range
        generator = torch.Generator().manual_seed(0)
        x = lo + (hi - lo) * torch.rand(2, *self.spec.input_shape, generator=generator)  # as check_fit
        with torch.no_grad():
            out = self._raw_logits(self.normalize(x.to(self.device, dtype=self._input_dtype())))
        return looks_like_probabilities(out)

    def _input_dtype(self) -> Any:
        import torch

        return torch.float32

    def predict(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Predicted class indices (N,), computed without gradients in batches."""
        return self.logits_batched(x, batch_size).argmax(dim=1)

    def probabilities(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        return self.logits_batched(x, batch_size).softmax(dim=1)

    def logits_batched(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Logits without gradients, in chunks so a large set never fills the device's memory."""
        import torch

        with torch.no_grad():
            parts = [self.logits(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        if not parts:
            return torch.empty(0, self.num_classes, device=self.device)
        return torch.cat(parts)

    def gradient(self, x: torch.Tensor, y: torch.Tensor, loss: str = "ce") -> torch.Tensor:
        """Gradient of the summed loss w.r.t. the pixel-space input (parameters get none)."""
        import torch

        if not self.has_gradients:
            raise GradientsUnavailableError(f"{self.describe_short()} has no gradients")
        x = x.detach().to(self.device).requires_grad_(True)
        with torch.enable_grad():
            out = self.logits(x)
            if loss == "ce":
                value = torch.nn.functional.cross_entropy(out, y.to(self.device), reduction="sum")
            elif loss == "logit":
                value = out.gather(1, y.to(self.device).view(-1, 1)).sum()
            else:
                raise ValueError(f"unknown loss {loss!r}")
            (grad,) = torch.autograd.grad(value, x)
        return grad

    def as_module(self) -> torch.nn.Module:
        """This classifier as an nn.Module on pixel-space input (for other libraries)."""
        from advinspect.core.models.module import PixelSpaceModule

        return PixelSpaceModule(self).eval()

    # --- description ---------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        assert self.spec.labels is not None, "a loaded classifier always has labels"
        return len(self.spec.labels)

    @property
    def num_parameters(self) -> int | None:
        return None

    @cached_property
    def sha256(self) -> str | None:
        return file_sha256(self.path) if self.path is not None else None

    def describe_short(self) -> str:
        name = self.path.name if self.path is not None else "in-memory model"
        return f"{name} ({self.format})"

    def describe(self) -> dict[str, Any]:
        """Everything `advinspect info` and the Model dock show."""
        return {
            "file": str(self.path) if self.path else None,
            "format": self.format,
            "sha256": self.sha256,
            "parameters": self.num_parameters,
            "device": str(self.device),
            "has_gradients": self.has_gradients,
            "outputs": "probabilities (attacks use their logarithm)" if self.outputs_probabilities
                       else "logits",
            "num_classes": self.num_classes,
            "spec": self.spec.to_dict(),
        }


def looks_like_probabilities(out: torch.Tensor) -> bool:
    """Rows of at least two classes, finite, non-negative, each summing to 1 (float32 slack)."""
    import torch

    if out.ndim != 2 or out.shape[1] < 2 or len(out) == 0:
        return False
    out = out.detach().float()
    if not bool(torch.isfinite(out).all()) or float(out.min()) < 0:
        return False
    return bool(((out.sum(1) - 1).abs() < 1e-3).all())
