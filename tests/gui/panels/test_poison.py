"""Poisoning dock: poison the demo digits and train (one short epoch), the status is the
Result's summary_text, then sanitize the poisoned set with the trained model: per-layer AUCs."""

from __future__ import annotations

import math

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


def test_poison_the_sessions_image_folder(qtbot, window: MainWindow) -> None:
    """The session's labelled images (the demo's 450 test digits, opened as class folders) are
    the training set: a stratified quarter is held out for the metrics, the session's model is
    the architecture trained."""
    from advinspect.gui.panels.poison import SESSION

    panel = window.poison_panel
    panel.data.setCurrentIndex(SESSION)
    assert not panel.folder.isEnabled() and panel.folder.text() == ", ".join(window.session.sources)
    panel.form.set_values({"epochs": 1, "baseline": False, "ratio": "0.1", "preview": 2})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    result = blocker.args[0]
    assert isinstance(result, poison.Result) and not result.cancelled
    held = math.ceil(window.session.count / 4)  # 113 of 450, measured on, not trained on
    assert len(result.poisoned.labels) == window.session.count - held
    assert result.poisoned.n_poisoned == round(0.1 * (window.session.count - held))
    assert result.metrics.n_clean == held
    assert panel.sanitize_button.isEnabled()


def test_poison_a_chosen_folder_and_refuse_a_missing_one(qtbot, window: MainWindow, dialog_log, tmp_path) -> None:
    from advinspect.gui.panels.poison import FOLDER
    from tests.cli.conftest import small_set_at

    panel = window.poison_panel
    panel.data.setCurrentIndex(FOLDER)
    panel.folder.setText("")
    panel.run_button.click()
    assert dialog_log.errors[-1][:2] == ("Cannot poison", "choose the training folder (one sub-folder per class)")
    assert not panel.running
    folder = small_set_at(tmp_path / "set", 4)  # 4 images of each digit
    panel.folder.setText(str(folder))
    panel.form.set_values({"train": False, "ratio": "0.2", "preview": 2})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    result = blocker.args[0]
    assert len(result.poisoned.labels) == 30 and result.poisoned.n_poisoned == 6 and result.metrics is None
    assert panel.preview.image is not None
