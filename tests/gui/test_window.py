"""The main window on the demo: open, select, attack, inspect, confidence, other models, layout."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from advinspect.core.data.demo import DEMO_ONNX
from advinspect.gui.main_window import MainWindow
from advinspect.gui.panels.inspector import to_uint8
from advinspect.gui.widgets.imaging import norms
from tests.gui.conftest import LOAD_TIMEOUT_MS, run_attack


def test_window_opens_on_the_demo(window: MainWindow) -> None:
    s = window.session
    assert s.count == 450 and s.images.has_labels
    assert s.current == 0 and s.selection == [0]
    assert s.probs.shape == (450, 10)
    assert np.allclose(s.probs.sum(1), 1.0, atol=1e-4)
    assert window.images_panel.model.rowCount() == 450
    assert "digits_cnn.pt2" in window.windowTitle()
    assert "cpu" in window.device_label.text()
    names = {window.attack_panel.attack_box.itemData(i) for i in range(window.attack_panel.attack_box.count())}
    assert {"fgsm", "pgd"} <= names
    assert window.inspector.items[0].image is not None
    assert window.inspector.items[1].image is None  # nothing attacked yet
    assert s.images.names[0] in window.inspector.caption.text()
    assert window.model_panel.info_labels["parameters"].text().replace(",", "").isdigit()
    assert window.model_panel.shape.text() == "1, 32, 32"
    assert not window.busy_bar.isVisible()


def test_every_panel_is_a_named_dock(window: MainWindow) -> None:
    names = [panel.objectName() for panel in window.panels]
    assert len(set(names)) == len(names) and all(n.endswith("Dock") for n in names)
    assert window.run_action.shortcut() == QKeySequence("Ctrl+R")
    assert window.cancel_action.shortcut() == QKeySequence(Qt.Key.Key_Escape)


def test_clicking_a_thumbnail_selects_the_image(qtbot, window: MainWindow) -> None:
    view = window.images_panel.view
    index = window.images_panel.model.index(7)
    view.scrollTo(index)
    with qtbot.waitSignal(window.session.current_changed, timeout=5000) as blocker:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center())
    assert blocker.args == [7]
    s = window.session
    assert s.images.names[7] in window.inspector.caption.text()
    shown = window.inspector.items[0].image
    assert np.array_equal(shown, to_uint8(s.images.x[7][0]))
    top = s.label_name(s.prediction(7))
    assert f"predicted {top}" in window.confidence_panel.headline.text()


def test_fgsm_flips_the_first_image(qtbot, window: MainWindow) -> None:
    outcome = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, [0])
    s = window.session
    assert outcome is not None and list(outcome.images.index) == [0]
    result = s.results[0]
    x = s.images.x[0]
    # the Inspector shows the adversarial, its perturbation and its norms
    assert np.array_equal(window.inspector.items[1].image, to_uint8(result.x_adv[0]))
    assert abs(np.abs(result.x_adv - x).max() - 0.2) < 1e-4
    assert window.inspector.metrics == pytest.approx(norms(x, result.x_adv, (0.0, 1.0)))
    assert f"Linf {np.abs(result.x_adv - x).max():.4f}" in window.inspector.metrics_label.text()
    # the label flip: re-predicted by the engine, highlighted in the Confidence dock
    assert result.status == "flipped" and outcome.statuses == ["flipped"]
    assert int(result.adv_probs.argmax()) != s.prediction(0)
    assert window.confidence_panel.flipped is True
    assert "FLIPPED" in window.confidence_panel.headline.text()
    assert window.confidence_panel.adv_bars is not None
    assert "flipped→" in window.images_panel.model.caption(0)
    assert any(outcome.summary_text()[0] in line for line in window.log_panel.lines)


def test_pgd_on_a_batch_and_filters(qtbot, window: MainWindow) -> None:
    points = []
    window.session.trace_point.connect(lambda *a: points.append(a))
    outcome = run_attack(qtbot, window, "pgd", {"eps": "0.3", "steps": 10, "early_stop": False},
                         [0, 1, 2, 3])
    s = window.session
    assert sorted(outcome.images.index.tolist()) == [0, 1, 2, 3]
    assert set(s.results) == {0, 1, 2, 3}
    for i, r in s.results.items():
        assert np.abs(r.x_adv - s.images.x[i]).max() <= 0.3 + 1e-5
    trace = outcome.attack.trace
    assert [t["step"] for t in trace] == list(range(1, 11))
    assert window.attack_panel.trace_x == [float(t["step"]) for t in trace]
    assert window.attack_panel.progress.value() == 1000
    flipped = [i for i, r in s.results.items() if r.status == "flipped"]
    assert flipped == [i for i, st in zip(outcome.images.index, outcome.statuses, strict=True) if st == "flipped"]
    window.images_panel.set_filter("flipped")
    assert window.images_panel.visible_indices() == flipped
    window.images_panel.set_filter("held")
    assert window.images_panel.visible_indices() == [i for i in range(4) if s.results[i].status == "held"]
    window.images_panel.set_filter("all")
    assert window.images_panel.model.rowCount() == 450


def test_cancel_a_long_run_stops_quickly(qtbot, window: MainWindow) -> None:
    s = window.session
    window.attack_panel.select_attack("pgd")
    window.attack_panel.form.set_values({"eps": "0.3", "steps": 100000, "early_stop": False})
    window.images_panel.select([3])
    with qtbot.waitSignal(s.preview_changed, timeout=20_000):
        window.run_action.trigger()
    # the adversarial view follows the previews while the attack runs (redraws are coalesced)
    qtbot.waitUntil(lambda: "running" in window.inspector.titles[1].text, timeout=5000)
    assert 3 in s.live and window.inspector.items[1].image is not None
    assert window.attack_panel.cancel_button.isEnabled()
    import time

    started = time.monotonic()
    with qtbot.waitSignal(s.attack_finished, timeout=10_000) as blocker:
        window.cancel_action.trigger()
    latency = time.monotonic() - started
    result = blocker.args[0].attack
    assert result.cancelled
    assert len(result.trace) < 100000
    assert latency < 3.0
    assert "cancelled" in window.attack_panel.progress.format()
    assert not s.busy and window.attack_panel.run_button.isEnabled()


def test_open_a_second_model_onnx(qtbot, window: MainWindow) -> None:
    run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, [0])
    before = window.session.clf
    with qtbot.waitSignal(window.session.ready, timeout=LOAD_TIMEOUT_MS):
        window.session.open_model(str(DEMO_ONNX))
    s = window.session
    assert s.clf is not before and s.info["format"] == "onnx"
    assert s.count == 450 and s.results == {}  # results belonged to the other model
    assert "onnx" in window.model_label.text()
    assert window.model_panel.info_labels["format"].text() == "onnx"
    assert str(DEMO_ONNX) in window.settings.value("recent/models")
    outcome = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, [1])
    assert outcome is not None and 1 in s.results


@pytest.mark.slow  # seconds of training, a full report or 20 GUI round trips: `make test` runs it
def test_layout_theme_and_params_are_restored(qtbot, make_window) -> None:
    first = make_window()
    first.log_panel.hide()
    first.tabifyDockWidget(first.attack_panel, first.confidence_panel)
    first.set_theme("dark")
    first.attack_panel.select_attack("pgd")
    first.attack_panel.form.set_values({"steps": 7, "eps": "4/255"})
    first.close()
    second = make_window()
    assert second.log_panel.isHidden()
    assert second.confidence_panel in second.tabifiedDockWidgets(second.attack_panel)
    assert second.theme == "dark" and second.theme_actions["dark"].isChecked()
    assert second.attack_panel.attack_name() == "pgd"
    values = second.attack_panel.form.values()
    assert values["steps"] == 7 and values["eps"] == "4/255"
    second.reset_layout()
    assert not second.log_panel.isHidden()
    assert second.confidence_panel not in second.tabifiedDockWidgets(second.attack_panel)
