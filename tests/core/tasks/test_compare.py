"""core.tasks.compare: one row per model, the same numbers a single evaluation gives."""

from __future__ import annotations

import torch

from advinspect.core.models.torch_backend import TorchClassifier
from advinspect.core.tasks import compare
from advinspect.core.tasks.base import make_config
from tests.conftest import TinyCNN


def test_rows_per_model_and_saliency(tiny_clf, tiny_spec, tiny_images):
    torch.manual_seed(5)
    other = TorchClassifier(TinyCNN().eval(), tiny_spec, torch.device("cpu"))
    config = make_config(compare.Config, {"attack": "fgsm", "eps": "0,0.2"})
    result = compare.run(compare.Inputs({"a": tiny_clf, "b": other}, tiny_images), config)
    rows = {r["model"]: r for r in result.data["models"]}
    assert set(rows) == {"a", "b"} and set(result.saliency) == {"a", "b"}
    assert rows["a"]["clean_accuracy"] == 4 / 6  # the tiny set's labels make two images wrong
    assert rows["a"]["curve"]["robust_accuracy"][0] == rows["a"]["clean_accuracy"]
    assert result.image.shape == (1, 8, 8)
    assert len(result.summary_text()) == 3 and result.summary()["models"]["a"]["clean_accuracy"] == 4 / 6
