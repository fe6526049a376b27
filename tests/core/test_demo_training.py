"""The demo model is reproducible: retraining it from the shipped script reaches the same accuracy."""

from __future__ import annotations

import json

import pytest

from advinspect.core.data.demo import DEMO_MODEL


@pytest.mark.slow
def test_retraining_the_demo_holds_its_accuracy(tmp_path):
    from advinspect.zoo.digits import export, train

    result = train(seed=0)
    assert result.test_accuracy >= 0.97
    shipped = json.loads((DEMO_MODEL.parent / "digits_cnn.training.json").read_text())
    assert abs(result.test_accuracy - shipped["test_accuracy"]) <= 0.01
    paths = export(result, tmp_path)
    from advinspect.core.data import collect_images, load_images
    from advinspect.core.models import load_model

    clf = load_model(paths["pt2"], device="cpu")
    batch = load_images(collect_images([paths["samples"]], clf.spec), clf.spec)
    accuracy = (clf.predict(batch.x) == batch.labels).float().mean().item()
    assert accuracy == pytest.approx(result.test_accuracy, abs=1e-6)
