"""Comparing models on one set."""

from __future__ import annotations

import numpy as np
import pytest

from advinspect.core.compare import check_models, saliency_alignment
from advinspect.core.defenses.transforms import DefendedClassifier, parse_defense
from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import compare
from advinspect.core.tasks.base import Images, make_config


def test_compare_demo_with_its_defended_self(demo_clf, demo_subset):
    x, y = demo_subset[0][:40], demo_subset[1][:40]
    defended = DefendedClassifier(demo_clf, parse_defense("bits:2"))  # naive: gradients masked
    config = make_config(compare.Config, {"eps": "0,0.1", "steps": 10})
    run = compare.run(compare.Inputs({"plain": demo_clf, "bits2": defended}, Images(x.numpy(), y.numpy())), config)
    result = {**run.data, "saliency": run.saliency}
    plain, bits = result["models"]
    assert plain["model"] == "plain" and plain["curve"]["eps"] == [0, 0.1]
    assert plain["robust_accuracy"] < plain["clean_accuracy"]
    assert bits["robust_accuracy"] > plain["robust_accuracy"]  # the naive figure a masked model shows
    assert set(result["saliency"]) == {"plain", "bits2"} and result["saliency"]["plain"].shape == (32, 32)
    for row in result["models"]:  # the alignment is the one of the map returned beside it
        expected = saliency_alignment(result["saliency"][row["model"]], x[0].numpy())
        assert row["saliency_alignment"] == pytest.approx(expected)


def test_compare_refuses_mismatched_inputs(demo_clf, tiny_clf, demo_subset):
    with pytest.raises(AdvInspectError, match="different inputs"):
        check_models({"a": demo_clf, "b": tiny_clf})


def test_alignment_of_a_map_equal_to_the_edges_is_one():
    image = np.zeros((1, 8, 8), np.float32)
    image[0, :, 4:] = 1
    gy, gx = np.gradient(image[0])
    assert saliency_alignment(np.hypot(gx, gy), image) == pytest.approx(1.0)
    assert saliency_alignment(np.ones((8, 8)), image) == 0.0

