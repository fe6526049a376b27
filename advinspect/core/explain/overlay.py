"""Heat-map overlays for saliency maps: a colormap blended over the (grayscale) image."""

from __future__ import annotations

import numpy as np

# A perceptually ordered ramp (black-red-yellow-white, like 'inferno'/'hot'), 5 anchors.
_ANCHORS = np.array([[0, 0, 4], [120, 28, 109], [237, 105, 37], [251, 180, 26], [252, 255, 164]], np.float32) / 255


def colormap(values: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) RGB in [0, 1]."""
    v = np.clip(values, 0, 1) * (len(_ANCHORS) - 1)
    low = np.floor(v).astype(int).clip(0, len(_ANCHORS) - 2)
    frac = (v - low)[..., None]
    return _ANCHORS[low] * (1 - frac) + _ANCHORS[low + 1] * frac


def overlay(image: np.ndarray, heat: np.ndarray, value_range: tuple[float, float] = (0.0, 1.0),
            opacity: float = 0.5) -> np.ndarray:
    """(C, H, W) image and (H, W) map -> (3, H, W) RGB in [0, 1], the map blended on a gray image."""
    lo, hi = value_range
    unit = np.clip((np.asarray(image, np.float32) - lo) / (hi - lo), 0, 1)
    gray = unit.mean(0) if unit.shape[0] != 1 else unit[0]
    base = np.repeat(gray[..., None], 3, axis=2)
    alpha = opacity * np.clip(heat, 0, 1)[..., None]  # strong evidence shows, weak stays see-through
    blended = base * (1 - alpha) + colormap(heat) * alpha
    return blended.transpose(2, 0, 1).astype(np.float32)
