"""Defenses dock: live preview of the transformed image, applying a defense to the session's
model (and what it does to an attack), detector ROC, certification, comparison, training."""

from __future__ import annotations

import numpy as np
import pytest

from advinspect.core.defenses.transforms import DefendedClassifier
from advinspect.gui import tasks
from advinspect.gui.main_window import MainWindow
from tests.gui.conftest import LOAD_TIMEOUT_MS, run_attack

JOB_TIMEOUT_MS = 60_000


def _wait(qtbot, signal, action):
    with qtbot.waitSignal(signal, timeout=JOB_TIMEOUT_MS) as blocker:
        action()
    return blocker


def test_preview_follows_the_controls_and_the_image(qtbot, window: MainWindow) -> None:
    panel = window.defenses_panel
    s = window.session
    panel.raise_()
    _wait(qtbot, panel.preview_ready, lambda: panel.set_defense("bits:1"))
    assert panel.defense_text() == "bits:1"
    x = s.images.x[0]
    assert np.allclose(panel.preview.transformed, np.round(x))  # one bit: black or white
    assert not np.allclose(panel.preview.transformed, x)
    assert np.allclose(panel.preview.clean_probs, s.probs[0], atol=1e-5)
    assert panel.preview_items[1].image is not None
    assert "image 0" in panel.preview_label.text()
    _wait(qtbot, panel.preview_ready, lambda: s.set_current(9))
    assert np.allclose(panel.preview.transformed, np.round(s.images.x[9]))
    assert "image 9" in panel.preview_label.text()


def test_apply_defense_changes_model_and_attack(qtbot, window: MainWindow) -> None:
    s = window.session
    panel = window.defenses_panel
    base = s.clf
    images = list(range(8))
    undefended = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, images).result
    assert undefended.success.sum() > 0
    # detector ROC on the adversarials of that attack
    _wait(qtbot, panel.detector_ready, panel.detect_button.click)
    report = panel.detection
    assert report.n_adversarial == len(images) and 0.0 <= report.auc <= 1.0
    assert f"AUC {report.auc:.3f}" in panel.detector_label.text()
    # apply bit-depth squeezing naively: the attacker's gradient vanishes, FGSM flips nothing
    panel.set_defense("bits:4")
    panel.adaptive.setChecked(False)
    _wait(qtbot, s.defense_changed, panel.apply_button.click)
    assert isinstance(s.clf, DefendedClassifier) and s.clf.inner is base and s.base_clf is base
    assert "bit depth 4" in panel.active_label.text() and panel.remove_button.isEnabled()
    assert s.results == {}  # results belonged to the undefended model
    naive = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, images).result
    assert naive.success.sum() < undefended.success.sum()
    # adaptive (BPDA): the identity backward pass gives the attack its gradient back
    panel.adaptive.setChecked(True)
    _wait(qtbot, s.defense_changed, panel.apply_button.click)
    assert s.clf.adaptive and s.clf.inner is base  # re-applied on the base, never stacked
    adaptive = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, images).result
    assert adaptive.success.sum() > naive.success.sum()
    # compare current (defended) and undefended on one plot
    window.images_panel.select(list(range(20)))
    panel.compare_scope.setCurrentText("selection")
    panel.compare_attack.setCurrentIndex(panel.compare_attack.findData("fgsm"))
    panel.compare_eps.setText("0,0.2")
    _wait(qtbot, panel.compare_ready, panel.compare_button.click)
    rows = panel.comparison["models"]
    assert [r["model"].split(" (")[0] for r in rows] == ["current model", "undefended model"]
    assert panel.compare_table.rowCount() == 2
    assert rows[1]["robust_accuracy"] < rows[1]["clean_accuracy"]
    assert len(panel.compare_plot.getPlotItem().listDataItems()) == 2
    # remove: back to the very same base classifier
    _wait(qtbot, s.defense_changed, panel.remove_button.click)
    assert s.clf is base and s.base_clf is None and s.defense is None
    assert not panel.remove_button.isEnabled() and "none" in panel.active_label.text()
    assert window.errors == []


def test_certify_selection(qtbot, window: MainWindow) -> None:
    panel = window.defenses_panel
    window.images_panel.select([0, 1, 2])
    panel.n0.setValue(20)
    panel.n.setValue(200)
    panel.sigma.setValue(0.25)
    _wait(qtbot, panel.certify_ready, panel.certify_button.click)
    result = panel.certification
    assert len(result.radii) == 3 and result.n == 200 and result.sigma == pytest.approx(0.25)
    assert all(r >= 0 for r in result.radii)
    assert any(c and r > 0 for r, c in zip(result.radii, result.correct, strict=True))
    assert "certified correct" in panel.certify_label.text()
    assert panel.certify_plot.getPlotItem().listDataItems()


@pytest.mark.skipif(not tasks.training_available(), reason="core training module missing")
def test_train_a_defense_and_use_it(qtbot, window: MainWindow) -> None:
    panel = window.defenses_panel
    s = window.session
    assert hasattr(panel, "train_button")  # built once the attacks were listed
    panel.train_defense.setCurrentText("standard")
    panel.train_epochs.setValue(2)
    panel.train_limit.setValue(300)
    previews = []
    s.runner.job_progress.connect(lambda job, e: previews.append(e.preview) if job.name == "train defense" else None)
    blocker = _wait(qtbot, panel.training_finished, panel.train_button.click)
    result = blocker.args[0]
    assert result is not None and not result.cancelled
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert any(isinstance(p, dict) and p.get("history") for p in previews)  # live per-epoch curves
    x_data = panel.train_curves["val_clean_accuracy"].xData
    assert list(x_data) == [1.0, 2.0]
    with qtbot.waitSignal(s.ready, timeout=LOAD_TIMEOUT_MS):
        panel.train_open.click()
    assert s.clf is panel.training[1] and s.count == 450
