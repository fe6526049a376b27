"""core.tasks.saliency: maps for images and their adversarials, targets recorded."""

from __future__ import annotations

import numpy as np

from advinspect.core.tasks import saliency


def test_maps_for_clean_and_adversarial(tiny_clf, tiny_images):
    x_adv = np.clip(tiny_images.x + 0.1, 0, 1).astype(np.float32)
    result = saliency.run(saliency.Inputs(tiny_clf, tiny_images, x_adv),
                          saliency.Config(method="gradient", batch_size=4))
    assert result.maps.shape == result.adv_maps.shape == (6, 8, 8)
    assert np.allclose(result.maps.max(axis=(1, 2)), 1.0)
    assert result.targets.tolist() == tiny_clf.predict(tiny_images.tensor()).tolist()
    assert not np.allclose(result.maps, result.adv_maps)


def test_a_fixed_target_class(tiny_clf, tiny_images):
    result = saliency.run(saliency.Inputs(tiny_clf, tiny_images), saliency.Config(method="gradcam", target="b"))
    assert (result.targets == 1).all() and result.adv_maps is None and result.layer is None
