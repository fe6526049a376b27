"""Certify dock: randomized smoothing on the selection; the form is certify.Config and the status
line is certify.Result.summary_text() (the median radius, as `advinspect certify` prints)."""

from __future__ import annotations

import pytest

from advinspect.core.tasks import certify
from advinspect.gui.main_window import MainWindow

JOB_TIMEOUT_MS = 60_000


def test_certify_selection(qtbot, window: MainWindow) -> None:
    s = window.session
    panel = window.certify_panel
    assert panel.form.field_names() == ["sigma", "n0", "n", "alpha", "batch_size", "seed"]
    window.images_panel.select([0, 1, 2])
    panel.form.set_values({"n0": 20, "n": 200, "sigma": "0.25"})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    result = blocker.args[0]
    c = result.certification
    assert len(c.radii) == 3 and c.n == 200 and c.sigma == pytest.approx(0.25)
    assert any(ok and r > 0 for r, ok in zip(c.radii, c.correct, strict=True))
    config = certify.Config(n0=20, n=200)
    expected = certify.run(certify.Inputs(s.clf, s.images.subset([0, 1, 2])), config)
    assert expected.certification.radii == pytest.approx(c.radii)
    assert panel.status.text() == "\n".join(expected.summary_text())
    assert "median radius" in panel.status.text()
    assert panel.plot.getPlotItem().listDataItems()


def test_cancel_shows_the_partial_result_marked_cancelled(qtbot, window: MainWindow) -> None:
    panel = window.certify_panel
    window.images_panel.select(list(range(40)))
    panel.form.set_values({"n0": 50, "n": 20000})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
        qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=JOB_TIMEOUT_MS)
        panel.cancel_button.click()
    result = blocker.args[0]
    assert result.cancelled and len(result.certification.radii) < 40
    assert panel.progress.format() == "cancelled"
    assert panel.status.text().endswith("cancelled: the certificates cover the images finished so far")
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()
