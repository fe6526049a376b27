"""The oracle libraries (dev dependencies) wrapped once for the comparison tests."""

from __future__ import annotations

import torch


def art_classifier(clf):
    """ART's PyTorchClassifier around the Classifier's pixel-space module, range [lo, hi]."""
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(clf.as_module(), loss=torch.nn.CrossEntropyLoss(), input_shape=clf.spec.input_shape,
                             nb_classes=clf.num_classes, clip_values=clf.spec.value_range)
