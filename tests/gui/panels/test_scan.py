"""Scan dock: Neural Cleanse on the loaded demo model with a few steps; the status line is the
Result's summary_text (what `advinspect scan` prints), the anomaly bars and triggers are drawn."""

from __future__ import annotations

import numpy as np

from advinspect.gui.main_window import MainWindow

JOB_TIMEOUT_MS = 120_000


def test_scan_the_loaded_model(qtbot, window: MainWindow) -> None:
    panel = window.scan_panel
    assert panel.form.field_names()[0] == "method"
    panel.form.set_values({"steps": 3, "max_images": 8})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    result = blocker.args[0]
    assert result.n_images == 8 and len(result.l1) == 10 and np.isfinite(result.anomaly).all()
    assert panel.status.text().split("\n") == result.summary_text()
    assert panel.triggers.image is not None and panel.triggers.image.shape[0] == 32 + 2
    assert any(type(i).__name__ == "BarGraphItem" for i in panel.anomaly.getPlotItem().items)


def test_strip_on_the_loaded_model(qtbot, window: MainWindow) -> None:
    panel = window.scan_panel
    panel.form.set_values({"method": "strip", "max_images": 20, "overlays": 4})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    result = blocker.args[0]
    assert result.entropy_threshold is not None and len(result.clean_entropy) == 20
    assert panel.status.text().startswith("STRIP: entropy threshold")


def test_tools_menu_scans_the_loaded_model(qtbot, window: MainWindow) -> None:
    """Tools → Scan Model for a Backdoor…: the Scan dock comes to the front (it is a tab behind the
    Attack dock) and Neural Cleanse runs on the loaded model; the result is a kept run."""
    panel = window.scan_panel
    tools = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Tools")
    assert window.scan_action in tools.actions()
    assert not panel.on_screen()
    panel.form.set_values({"steps": 2, "max_images": 4})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        window.scan_action.trigger()
    result = blocker.args[0]
    assert panel.on_screen()
    assert result.config.method == "neural-cleanse" and result.n_images == 4 and len(result.l1) == 10
    assert window.session.runs.get(panel.last_run.id).verb == "scan"


def test_tools_scan_uses_strip_on_a_model_without_gradients(qtbot, window: MainWindow) -> None:
    """An ONNX graph that onnx2torch could not convert has outputs only: STRIP, not Neural Cleanse."""
    from advinspect.core.data.demo import DEMO_MODEL

    s = window.session
    with qtbot.waitSignal(s.model_opened, timeout=JOB_TIMEOUT_MS):
        s.open_model(str(DEMO_MODEL.with_suffix(".onnx")))
    s.clf.torch_module = None  # what an unconvertible graph gives
    assert not s.clf.has_gradients
    panel = window.scan_panel
    panel.form.set_values({"max_images": 10, "overlays": 2})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        window.scan_action.trigger()
    result = blocker.args[0]
    assert result.config.method == "strip" and len(result.clean_entropy) == 10


def test_tools_scan_without_a_model_says_so(make_window, dialog_log) -> None:
    window = make_window(start=False)
    window.scan_action.trigger()
    assert dialog_log.errors[-1][:2] == ("Cannot scan", "open a model and images first")
    assert not window.scan_panel.running
