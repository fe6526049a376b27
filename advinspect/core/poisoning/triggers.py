"""Backdoor triggers, applied channels-first to (N, C, H, W) batches.

A BadNets patch (Gu et al. 2017) overwrites a size×size square; a blended trigger (Chen et al.
2017) mixes a full-size pattern in at `alpha`. Both are written on the last two axes of a torch
batch (ART's trigger code indexes NHWC and puts the patch on the wrong axis of a torch batch).
Values are fractions of the model's value range, so one trigger means the same in [0, 1] and
[0, 255] models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advinspect.core.errors import AdvInspectError
from advinspect.core.poisoning.names import PATTERNS, POSITIONS


class TriggerError(AdvInspectError):
    """The trigger does not fit the images (too large, wrong pattern file, bad alpha)."""


@dataclass
class Trigger:
    """What `apply` writes: `pattern` (C or 1, h, w) in [0, 1] of the value range, at `top, left`;
    `alpha` 1 overwrites (a patch), below 1 blends (Chen et al.)."""

    pattern: np.ndarray
    top: int
    left: int
    alpha: float = 1.0
    kind: str = "patch"

    def apply(self, x: torch.Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
        """A triggered copy of `x` (N, C, H, W); `x` itself is left alone."""
        if x.ndim != 4:
            raise TriggerError(f"a trigger applies to batches (N, C, H, W), got shape {tuple(x.shape)}")
        c, h, w = self.pattern.shape
        if c not in (1, x.shape[1]) or self.top + h > x.shape[2] or self.left + w > x.shape[3]:
            raise TriggerError(f"a {c}x{h}x{w} trigger at ({self.top}, {self.left}) does not fit images "
                               f"{tuple(x.shape[1:])} (C, H, W)")
        lo, hi = value_range
        out = x.clone()
        pattern = lo + (hi - lo) * torch.as_tensor(self.pattern, dtype=x.dtype, device=x.device)
        region = out[:, :, self.top:self.top + h, self.left:self.left + w]
        out[:, :, self.top:self.top + h, self.left:self.left + w] = (1 - self.alpha) * region + self.alpha * pattern
        return out

    def mask(self, shape: tuple[int, int, int]) -> np.ndarray:
        """(H, W) float mask of the pixels the trigger touches (weighted by alpha)."""
        m = np.zeros(shape[1:], dtype=np.float32)
        m[self.top:self.top + self.pattern.shape[1], self.left:self.left + self.pattern.shape[2]] = self.alpha
        return m

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "top": self.top, "left": self.left, "alpha": self.alpha,
                "shape": list(self.pattern.shape)}


def patch_trigger(shape: tuple[int, int, int], size: int, position: str = "bottom-right", value: float = 1.0,
                  pattern: str = "solid", pattern_file: str = "", seed: int = 0, margin: int = 1) -> Trigger:
    """A BadNets patch for images of `shape` (C, H, W): solid `value`, a checkerboard of `value`
    and 1 − value, seeded noise, or an image file resized to size×size."""
    c, h, w = shape
    if size < 1 or size + margin > min(h, w):
        raise TriggerError(f"a {size}x{size} trigger (plus a {margin}-pixel margin) does not fit {h}x{w} images")
    if not 0.0 <= value <= 1.0:
        raise TriggerError(f"the trigger value is a fraction of the value range in [0, 1], got {value}")
    array = _pattern(c, size, size, value, pattern, pattern_file, seed)
    top, left = _place(position, h, w, size, margin)
    return Trigger(array, top, left, 1.0, "patch")


def blend_trigger(shape: tuple[int, int, int], alpha: float, pattern: str = "noise", pattern_file: str = "",
                  value: float = 1.0, seed: int = 0) -> Trigger:
    """A full-size pattern (seeded uniform noise by default, or an image) blended at `alpha`."""
    if not 0.0 < alpha < 1.0:
        raise TriggerError(f"the blend alpha must lie in (0, 1), got {alpha}")
    c, h, w = shape
    return Trigger(_pattern(c, h, w, value, pattern, pattern_file, seed), 0, 0, alpha, "blend")


def _place(position: str, h: int, w: int, size: int, margin: int) -> tuple[int, int]:
    if position not in POSITIONS:
        raise TriggerError(f"unknown trigger position {position!r}; choose one of {', '.join(POSITIONS)}")
    top = margin if position.startswith("top") else h - size - margin
    left = margin if position.endswith("left") else w - size - margin
    if position == "center":
        top, left = (h - size) // 2, (w - size) // 2
    return top, left


def _pattern(c: int, h: int, w: int, value: float, pattern: str, pattern_file: str, seed: int) -> np.ndarray:
    if pattern_file:
        return _pattern_from_file(pattern_file, c, h, w)
    if pattern == "solid":
        return np.full((1, h, w), value, dtype=np.float32)
    if pattern == "checker":
        board = (np.add.outer(np.arange(h), np.arange(w)) % 2 == 0)
        return np.where(board, value, 1.0 - value).astype(np.float32)[None]
    if pattern == "noise":
        return np.random.default_rng(seed).random((c, h, w), dtype=np.float32)
    raise TriggerError(f"unknown trigger pattern {pattern!r}; choose one of {', '.join(PATTERNS)} or a pattern file")


def _pattern_from_file(path: str, c: int, h: int, w: int) -> np.ndarray:
    from advinspect.core.data.images import fit_to_spec, read_image
    from advinspect.core.models.spec import ModelSpec

    if not Path(path).is_file():
        raise TriggerError(f"trigger pattern file not found: {path}")
    array = read_image(path, max_side=max(h, w))
    return fit_to_spec(array, ModelSpec(input_shape=(c, h, w), resize="resize")).astype(np.float32)
