"""The oracle libraries (dev dependencies) wrapped once for the comparison tests."""

from __future__ import annotations

import torch


def art_classifier(clf):
    """ART's PyTorchClassifier around the Classifier's pixel-space module, range [lo, hi]."""
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(clf.as_module(), loss=torch.nn.CrossEntropyLoss(), input_shape=clf.spec.input_shape,
                             nb_classes=clf.num_classes, clip_values=clf.spec.value_range)


def success_and_median_l2(clf, x, y, x_adv) -> tuple[float, float]:
    """(success rate on clean-correct samples, median L2 of the successes), re-predicted here:
    no library's own success flag is trusted."""
    import numpy as np

    x_adv = torch.as_tensor(np.asarray(x_adv, dtype=np.float32))
    correct = clf.predict(x) == y
    success = (clf.predict(x_adv) != y) & correct
    l2 = (x_adv - x).flatten(1).norm(dim=1)
    return success.sum().item() / correct.sum().item(), float(l2[success].median())
