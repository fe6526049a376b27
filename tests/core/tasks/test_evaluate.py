"""core.tasks.evaluate: what the plots link back to is in the result, consistent with the numbers."""

from __future__ import annotations

import numpy as np
import pytest

from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import evaluate
from advinspect.core.tasks.base import Images, make_config


def test_result_links_samples_to_bins_and_split(tiny_clf, tiny_images):
    config = make_config(evaluate.Config, {"attacks": "fgsm", "eps": "0,0.1,0.3", "bins": "5",
                                           "sanity_checks": False})
    result = evaluate.run(evaluate.Inputs(tiny_clf, tiny_images), config)
    data = result.data
    counts = np.bincount(result.calibration_bin, minlength=5)
    assert counts.tolist() == [b["count"] for b in data["calibration"]["bins"]]
    assert len(result.held_out) == data["calibration"]["split"]["held_out"]
    t = data["calibration"]["temperature"]
    logits = tiny_clf.logits(tiny_images.tensor()).double().detach()
    np.testing.assert_allclose(result.scaled_confidence, (logits / t).softmax(1).max(1).values.numpy(), rtol=1e-6)
    assert result.summary()["curves"]["fgsm"][0.0] == pytest.approx(data["clean_accuracy"])
    assert result.summary_text()[0].startswith("clean accuracy 0.6667 on 6 images")


def test_needs_labels_and_known_attacks(tiny_clf, tiny_batch, tiny_images):
    with pytest.raises(AdvInspectError, match="needs labels"):
        evaluate.run(evaluate.Inputs(tiny_clf, Images(tiny_batch.numpy(), -np.ones(6))), evaluate.Config())
    with pytest.raises(AdvInspectError, match="unknown attack"):
        evaluate.run(evaluate.Inputs(tiny_clf, tiny_images), make_config(evaluate.Config, {"attacks": "pgd,nope"}))
