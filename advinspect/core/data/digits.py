"""The demo data: scikit-learn's digits upsampled to 32x32 with a seeded stratified split.

It lives in core (not in `zoo`, which trains the demo model) because training defenses and
the demo set use it, and core never imports upwards."""

from __future__ import annotations

import numpy as np
import torch

SIZE = 32


def digits_images(seed: int = 0, test_size: float = 0.25) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): uint8 (N, 32, 32) images, stratified split under a seed.

    The 8x8 digits (0..16) are upsampled bilinearly and rounded to 8 bits, exactly as the PNGs
    store them, so training and the shipped test images see the same pixels.
    """
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    small = (digits.images / 16.0).astype(np.float32)
    big = np.stack([np.asarray(Image.fromarray(im).resize((SIZE, SIZE), Image.Resampling.BILINEAR)) for im in small])
    pixels = np.round(np.clip(big, 0, 1) * 255).astype(np.uint8)
    x_tr, x_te, y_tr, y_te = train_test_split(
        pixels, digits.target, test_size=test_size, random_state=seed, stratify=digits.target
    )
    return x_tr, y_tr, x_te, y_te


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.astype(np.float32) / 255.0).unsqueeze(1)
