"""Inputs for the verb tests: the tiny model with a small set, some of it misclassified."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.tasks.base import Images


@pytest.fixture
def tiny_images(tiny_clf, tiny_batch) -> Images:
    """Six images labelled with the tiny model's predictions, except the first two (wrong on purpose)."""
    pred = tiny_clf.predict(tiny_batch).numpy()
    labels = pred.copy()
    labels[:2] = (pred[:2] + 1) % 3
    return Images(tiny_batch.numpy(), labels, [f"img{i}.png" for i in range(len(labels))])


class CancelAfter:
    """A CancelToken stand-in that turns cancelled after `n` checks (a user pressing Esc mid-run)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.checks = 0

    @property
    def cancelled(self) -> bool:
        self.checks += 1
        return self.checks > self.n

    def __bool__(self) -> bool:
        return self.cancelled


def misclassified_mask(images: Images, clf) -> np.ndarray:
    return clf.predict(torch.as_tensor(images.x)).numpy() != images.labels
