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
