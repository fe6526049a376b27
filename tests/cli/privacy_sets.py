"""Class folders of demo digits for the privacy command tests: the demo model's own training
images (members) and its test images (non-members)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def digit_folders(root: Path, split: str, per_class: int, *, skip: int = 0) -> Path:
    """`per_class` PNGs of each digit from the demo's 'train' or 'test' split, after `skip` of each."""
    from PIL import Image

    from advinspect.core.data.digits import digits_images

    x_tr, y_tr, x_te, y_te = digits_images(0)
    x, y = (x_tr, y_tr) if split == "train" else (x_te, y_te)
    for label in range(10):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(y == label)[skip:skip + per_class]:
            Image.fromarray(x[i]).save(folder / f"{split}{i:04d}.png")
    return root
