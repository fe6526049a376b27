"""Inference-time defenses as Classifier wrappers, so every attack, panel and report works on the
defended model unchanged.

Adaptive evaluation (Athalye et al. 2018): a non-differentiable transform (JPEG, bit depth) gives
an attacker zero or no gradient — the *naive* figure. BPDA replaces its backward pass with the
identity (straight-through); EOT averages over the transform's randomness (N samples per step).
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from advinspect.core.errors import AdvInspectError
from advinspect.core.models.base import Classifier


class Transform:
    """A pixel-space transform on (N, C, H, W) in the unit range [0, 1]."""

    name: ClassVar[str]
    differentiable: ClassVar[bool] = True
    random: ClassVar[bool] = False

    def apply(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class JPEG(Transform):
    """JPEG compression at a quality of 1-100 (Das et al. 2017); not differentiable (BPDA)."""

    quality: int = 75
    name: ClassVar[str] = "jpeg"
    differentiable: ClassVar[bool] = False

    def apply(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        pixels = np.round(x.detach().clamp(0, 1).cpu().numpy() * 255).astype(np.uint8)
        out = np.empty_like(pixels)
        for i, image in enumerate(pixels):
            array = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
            buffer = io.BytesIO()
            Image.fromarray(array).save(buffer, format="JPEG", quality=self.quality)
            decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
            out[i] = decoded[None] if decoded.ndim == 2 else decoded.transpose(2, 0, 1)
        return torch.from_numpy(out.astype(np.float32) / 255).to(x.device)

    def describe(self) -> str:
        return f"JPEG quality {self.quality}"


@dataclass(frozen=True)
class BitDepth(Transform):
    """Feature squeezing by colour-depth reduction (Xu et al. 2018)."""

    bits: int = 4
    name: ClassVar[str] = "bits"
    differentiable: ClassVar[bool] = False  # rounding: zero gradient almost everywhere

    def apply(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        levels = 2**self.bits - 1
        return torch.round(x * levels) / levels

    def describe(self) -> str:
        return f"bit depth {self.bits}"


@dataclass(frozen=True)
class MedianSmoothing(Transform):
    """Median filter (spatial smoothing squeezer); differentiable almost everywhere."""

    window: int = 3
    name: ClassVar[str] = "median"

    def apply(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        k = self.window
        padded = F.pad(x, (k // 2, (k - 1) // 2, k // 2, (k - 1) // 2), mode="reflect")
        patches = padded.unfold(2, k, 1).unfold(3, k, 1)
        return patches.reshape(*patches.shape[:4], -1).median(dim=-1).values

    def describe(self) -> str:
        return f"median {self.window}x{self.window}"


@dataclass(frozen=True)
class GaussianNoise(Transform):
    """Additive Gaussian noise of standard deviation SIGMA in [0, 1] units; random (EOT)."""

    sigma: float = 0.1
    name: ClassVar[str] = "noise"
    random: ClassVar[bool] = True

    def apply(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, device=x.device) if generator is not None and \
            generator.device == x.device else torch.randn_like(x)
        return (x + self.sigma * noise).clamp(0, 1)

    def describe(self) -> str:
        return f"Gaussian noise sigma {self.sigma}"


def _purify(path: str = "") -> Transform:
    """purify:GENERATOR — Defense-GAN projection (`core/defenses/purify.py`, imported on use)."""
    from advinspect.core.defenses.purify import Purify

    return Purify.from_path(path)


TRANSFORMS: dict[str, tuple[Any, type]] = {
    "jpeg": (JPEG, int), "bits": (BitDepth, int), "median": (MedianSmoothing, int), "noise": (GaussianNoise, float),
    "purify": (_purify, str),
}


def available_defenses() -> list[str]:
    """One line per registered transform (built-in and plugins): `name:VALUE  description`, for
    the GUI's tooltip and the CLI's help, so a plugin defense is listed where users look."""
    lines = []
    for name, (cls, kind) in TRANSFORMS.items():
        doc = (cls.__doc__ or "").strip().splitlines()
        if not isinstance(cls, type):  # a factory such as purify: its docstring says it all
            lines.append(doc[0] if doc else name)
            continue
        fields = [f for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
        value = f":{fields[0].name.upper()}" if fields else ""
        lines.append(f"{name}{value}  {doc[0] if doc else kind.__name__}")
    return lines


def parse_defense(text: str) -> list[Transform]:
    """'jpeg:75,bits:4' -> [JPEG(75), BitDepth(4)], applied left to right."""
    transforms: list[Transform] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition(":")
        if name not in TRANSFORMS:
            raise AdvInspectError(f"unknown defense {name!r}; available: {', '.join(TRANSFORMS)} (e.g. jpeg:75)")
        cls, kind = TRANSFORMS[name]
        try:
            transform = cls(kind(value)) if value else cls()
        except ValueError:
            raise AdvInspectError(f"defense {name} takes a {kind.__name__} value, got {value!r}") from None
        _check(transform)
        transforms.append(transform)
    if not transforms:
        raise AdvInspectError("no defense given (e.g. jpeg:75,bits:4)")
    return transforms


def _check(t: Transform) -> None:
    if isinstance(t, JPEG) and not 1 <= t.quality <= 100:
        raise AdvInspectError("JPEG quality must lie in 1..100")
    if isinstance(t, BitDepth) and not 1 <= t.bits <= 16:
        raise AdvInspectError("bit depth must lie in 1..16")
    if isinstance(t, MedianSmoothing) and not 1 <= t.window <= 15:
        raise AdvInspectError("median window must lie in 1..15")
    if isinstance(t, GaussianNoise) and not 0 <= t.sigma <= 1:
        raise AdvInspectError("noise sigma must lie in 0..1")


class DefendedClassifier(Classifier):
    """`inner` behind input transforms. `adaptive` turns on BPDA for non-differentiable transforms
    and EOT (`eot_samples` transformed copies averaged per gradient step) for random ones."""

    def __init__(self, inner: Classifier, transforms: list[Transform], *, adaptive: bool = False,
                 eot_samples: int = 8, seed: int = 0) -> None:
        super().__init__(inner.spec, inner.device, inner.path)
        self.inner = inner
        self.transforms = list(transforms)
        self.adaptive = adaptive
        self.eot_samples = max(1, eot_samples)
        self.generator = torch.Generator(device=inner.device).manual_seed(seed)
        self.format = f"{inner.format} + " + " + ".join(t.describe() for t in self.transforms)
        self._mean = self._std = None  # the inner classifier normalizes

    @property
    def has_gradients(self) -> bool:
        return self.inner.has_gradients

    @property
    def num_parameters(self) -> int | None:
        return self.inner.num_parameters

    @property
    def sha256(self) -> str | None:  # type: ignore[override]
        return self.inner.sha256

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """The defense on pixel-space input, with the gradient each mode calls for."""
        lo, hi = self.spec.value_range
        unit = (x - lo) / (hi - lo)
        for t in self.transforms:
            if self.adaptive and not t.differentiable and getattr(t, "bpda", None) is not None:
                unit = t.bpda(unit, self.generator)  # the transform's own backward approximation
                continue
            out = t.apply(unit, self.generator)
            if t.differentiable:
                unit = out
            elif self.adaptive:
                unit = unit + (out - unit).detach()  # BPDA: identity backward pass
            else:
                unit = out.detach() + 0 * unit  # naive: the gradient an attacker actually gets (none)
        return unit * (hi - lo) + lo

    def _raw_logits(self, x: torch.Tensor) -> torch.Tensor:
        random = any(t.random for t in self.transforms)
        if self.adaptive and random and torch.is_grad_enabled() and x.requires_grad:
            return torch.stack([self.inner.logits(self.transform(x)) for _ in range(self.eot_samples)]).mean(0)
        return self.inner.logits(self.transform(x))

    def describe(self) -> dict:
        info = self.inner.describe()
        info["defense"] = [t.describe() for t in self.transforms]
        info["adaptive"] = self.adaptive
        return info
