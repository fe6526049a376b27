"""Poisoning dock: poison the demo digits and train (one short epoch), the status is the
Result's summary_text, then sanitize the poisoned set with the trained model: per-layer AUCs."""

from __future__ import annotations

from advinspect.core.tasks import poison, sanitize
from advinspect.gui.main_window import MainWindow

JOB_TIMEOUT_MS = 240_000


def test_poison_then_sanitize(qtbot, window: MainWindow) -> None:
    panel = window.poison_panel
    assert panel.form.field_names()[:3] == ["attack", "ratio", "target"]
    assert not panel.sanitize_button.isEnabled()
    panel.form.set_values({"epochs": 2, "baseline": False, "ratio": "0.1", "preview": 4, "limit": 300})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    result = blocker.args[0]
    assert isinstance(result, poison.Result) and result.metrics is not None
    assert panel.status.text().split("\n") == result.summary_text()
    assert panel.preview.image is not None and panel.sanitize_button.isEnabled()
    assert panel.curves.getPlotItem().listDataItems()
    panel.sanitize_form.set_values({"method": "outlier", "expected_ratio": "0.1", "layer": "features.2", "all_layers": False})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.sanitize_button.click()
    cleaned = blocker.args[0]
    assert isinstance(cleaned, sanitize.Result) and cleaned.auc is not None
    assert list(cleaned.layer_auc) == ["features.2"] and panel.roc.getPlotItem().listDataItems()
    assert panel.status.text().split("\n") == cleaned.summary_text()
