"""Saliency dock: maps for the selected image, clean and adversarial side by side, computed on
the worker; a model without gradients gets occlusion only, and the dock says why."""

from __future__ import annotations

import numpy as np

from advinspect.core.data.demo import DEMO_ONNX
from advinspect.gui.main_window import MainWindow
from advinspect.gui.panels.saliency import blend
from tests.gui.conftest import LOAD_TIMEOUT_MS, run_attack

MAP_TIMEOUT_MS = 30_000


def _wait_maps(qtbot, panel, action=None):
    with qtbot.waitSignal(panel.maps_ready, timeout=MAP_TIMEOUT_MS):
        if action is not None:
            action()
    return panel.maps


def test_saliency_clean_then_adversarial(qtbot, window: MainWindow) -> None:
    panel = window.saliency_panel
    s = window.session
    assert panel.maps is None  # hidden behind the Model tab: nothing computed
    maps = _wait_maps(qtbot, panel, panel.raise_)  # shown: maps for the current image
    assert maps.adv_maps is None and maps.maps.shape == (1, 32, 32)
    assert 0.0 <= maps.maps.min() and abs(maps.maps.max() - 1.0) < 1e-5
    assert maps.targets.tolist() == [s.prediction(0)]
    assert panel.items[0].image is not None and panel.items[1].image is None
    assert "not attacked" in panel.titles[1].text
    # after FGSM the adversarial gets its own map, explaining its own (flipped) prediction
    with qtbot.waitSignal(panel.maps_ready, timeout=MAP_TIMEOUT_MS):
        run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, [0])
    maps = panel.maps
    result = s.results[0]
    assert maps.adv_maps is not None and maps.adv_maps.shape == (1, 32, 32)
    assert [int(maps.targets[0]), int(maps.adv_targets[0])] == [s.prediction(0), int(result.adv_probs.argmax())]
    assert maps.targets[0] != maps.adv_targets[0]  # FGSM at 0.2 flips this digit
    assert not np.allclose(maps.maps, maps.adv_maps)
    shown = panel.items[1].image
    expected = blend(result.x_adv, maps.adv_maps[0], (0.0, 1.0), panel.opacity.value() / 100,
                     panel.cmap_box.currentText())
    assert np.array_equal(shown, expected)
    # Grad-CAM on a chosen layer, explaining a chosen class for both images
    layers = [panel.layer_box.itemData(i) for i in range(1, panel.layer_box.count())]
    assert layers, "the demo CNN has convolution layers"
    panel.layer_box.setCurrentIndex(1)
    panel.class_box.setCurrentIndex(panel.class_box.findData(3))
    maps = _wait_maps(qtbot, panel, lambda: panel.method_box.setCurrentIndex(panel.method_box.findData("gradcam")))
    assert maps.method == "gradcam" and maps.layer == layers[0]
    assert maps.targets.tolist() == [3] and maps.adv_targets.tolist() == [3]
    # opacity and colormap only redraw
    before = panel.items[0].image.copy()
    panel.cmap_box.setCurrentText("gray")
    assert not np.array_equal(before, panel.items[0].image)


def test_gradient_free_model_gets_occlusion_only(qtbot, window: MainWindow) -> None:
    from advinspect.core.models import load_model

    clf = load_model(DEMO_ONNX, None, device="cpu")
    clf.torch_module = None  # as if the ONNX graph could not be converted
    assert not clf.has_gradients
    s = window.session
    panel = window.saliency_panel
    panel.raise_()
    with qtbot.waitSignal(s.ready, timeout=LOAD_TIMEOUT_MS):
        s.use_classifier(clf, images=s.images)
    methods = [panel.method_box.itemData(i) for i in range(panel.method_box.count())]
    assert methods == ["occlusion"]
    assert not panel.notice.isHidden() and "no gradients" in panel.notice.text()
    maps = _wait_maps(qtbot, panel, lambda: s.set_current(5))
    assert maps.method == "occlusion" and maps.maps.shape == (1, 32, 32) and maps.maps.max() > 0
    assert window.errors == []
