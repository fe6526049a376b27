"""Detect dock: the feature-squeezing detector scores only the adversarials that fooled the
model (status "flipped"), as `advinspect detect` does: an image wrong before the attack is no
adversarial to detect. The dock's status line is the Result's summary_text."""

from __future__ import annotations

from advinspect.core.tasks import detect
from advinspect.gui.main_window import MainWindow
from tests.gui.conftest import run_attack

JOB_TIMEOUT_MS = 60_000


def test_detector_scores_the_adversarials_that_fooled_the_model(qtbot, window: MainWindow) -> None:
    s = window.session
    panel = window.detect_panel
    indices = [*range(8), 90, 100]  # 90 and 100: wrong before any attack
    outcome = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, indices)
    flipped = outcome.statuses.count("flipped")
    assert outcome.statuses.count("misclassified") == 2 and 0 < flipped < len(indices)
    assert panel.reuse.isEnabled() and "fgsm (10 image(s))" in panel.reuse.text()
    panel.form.set_values({"fpr": "0.1"})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    result = blocker.args[0]
    assert result.report.n_adversarial == flipped and result.report.n_clean == len(indices)
    expected = detect.run(detect.Inputs(s.clf, outcome.images, attacked=outcome), detect.Config(fpr=0.1))
    assert result.summary_text() == expected.summary_text()
    assert panel.status.text() == "\n".join(expected.summary_text())
    assert panel.roc.getPlotItem().listDataItems()
    assert window.errors == []


def test_without_an_attack_it_attacks_the_selection(qtbot, window: MainWindow) -> None:
    panel = window.detect_panel
    assert not panel.reuse.isEnabled()
    window.images_panel.select(list(range(6)))
    panel.form.set_values({"attack": "fgsm"})
    panel.params.setText("eps=0.2")
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    result = blocker.args[0]
    assert result.attack == "fgsm" and result.params["eps"] == 0.2 and result.report.n_clean == 6
    assert panel.status.text().startswith("feature squeezing: threshold")
