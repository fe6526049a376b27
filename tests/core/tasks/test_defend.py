"""core.tasks.defend: the defended model predicts through its transforms."""

from __future__ import annotations

import numpy as np
import pytest

from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import defend


def test_defended_predictions_and_preview(tiny_clf, tiny_images):
    result = defend.run(defend.Inputs(tiny_clf, tiny_images), defend.Config(defense="bits:1"))
    binarized = (tiny_images.x > 0.5).astype(np.float32)
    expected = tiny_clf.probabilities(__import__("torch").from_numpy(binarized)).numpy()
    np.testing.assert_allclose(result.probs, expected, rtol=1e-5, atol=1e-6)
    assert "bit" in result.summary()["defense"].lower() and "accuracy" in result.summary()
    transformed, probs, clean = defend.preview(tiny_clf, tiny_images.x[0], defend.Config(defense="bits:1"))
    np.testing.assert_array_equal(transformed, binarized[0])
    np.testing.assert_allclose(probs, expected[0], rtol=1e-5, atol=1e-6)


def test_unknown_transform_is_refused(tiny_clf):
    with pytest.raises(AdvInspectError, match="unknown defense"):
        defend.run(defend.Inputs(tiny_clf), defend.Config(defense="blur:3"))
