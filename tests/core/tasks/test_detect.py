"""core.tasks.detect: only adversarials that fooled the model are scored."""

from __future__ import annotations

import pytest

from advinspect.core.errors import AdvInspectError
from advinspect.core.status import FLIPPED
from advinspect.core.tasks import attack, detect
from advinspect.core.tasks.base import make_config


def test_scores_only_the_flipped_adversarials(tiny_clf, tiny_images):
    attacked = attack.run(attack.Inputs(tiny_clf, tiny_images),
                          make_config(attack.Config, {"attack": "pgd", "params": {"eps": "1", "steps": "20"}}))
    flipped = sum(s == FLIPPED for s in attacked.statuses)
    assert 0 < flipped < int(attacked.attack.success.sum())  # success also counts the misclassified ones
    result = detect.run(detect.Inputs(tiny_clf, tiny_images, attacked), detect.Config())
    assert result.report.n_adversarial == flipped and result.report.n_clean == 6
    assert f"of {flipped} pgd adversarials that fooled the model" in result.summary_text()[0]


def test_no_fooled_image_is_one_clear_error(tiny_clf, tiny_images):
    with pytest.raises(AdvInspectError, match="nothing to detect"):
        detect.run(detect.Inputs(tiny_clf, tiny_images), make_config(detect.Config, {"params": {"eps": "0"}}))
